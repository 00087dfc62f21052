"""Provenance records: pure build(), the job id from the scheduler's variables, git, the meter."""

import subprocess

from mdflow.provenance import Meter, Usage, build, file_digests, git_commit, scheduler_job


def test_scheduler_job_from_environment():
    assert scheduler_job({}) is None
    assert scheduler_job({"SLURM_JOB_ID": "42"}) == {"scheduler": "slurm", "job_id": "42"}
    # a PBS or Cobalt front end on top of Slurm: the front end's id is the one the user sees
    assert scheduler_job({"SLURM_JOB_ID": "42", "PBS_JOBID": "7.pbs01"}) == {"scheduler": "pbs", "job_id": "7.pbs01"}
    assert scheduler_job({"SLURM_JOB_ID": "42", "COBALT_JOBID": "99"}) == {"scheduler": "cobalt", "job_id": "99"}
    assert scheduler_job({"SLURM_JOB_ID": ""}) is None


def test_build_moves_platform_and_seeds_out_of_the_details():
    record = build(step="simulate", wildcards={"system": "a"}, site="ci", inputs={"x": "1"}, outputs={"y": "2"},
                   usage=Usage(1.5, 1.25, 200.0), started_at=0.0, versions={"openmm": "8"}, workflow_git=None,
                   host="h", job={"scheduler": "slurm", "job_id": "5"},
                   details={"platform": "CPU", "seeds": {"integrator": 3}, "ns_per_day": 10.0})
    assert record == {
        "step": "simulate", "wildcards": {"system": "a"}, "site": "ci", "host": "h",
        "scheduler_job": {"scheduler": "slurm", "job_id": "5"}, "platform": "CPU", "seeds": {"integrator": 3},
        "versions": {"openmm": "8"}, "workflow_git": None, "inputs_sha256": {"x": "1"}, "outputs_sha256": {"y": "2"},
        "started": "1970-01-01T00:00:00Z", "wall_s": 1.5, "cpu_s": 1.25, "peak_rss_mb": 200.0,
        "details": {"ns_per_day": 10.0},
    }


def test_git_commit_and_dirty_flag(tmp_path):
    assert git_commit(tmp_path) is None
    run = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "f").write_text("1")
    run("add", "f")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert git_commit(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "f").write_text("2")
    assert git_commit(tmp_path) == {"commit": head, "dirty": True}


def test_meter_and_digests(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    with Meter() as meter:
        sum(i * i for i in range(200000))
    assert meter.usage.wall_s > 0 and meter.usage.cpu_s >= 0 and meter.usage.peak_rss_mb > 10
    assert file_digests([tmp_path / "a", tmp_path / "missing", tmp_path]) == {
        str(tmp_path / "a"): "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
