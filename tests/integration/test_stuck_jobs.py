"""A job that can never start is named and failed, not waited on forever (real Slurm): a walltime
over the partition's limit pends with reason PartitionTimeLimit, which never clears by itself. Where
the profile states no limit for the partition, Slurm's own (scontrol show partition) refuses the job
before anything is submitted."""

import subprocess
import time

from conftest import run_short_tasks
from mdflow.ledger import Ledger


def test_job_pending_for_a_reason_that_never_clears_is_failed_and_cancelled(slurm, tmp_path):
    # the test Slurm's debug partition allows 30 min (tests/slurm/start_slurm.sh); the profile is wrong
    # about it (its word wins over Slurm's at submission), so the job pends with PartitionTimeLimit
    site = (f"scheduler: slurm\nname: testslurm\nqueue: {slurm}\nlogdir: logs/batch\n"
            f"queues:\n  {slurm}: {{max_walltime: 60}}\n")
    started = time.time()
    result = run_short_tasks(tmp_path, site, {"tasks": 1, "sleep": 1, "runtime": 45}, timeout=300)
    assert result.returncode != 0
    assert "it can never start: Slurm pending reason PartitionTimeLimit" in result.stderr
    assert "lower the rule's runtime or pick another queue" in result.stderr
    (entry,) = Ledger(tmp_path / ".mdflow/ledger.sqlite").all()
    assert entry.state == "failed" and "PartitionTimeLimit" in entry.reason
    pending = subprocess.run(["squeue", "--noheader", "--states=PENDING", "--format=%i", f"--jobs={entry.external_id}"],
                             capture_output=True, text=True).stdout.split()
    assert pending == []  # cancelled: it would have held a slot under max_queued forever
    assert time.time() - started < 120


def test_job_over_the_partitions_own_limit_is_refused_before_submission(slurm, tmp_path):
    site = f"scheduler: slurm\nname: testslurm\nqueue: {slurm}\nlogdir: logs/batch\n"  # says nothing of limits
    started = time.time()
    result = run_short_tasks(tmp_path, site, {"tasks": 1, "sleep": 1, "runtime": 45}, timeout=300)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "exceeds the 00:30:00 limit" in line]
    assert lines and all(line == lines[0] for line in lines), result.stderr[-3000:]
    assert ("job task.0 (rule task): runtime 45 min exceeds the 00:30:00 limit of slurm queue debug, where it "
            "would wait forever; lower the rule's runtime, or send it to a queue that allows it (long:") in lines[0]
    assert not (tmp_path / ".mdflow/ledger.sqlite").exists() or not Ledger(tmp_path / ".mdflow/ledger.sqlite").all()
    assert time.time() - started < 60


def test_node_count_over_the_partition_is_refused_before_submission(slurm, tmp_path):
    # the test Slurm's partitions hold one node: a 2-node job would pend with PartitionNodeLimit forever
    site = f"scheduler: slurm\nname: testslurm\nqueue: {slurm}\nlogdir: logs/batch\n"
    result = run_short_tasks(tmp_path, site, {"tasks": 1, "sleep": 1}, "--set-resources", "task:nodes=2", timeout=300)
    assert result.returncode != 0
    assert ("job task.0 (rule task): 2 node(s) are outside the 1 to 1 node(s) allowed by slurm queue debug, where "
            "it would wait forever; lower the rule's nodes") in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / ".mdflow/ledger.sqlite").exists() or not Ledger(tmp_path / ".mdflow/ledger.sqlite").all()


def test_job_asking_more_cpus_than_any_node_has_is_failed_not_waited_on(slurm, tmp_path):
    # the test node has 16 CPUs: Slurm accepts the job and keeps it pending with reason PartitionConfig
    site = f"scheduler: slurm\nname: testslurm\nqueue: {slurm}\nlogdir: logs/batch\n"
    started = time.time()
    result = run_short_tasks(tmp_path, site, {"tasks": 1, "sleep": 1}, "--set-threads", "task=64", timeout=300)
    assert result.returncode != 0
    assert "it can never start: Slurm pending reason PartitionConfig" in result.stderr, result.stderr[-3000:]
    (entry,) = Ledger(tmp_path / ".mdflow/ledger.sqlite").all()
    assert entry.state == "failed" and "PartitionConfig" in entry.reason
    assert time.time() - started < 120
