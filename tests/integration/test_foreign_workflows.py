"""Plain (non-MD) Snakemake workflows through mdflow's executor on the real Slurm (issue 18):
jobs whose readable names collide are still two batch jobs, and a `group:` runs as ONE batch job."""

import subprocess
from pathlib import Path

import pytest

from conftest import REPO, emulator_env, run_short_tasks
from mdflow.ledger import Ledger

WORKFLOWS = REPO / "tests/workflows"


def site(queue: str) -> str:
    return f"scheduler: slurm\nname: testslurm\nqueue: {queue}\nlogdir: logs/batch\n"


def test_wildcard_values_whose_names_collide_are_two_batch_jobs(slurm, tmp_path):
    # `p/q` becomes ready while `p-q`'s batch job (readable name collide.p-q too) still runs
    result = run_short_tasks(tmp_path, site(slurm), {}, snakefile=WORKFLOWS / "collide/Snakefile", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = (tmp_path / "out/p-q.txt").read_text().split(), (tmp_path / "out/p/q.txt").read_text().split()
    assert first[1:] == ["p-q"] and second[1:] == ["p/q"] and first[0] != second[0]  # each its own batch job
    entries = [e for e in Ledger(tmp_path / ".mdflow/ledger.sqlite").all() if e.rule == "collide"]
    assert len(entries) == 2 and len({e.key for e in entries}) == 2 and len({e.name for e in entries}) == 2
    assert {e.external_id for e in entries} == {first[0], second[0]}
    assert "Re-attached" not in result.stderr


ENSEMBLES = "cores_per_node: 16\nensemble:\n  short_runtime: 30\n  gather_s: 1\n"  # the group is "short"


@pytest.mark.parametrize("policy", ["", ENSEMBLES], ids=["plain", "ensemble-policy"])
def test_group_of_three_jobs_is_one_batch_job_with_layered_walltime(slurm, tmp_path, policy):
    result = run_short_tasks(tmp_path, site(slurm) + policy, {}, "--default-resources", "runtime=10", "mem_mb=100",
                             snakefile=WORKFLOWS / "group/Snakefile", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    ids = set((tmp_path / "out/c.txt").read_text().split())
    assert len(ids) == 1 and "none" not in ids  # a, b and c ran in the same Slurm job
    (entry,) = Ledger(tmp_path / ".mdflow/ledger.sqlite").all()
    assert entry.external_id in ids and entry.state == "success" and entry.key
    assert entry.outputs == ["out/a.txt", "out/b.txt", "out/c.txt"]
    assert result.stderr.count("Submitted ") == 1 and "Submitted ensemble" not in result.stderr
    script = next(Path(tmp_path / ".mdflow/jobs").glob("*.sh")).read_text()
    assert "#SBATCH --time=00:09:00" in script  # max(3, 4) + 5 min
    assert "--local-groupid" in script and "--target-jobs" in script
    limit = subprocess.run(["scontrol", "--oneliner", "show", "job", entry.external_id], capture_output=True,
                           text=True).stdout
    assert "TimeLimit=00:09:00" in limit or not limit  # Slurm may have forgotten it (MinJobAge)


def test_user_group_and_mdflow_ensemble_in_one_run(slurm, tmp_path):
    result = run_short_tasks(tmp_path, site(slurm) + ENSEMBLES, {"solos": 4}, "--default-resources", "mem_mb=100",
                             snakefile=WORKFLOWS / "group/Snakefile", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    group_ids = set((tmp_path / "out/c.txt").read_text().split())
    solo_ids = {(tmp_path / f"out/solo{i}.txt").read_text().strip() for i in range(4)}
    assert len(group_ids) == 1 and len(solo_ids) == 1 and "none" not in group_ids | solo_ids
    assert group_ids != solo_ids  # the group its own batch job, the four short jobs packed into one ensemble
    assert result.stderr.count("Submitted ensemble") == 1
    entries = Ledger(tmp_path / ".mdflow/ledger.sqlite").all()
    assert {e.external_id for e in entries if e.rule == "solo"} == solo_ids
    assert all(e.state == "success" for e in entries)


DRY_RUN = ("import sys; from pathlib import Path; import mdflow.cli as c, snakemake.cli as s; "
           "from mdflow.dryrun_summary import Summary; from mdflow.executors import dryrun; "
           "from mdflow.executors.site import current_site; c.register_executor(); summary = Summary(); "
           "problems = dryrun.install(current_site(), 'scripts', Path.cwd(), summary, True, None); "
           "sys.argv = ['snakemake'] + sys.argv[1:]; s.main()")


@pytest.mark.parametrize("policy", ["", ENSEMBLES], ids=["plain", "ensemble-policy"])
def test_dry_run_shows_a_group_as_one_submission(tmp_path, policy):
    import os
    import sys

    (tmp_path / "site").mkdir()
    (tmp_path / "site/mdflow.yaml").write_text(site("debug") + policy)
    result = subprocess.run([sys.executable, "-c", DRY_RUN, "-n", "--snakefile", str(WORKFLOWS / "group/Snakefile"),
                             "--executor", "mdflow", "--jobs", "5", "--default-resources", "runtime=10", "mem_mb=100"],
                            cwd=tmp_path, env={**os.environ, "MDFLOW_SITE_PROFILE": str(tmp_path / "site")},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "submission: site testslurm (slurm), queue debug, walltime 9 min" in result.stderr + result.stdout
    (script,) = (tmp_path / "scripts").glob("g_a_b_c.h*.sh")
    text = script.read_text()
    assert "#SBATCH --time=00:09:00" in text and "--local-groupid" in text
    assert "Ensemble plan" not in result.stderr + result.stdout


def warnings_about(stderr: str, name: str) -> int:
    return sum(1 for line in stderr.splitlines() if line.startswith(f"resource {name} (rule "))


def test_stock_slurm_plugin_resource_names_move_over_unedited(slurm, tmp_path):
    result = run_short_tasks(tmp_path, site(slurm), {"partition": slurm}, "--retries", "1",
                             snakefile=WORKFLOWS / "stock_resources/Snakefile", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    flaky_id, threads = (tmp_path / "out/flaky.txt").read_text().split()
    assert threads == "2"
    counted, summed = (tmp_path / "out/summed.txt").read_text().split()
    assert counted == summed != "none"  # the group ran as one batch job
    entries = {(e.rule, e.attempt): e for e in Ledger(tmp_path / ".mdflow/ledger.sqlite").all()}
    assert entries[("flaky", 1)].state == "failed" and entries[("flaky", 2)].external_id == flaky_id
    script = next(Path(tmp_path / ".mdflow/jobs").glob("flaky.a2.sh")).read_text()
    for line in (f"--partition={slurm}", "--mem-per-cpu=150M", "--comment=moved-over", "--cpus-per-task=2"):
        assert f"#SBATCH {line}\n" in script
    assert "#SBATCH --mem=" not in script  # --mem-per-cpu wins, as under the stock plugin
    shown = subprocess.run(["scontrol", "--oneliner", "show", "job", flaky_id], capture_output=True, text=True).stdout
    if shown:  # Slurm may have forgotten it (MinJobAge)
        assert f"Partition={slurm} " in shown and "MinMemoryCPU=150M" in shown and "Comment=moved-over" in shown
    assert warnings_about(result.stderr, "licence") == 1  # named once, though two attempts asked for it
    assert warnings_about(result.stderr, "slurm_partition") == 0 and warnings_about(result.stderr, "slurm_extra") == 0


def test_a_rules_own_retries_resubmit_the_batch_job_instead_of_rerunning_inside_it(slurm, tmp_path):
    result = run_short_tasks(tmp_path, site(slurm), {"partition": slurm, "flaky_retries": 1},
                             snakefile=WORKFLOWS / "stock_resources/Snakefile", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    attempts = sorted((e.attempt, e.state) for e in Ledger(tmp_path / ".mdflow/ledger.sqlite").all() if e.rule == "flaky")
    assert attempts == [(1, "failed"), (2, "success")]
    first_log = (tmp_path / "logs/batch/flaky.a1.log").read_text()
    assert "Trying to restart job" not in first_log  # the inner Snakemake gave up at once: its attempt was spent
    assert (tmp_path / "out/flaky.txt").read_text().split()[0] == next(
        e.external_id for e in Ledger(tmp_path / ".mdflow/ledger.sqlite").all() if e.rule == "flaky" and e.attempt == 2)


@pytest.mark.parametrize("scheduler, queue", [("pbs", "debug"), ("cobalt", "default")])
def test_plain_workflow_with_groups_and_retries_under_emulated_scheduler(slurm, tmp_path, scheduler, queue):
    site_yaml = f"scheduler: {scheduler}\nname: test{scheduler}\nqueue: {queue}\nlogdir: logs/batch\n"
    result = run_short_tasks(tmp_path, site_yaml, {}, "--retries", "1", snakefile=WORKFLOWS / "stock_resources/Snakefile",
                             env_extra=emulator_env(tmp_path, scheduler), timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    counted, summed = (tmp_path / "out/summed.txt").read_text().split()
    assert counted == summed != "none"  # the group ran as one batch job of the emulated scheduler
    entries = {(e.rule, e.attempt): e for e in Ledger(tmp_path / ".mdflow/ledger.sqlite").all()}
    assert {e.scheduler for e in entries.values()} == {scheduler}
    assert entries[("flaky", 1)].state == "failed" and entries[("flaky", 2)].state == "success"
    script = next(Path(tmp_path / ".mdflow/jobs").glob("flaky.a2.sh")).read_text()
    assert {"pbs": ":mem=300mb", "cobalt": "#COBALT -q default"}[scheduler] in script  # 150 MB x 2 CPUs
    for name in ("slurm_partition", "slurm_extra", "licence"):  # Slurm's names mean nothing here: said once
        assert warnings_about(result.stderr, name) == 1, result.stderr[-3000:]
