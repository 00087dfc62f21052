"""Polling and the decisions taken on its answers: pure of Snakemake.

`statuses_of`: each job's own outcome record first (executors/outcome.py), then ONE scheduler
query (through the adapter) for the jobs without one. `Judge.decide`: what one job's status means
for the executor — keep waiting, still active, or concluded (succeeded/failed) — including the
grace periods for jobs the scheduler does not know (GONE) or gives no word on (undecided).
"""

import time

from mdflow.executors import outcome
from mdflow.executors.adapter import DECIDED, FAILED, FINISHED, GONE, JobStatus, SchedulerAdapter

STATUS_BACKOFF_MAX_S = 120
LOST_AFTER_S = 900  # a job the scheduler gave no word on for this long failed
GONE_GRACE_S = 60   # a job the scheduler says it does not know, with no outcome record for this long,
                    # failed (the grace covers a record written just after we looked, and NFS caches)

WAIT, ACTIVE, CONCLUDE = "wait", "active", "conclude"


def statuses_of(adapter: SchedulerAdapter, jobs: dict, project: str, run) -> dict:
    """{external id: {'log_path': …}} -> {external id: JobStatus}. A job the scheduler calls GONE is
    looked up once more (it may have written its record meanwhile). QueryFailed (a RuntimeError)
    when the scheduler gave no usable answer."""
    statuses = {}
    for external_id, aux in jobs.items():
        recorded = outcome.read_status((aux or {}).get("log_path", ""), project, external_id)
        if recorded is not None:
            statuses[external_id] = recorded
    rest = sorted(set(jobs) - set(statuses))
    if rest:
        answered = adapter.poll(rest, run, {i: jobs[i] or {} for i in rest})
        for external_id, status in answered.items():
            if status.state == GONE:
                status = outcome.read_status((jobs[external_id] or {}).get("log_path", ""), project,
                                             external_id) or status
            statuses[external_id] = status
    return statuses


def decided(status: JobStatus | None) -> JobStatus | None:
    """`status` if it is one the executor acts on (queued, running, success, failed), else None."""
    return status if status is not None and status.state in DECIDED else None


def status_backoff(failures: int) -> int:
    """Seconds until the next status query after `failures` failed ones in a row."""
    return min(STATUS_BACKOFF_MAX_S, 2 ** failures)


class Judge:
    """Remembers since when each job has been gone or undecided, and decides on each answer."""

    def __init__(self, scheduler: str):
        self.scheduler = scheduler
        self.undecided_since = {}
        self.gone_since = {}

    def decide(self, external_id: str, log_path: str, status: JobStatus | None, now: float | None = None):
        """(WAIT, None): no decision yet; (ACTIVE, status): queued or running; (CONCLUDE, status):
        the job ended (FAILED also for one that can never start, stayed gone or went unanswered)."""
        now = time.time() if now is None else now
        if status is not None and status.state == GONE:
            since = self.gone_since.setdefault(external_id, now)
            if now - since < GONE_GRACE_S:
                return WAIT, None
            return CONCLUDE, JobStatus(FAILED, None, reason=(
                f"{self.scheduler} no longer knows the job and it left no outcome record "
                f"({outcome.outcome_path(log_path)}): it never started (dropped "
                f"after submission?) or was killed before it could write one"))
        if decided(status) is None:
            since = self.undecided_since.setdefault(external_id, now)
            if now - since < LOST_AFTER_S:
                return WAIT, None
            return CONCLUDE, JobStatus(FAILED, None, reason=f"{self.scheduler} gave no word on it for {now - since:.0f} s")
        if status.never_runs:
            return CONCLUDE, JobStatus(FAILED, None, reason=f"it can never start: {status.reason}")
        if status.state not in FINISHED:
            self.undecided_since.pop(external_id, None)
            self.gone_since.pop(external_id, None)
            return ACTIVE, status
        return CONCLUDE, status
