"""`mdflow --dry-run` on a cluster profile shows where each job would go and writes its batch script."""

import pytest

from conftest import add_profile, make_project, run_mdflow

pytestmark = pytest.mark.campaign


def test_dry_run_shows_site_queue_and_writes_scripts(tmp_path):
    project = make_project(tmp_path / "project")
    add_profile(project, "mystampede", "extends: stampede\naccount: CHE23001\n")
    scripts = tmp_path / "scripts"
    result = run_mdflow(project, "--profile", "mystampede", "--configfile", "config/ci.yaml", "--dry-run",
                        "--scripts", str(scripts), env_extra={"SCRATCH": str(tmp_path / "scratch")}, check=True)
    out = result.stdout + result.stderr
    assert out.count("submission: site mystampede (slurm), queue skx, walltime 60 min") == 3 + 8
    assert "submission: none (local rule, runs on this host)" in out
    written = sorted(p.name for p in scripts.iterdir())
    assert len(written) == 11 and "simulate.villin.0.001.sh" in written and not any("push" in n for n in written)
    script = (scripts / "simulate.villin.0.001.sh").read_text()
    assert "#SBATCH --account=CHE23001" in script and "#SBATCH --partition=skx" in script
    assert "--target-jobs 'simulate:system=villin,replica=0,segment=001'" in script
    assert str(tmp_path / "scratch" / "mdflow") in script  # $SCRATCH/mdflow expanded on the login node
    assert not (project / ".mdflow" / "ledger.sqlite").exists()  # nothing was submitted


def test_scripts_without_dry_run_is_refused(tmp_path):
    project = make_project(tmp_path / "project")
    result = run_mdflow(project, "--scripts", str(tmp_path / "s"))
    assert result.returncode == 2 and "--scripts DIR only goes with --dry-run" in result.stderr
