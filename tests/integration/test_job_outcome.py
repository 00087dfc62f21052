"""A batch job's exit status does not depend on the scheduler's memory of it: every batch script
records its own outcome next to its log (executors/outcome.py), and the executor reads that first.

Against the PBS emulator with job history off (OpenPBS's default: finished jobs are purged at once
and `qstat -x` is refused), with a queue that drops jobs after qsub printed their id (ALCF routing),
and against the real Slurm through a wrapper that hides finished jobs from squeue and scontrol (no
accounting, MinJobAge passed). Before outcome records each of these waited 15 minutes per job and
then failed it, successful ones too.
"""

import json
import time

from conftest import emulator_env, run_short_tasks, shim_calls, shim_env
from mdflow.ledger import Ledger


def ledger(workdir):
    return Ledger(workdir / ".mdflow/ledger.sqlite").all()


def pbs_site(queue="debug") -> str:
    return f"scheduler: pbs\nname: testpbs\nqueue: {queue}\nlogdir: logs/batch\n"


def pbs_env(tmp_path, **config) -> dict:
    path = tmp_path / "pbs-emulator.json"
    path.write_text(json.dumps({"queues": {"debug": {"max_walltime_min": 30},
                                           "routed": {"max_walltime_min": 30, "drop_after_qsub": True}},
                                **config}))
    return {**emulator_env(tmp_path, "pbs"), "PBS_EMULATOR_CONFIG": str(path)}


def test_pbs_without_job_history_ends_from_the_jobs_own_records(slurm, tmp_path):
    env = pbs_env(tmp_path, job_history_enable=False)
    started = time.time()
    result = run_short_tasks(tmp_path, pbs_site(), {"tasks": 3, "sleep": 1, "fail_once": 2}, "--retries", "1",
                             env_extra=env, timeout=400)
    elapsed = time.time() - started
    assert result.returncode == 0, result.stderr[-3000:]
    entries = ledger(tmp_path)
    assert sorted((e.name, e.state, e.exit_code) for e in entries) == [
        ("task.0", "success", 0), ("task.1", "success", 0), ("task.2", "failed", 1), ("task.2", "success", 0)]
    records = sorted((tmp_path / "logs/batch").glob("*.outcome.json"))
    assert len(records) == 4 and all(json.loads(r.read_text())["job_id"].endswith(".pbs-emu.mdflow.test")
                                     for r in records)
    assert elapsed < 300  # no 15-minute wait for a job the server forgot
    # (exit 1: the batch script exits with the inner Snakemake's status, whatever the rule's shell said)


def test_pbs_job_dropped_after_qsub_fails_with_a_clear_message_not_after_a_timeout(slurm, tmp_path):
    env = pbs_env(tmp_path)
    started = time.time()
    result = run_short_tasks(tmp_path, pbs_site("routed"), {"tasks": 1, "sleep": 1}, env_extra=env, timeout=400)
    elapsed = time.time() - started
    assert result.returncode != 0
    assert "no longer knows the job and it left no outcome record" in result.stderr
    assert [(e.name, e.state) for e in ledger(tmp_path)] == [("task.0", "failed")]
    assert elapsed < 240  # the 60 s grace, not the 15-minute "lost" timeout


def test_slurm_job_missing_from_squeue_is_decided_by_its_record(slurm, tmp_path):
    env = shim_env(tmp_path, ["squeue", "scontrol"], {"squeue": {"forget_finished": True},
                                                     "scontrol": {"forget_finished": True}})
    site = f"scheduler: slurm\nname: testslurm\nqueue: {slurm}\nlogdir: logs/batch\n"
    started = time.time()
    result = run_short_tasks(tmp_path, site, {"tasks": 2, "sleep": 1, "fail_once": 1}, "--retries", "1",
                             env_extra=env, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted((e.name, e.state, e.exit_code) for e in ledger(tmp_path)) == [
        ("task.0", "success", 0), ("task.1", "failed", 1), ("task.1", "success", 0)]
    assert time.time() - started < 300
    assert shim_calls(tmp_path, "squeue")  # the scheduler was asked while the jobs ran
