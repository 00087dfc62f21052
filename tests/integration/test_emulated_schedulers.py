"""The ci campaign end to end through the PBS Pro and Cobalt command-line emulators (tests/emulators),
which follow those schedulers' documented CLI and output formats and run every job on the real Slurm."""


import pytest

from conftest import add_profile, assert_job_ids_in_provenance, emulator_env, make_project, run_mdflow
from mdflow.ledger import Ledger

pytestmark = pytest.mark.campaign
FAST = "seconds-between-status-checks: 1\n"


@pytest.mark.parametrize("scheduler, queue", [("pbs", "debug"), ("cobalt", "default")])
def test_ci_campaign_through_emulated_scheduler(slurm, tmp_path, scheduler, queue):
    project = make_project(tmp_path / "project")
    add_profile(project, f"my{scheduler}", f"extends: {scheduler}\nqueue: {queue}\naccount: PROJ\n", FAST)
    env = emulator_env(tmp_path, scheduler)
    run_mdflow(project, "--profile", f"my{scheduler}", "--configfile", "config/ci.yaml", env_extra=env, check=True)
    assert (project / "results-ci/report.html").exists()
    entries = Ledger(project / ".mdflow/ledger.sqlite").all()
    assert len(entries) == 3 + 8 and {e.scheduler for e in entries} == {scheduler}
    assert all(e.state == "success" and e.exit_code == 0 for e in entries)
    assert len({e.name for e in entries}) == len(entries)
    script = next((project / ".mdflow/jobs").glob("simulate.villin.0.001.a1.sh")).read_text()
    assert {"pbs": "#PBS -q debug", "cobalt": "#COBALT -q default"}[scheduler] in script
    if scheduler == "cobalt":  # Cray ALPS: the script runs on a MOM node, the work through aprun
        assert "aprun -n 1 -N 1 -d 1 -cc none bash -c " in script
    assert_job_ids_in_provenance(project, entries, scheduler)
