"""A job that can never start is named and failed, not waited on forever (real Slurm): a walltime
over the partition's limit pends with reason PartitionTimeLimit, which never clears by itself."""

import subprocess
import time

from conftest import run_short_tasks
from mdflow.ledger import Ledger


def test_job_pending_for_a_reason_that_never_clears_is_failed_and_cancelled(slurm, tmp_path):
    # the test Slurm's debug partition allows 30 min (tests/slurm/start_slurm.sh); the site does not say so
    site = f"scheduler: slurm\nname: testslurm\nqueue: {slurm}\nlogdir: logs/batch\n"
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
