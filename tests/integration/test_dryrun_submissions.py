"""`mdflow --dry-run` on a cluster profile shows where each job would go and writes its batch script;
on the shipped site profiles it works anywhere (no site variables needed) and the scripts follow the
sites' documented rules (mdflow/site_profiles/SOURCES.md)."""

import re

import pytest

from conftest import add_profile, make_project, run_mdflow

pytestmark = pytest.mark.campaign


def test_dry_run_shows_site_queue_and_writes_scripts(tmp_path):
    project = make_project(tmp_path / "project")
    add_profile(project, "mystampede", "extends: stampede\naccount: CHE23001\n")
    scripts = tmp_path / "scripts"
    result = run_mdflow(project, "--profile", "mystampede", "--configfile", "config/ci.yaml", "--dry-run",
                        "--list-jobs", "--scripts", str(scripts), env_extra={"SCRATCH": str(tmp_path / "scratch")},
                        check=True)
    out = result.stdout + result.stderr
    assert out.count("submission: short job, packed into an ensemble") == 3 + 8
    assert "submission: none (local rule, runs on this host)" in out
    assert "sets no `account`" not in out
    written = sorted(p.name for p in scripts.iterdir())
    assert written and all(name.startswith("ensemble.") for name in written)
    script = next(p for p in scripts.iterdir() if ".simulate." in p.name).read_text()
    assert "#SBATCH --account=CHE23001" in script and "#SBATCH --partition=skx" in script
    assert re.search(r"--target-jobs 'simulate:system=[\w-]+,replica=\d,segment=\d{3}'", script)
    assert str(tmp_path / "scratch" / "mdflow") in script  # $SCRATCH/mdflow expanded on the login node
    assert f"{tmp_path}/scratch/mdflow/ci/villin/rep0/seg000.dcd" in out  # the campaign's own directory there
    assert "#SBATCH --output=logs/batch/ci/ensemble." in script  # and its own batch logs
    assert not (project / ".mdflow" / "ledger.sqlite").exists()  # nothing was submitted


def dry_run_site(tmp_path, monkeypatch, name: str, *extra):
    """`mdflow --profile NAME -n --scripts DIR` as a new user runs it off-site: no $SCRATCH, no account."""
    monkeypatch.delenv("SCRATCH", raising=False)
    project = make_project(tmp_path / "project")
    scripts = tmp_path / "scripts"
    result = run_mdflow(project, "--profile", name, "-n", "--scripts", str(scripts), *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout + result.stderr
    assert f"profile '{name}' sets no `account`" in out
    texts = {p.name: p.read_text() for p in scripts.iterdir()}
    assert texts and all("ACCOUNT-NOT-SET" in text for text in texts.values())
    return out, texts


def test_stampede_packs_one_node_work_and_asks_for_no_memory(tmp_path, monkeypatch):
    out, texts = dry_run_site(tmp_path, monkeypatch, "stampede", "--system", "villin")
    assert all(name.startswith("ensemble.") for name in texts)  # whole nodes: no one-thread job per node
    for text in texts.values():
        assert "#SBATCH --nodes=1" in text and "--mem" not in text and "--cpus-per-task" not in text
        assert "#SBATCH --partition=skx" in text
    assert any("site_workdir=$SCRATCH/mdflow" in text for text in texts.values())  # left for the site to expand
    assert "$SCRATCH/mdflow/demo/villin/rep0/seg000.dcd" in out  # the demo's own directory in the site's
    assert "wildcards: system=villin" in out and "system=ala-water" not in out  # --system lists only villin's jobs
    planned = sum(int(n) for n in re.findall(r"^Ensemble plan for .*: (\d+) ensemble\(s\)", out, re.M))
    assert len(texts) == planned  # but every ensemble's batch script is written


def gpu_bindings(text: str) -> list[tuple]:
    """(cores, device) of each GPU launch line of an ensemble script."""
    return re.findall(r"--cpu-bind list:(\d+-\d+) env CUDA_VISIBLE_DEVICES=(\d) bash -c", text)


def test_polaris_packs_one_simulate_member_per_gpu_on_whole_nodes(tmp_path, monkeypatch):
    out, texts = dry_run_site(tmp_path, monkeypatch, "polaris")
    simulate = [t for n, t in texts.items() if n.startswith("ensemble.") and ".simulate." in n]
    node_order = [("0-7", "3"), ("8-15", "2"), ("16-23", "1"), ("24-31", "0")]  # GPU 3 <-> cores 0-7
    assert simulate
    for text in simulate:  # up to four members per node, each on its own GPU and 8 cores
        members = gpu_bindings(text)
        assert 1 <= len(members) <= 4 and members == node_order[:len(members)]
        assert f"#PBS -l select=1:ngpus={len(members)}:system=polaris" in text  # a partial ensemble asks for less
        assert text.count("gpus=1") >= len(members)  # each slot's inner Snakemake has --resources gpus=1
    assert any(len(gpu_bindings(text)) == 4 for text in simulate)  # and full nodes where the work fills them
    assert all("#PBS -l filesystems=home:eagle" in t and "mem=" not in t for t in texts.values())
    assert "4 GPU(s)" in out


def test_a_slurm_gpu_profile_binds_a_gpu_per_member(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCH", raising=False)
    project = make_project(tmp_path / "project")
    scripts = tmp_path / "scripts"
    add_profile(project, "mygpu", "extends: slurm-gpu\nqueue: gpu\naccount: CHE1\n")
    run_mdflow(project, "--profile", "mygpu", "-n", "--scripts", str(scripts), check=True)
    launch = "srun --nodes=1 --ntasks=1 --relative=0 --cpus-per-task=8 --gpus-per-task=1 --exact"
    texts = [p.read_text() for p in scripts.iterdir() if ".simulate." in p.name]
    assert any(text.count(launch) == 4 for text in texts)
    for text in texts:  # as many GPUs and tasks as members, 8 cores each
        members = text.count(launch)
        assert f"#SBATCH --gpus={members}" in text and f"#SBATCH --ntasks={members}" in text
        assert "#SBATCH --cpus-per-task=8" in text


def test_theta_sends_small_work_to_a_debug_queue_and_runs_it_on_the_compute_node(tmp_path, monkeypatch):
    out, texts = dry_run_site(tmp_path, monkeypatch, "theta")
    assert texts and not any("#COBALT -n 128" in t for t in texts.values())
    assert all("#COBALT -q debug-cache-quad" in t and "#COBALT -n 1" in t for t in texts.values())
    assert re.search(r"queue debug-cache-quad \(1 node\(s\) of work; default needs at least 128 nodes\)", out)
    assert all("aprun -n 1 -N 1" in t for t in texts.values())  # the script itself runs on a MOM node


def test_scripts_without_dry_run_is_refused(tmp_path):
    project = make_project(tmp_path / "project")
    result = run_mdflow(project, "--scripts", str(tmp_path / "s"))
    assert result.returncode == 2 and "--scripts DIR only goes with --dry-run" in result.stderr


def test_real_run_and_profiles_check_name_the_missing_account(tmp_path):
    project = make_project(tmp_path / "project")
    for argv in (["profiles", "check", "stampede"], ["--profile", "stampede"]):
        result = run_mdflow(project, *argv)
        errors = [line for line in result.stderr.splitlines() if line.startswith("mdflow: error")]
        assert result.returncode != 0 and len(errors) == 1, result.stderr[-2000:]
        assert "key 'account' is not set" in errors[0] and "extends stampede" in errors[0]
    assert not (project / ".mdflow" / "ledger.sqlite").exists()
