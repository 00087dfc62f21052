"""The outcome record a batch script writes about itself (executors/outcome.py, templates/base.sh.j2)."""

import json
import os
import signal
import subprocess
import time

import pytest

from mdflow.executors import adapters, outcome
from mdflow.executors.adapter import FAILED, SUCCESS, JobRequest
from mdflow.executors.render import render_script


def test_path_next_to_the_log():
    assert outcome.outcome_path("logs/batch/x.a1.log") == "logs/batch/x.a1.outcome.json"
    assert outcome.outcome_path("logs/batch/x.a1.log", "/p") == "/p/logs/batch/x.a1.outcome.json"
    assert outcome.outcome_path("/abs/x.log", "/p") == "/abs/x.outcome.json"


@pytest.mark.parametrize("recorded, external, same", [
    ("308834.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov", "308834.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov", True),
    ("308834.polaris-pbs-01", "308834", True), ("4242", "4242;cluster2", True),
    ("4242", "4243", False), ("", "4242", False)])
def test_a_record_belongs_to_its_job_only(recorded, external, same):
    assert outcome.same_job(recorded, external) is same


def test_status_from_record():
    assert outcome.status_from_outcome({"job_id": "7", "exit_status": 0, "host": "n1"}, "7").state == SUCCESS
    failed = outcome.status_from_outcome({"job_id": "7", "exit_status": 143, "host": "n1"}, "7")
    assert (failed.state, failed.exit_code) == (FAILED, 143) and "n1" in failed.reason
    assert outcome.status_from_outcome({"job_id": "8", "exit_status": 0}, "7") is None  # a rerun's old record
    for text in ("", "{", "[]", '{"exit_status": "0"}'):
        with pytest.raises(ValueError):
            outcome.parse_outcome(text)


def test_read_status_and_remove_stale(tmp_path):
    assert outcome.read_status("logs/x.log", str(tmp_path), "7") is None
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/x.outcome.json").write_text('{"job_id": "7", "exit_status": 2, "host": "h"}\n')
    assert outcome.read_status("logs/x.log", str(tmp_path), "7").exit_code == 2
    assert outcome.read_status("logs/x.log", str(tmp_path), "9") is None
    (tmp_path / "logs/y.outcome.json").write_text("garbage")
    assert outcome.read_status("logs/y.log", str(tmp_path), "7") is None
    outcome.remove_stale("logs/x.log", str(tmp_path))
    assert not (tmp_path / "logs/x.outcome.json").exists()


def script_for(tmp_path, scheduler: str, body: str) -> str:
    request = JobRequest(name="t", queue=None, walltime_min=5, log_path="logs/t.a1.log", workdir=str(tmp_path))
    (tmp_path / "logs").mkdir(exist_ok=True)
    return render_script(adapters.get(scheduler), request, {"name": "s"}, body)


@pytest.mark.parametrize("scheduler, variable, job_id", [("slurm", "SLURM_JOB_ID", "4242"),
                                                         ("pbs", "PBS_JOBID", "12.server"),
                                                         ("cobalt", "COBALT_JOBID", "603441")])
@pytest.mark.parametrize("body, code", [("true", 0), ("exit 3", 3), ("false", 1)])
def test_rendered_script_records_its_exit(tmp_path, scheduler, variable, job_id, body, code):
    path = tmp_path / "job.sh"
    path.write_text(script_for(tmp_path, scheduler, body))
    result = subprocess.run(["bash", str(path)], env={**os.environ, variable: job_id}, capture_output=True, text=True)
    assert result.returncode == code
    record = json.loads((tmp_path / "logs/t.a1.outcome.json").read_text())
    assert (record["job_id"], record["exit_status"]) == (job_id, code)
    assert record["ended"] >= record["started"] and record["host"]
    assert [p.name for p in (tmp_path / "logs").iterdir()] == ["t.a1.outcome.json"]  # no temp file left


def test_sigterm_at_walltime_is_recorded(tmp_path):
    """Schedulers send SIGTERM at walltime (to the script and its children): the record says 143."""
    path = tmp_path / "job.sh"
    path.write_text(script_for(tmp_path, "slurm", "sleep 30"))
    job = subprocess.Popen(["bash", str(path)], env={**os.environ, "SLURM_JOB_ID": "5"}, start_new_session=True)
    time.sleep(0.5)
    os.killpg(job.pid, signal.SIGTERM)
    assert job.wait(timeout=20) == 143
    assert json.loads((tmp_path / "logs/t.a1.outcome.json").read_text())["exit_status"] == 143


def test_recording_never_changes_the_jobs_exit_status(tmp_path):
    """No log directory yet, or none possible: the job still exits with its own status."""
    request = JobRequest(name="t", queue=None, walltime_min=5, log_path="missing/dir/t.log", workdir=str(tmp_path))
    path = tmp_path / "job.sh"
    path.write_text(render_script(adapters.get("slurm"), request, {"name": "s"}, "exit 4"))
    result = subprocess.run(["bash", str(path)], capture_output=True, text=True)
    assert result.returncode == 4 and result.stderr == ""
    assert json.loads((tmp_path / "missing/dir/t.outcome.json").read_text())["exit_status"] == 4
    (tmp_path / "blocked").write_text("a file where the log directory should be")
    request = JobRequest(name="t", queue=None, walltime_min=5, log_path="blocked/t.log", workdir=str(tmp_path))
    path.write_text(render_script(adapters.get("slurm"), request, {"name": "s"}, "exit 5"))
    result = subprocess.run(["bash", str(path)], capture_output=True, text=True)
    assert result.returncode == 5 and result.stderr == ""  # no record possible, status kept
