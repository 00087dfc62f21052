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


def statuses_of(adapter: SchedulerAdapter, jobs: dict, project: str, run, read_texts=None) -> dict:
    """{external id: {'log_path': …}} -> {external id: JobStatus}. A job the scheduler calls GONE is
    looked up once more (it may have written its record meanwhile). `read_texts(paths)` ->
    {path: text | None} reads the outcome records (this host's files by default; a remote site's
    over SSH, in one command). QueryFailed (a RuntimeError) when the scheduler, or the site, gave
    no usable answer."""
    read_texts = read_texts or outcome.read_local_texts

    def recorded(ids) -> dict:
        paths = {i: outcome.outcome_path((jobs[i] or {}).get("log_path", ""), project) for i in ids
                 if (jobs[i] or {}).get("log_path")}
        texts = read_texts(sorted(set(paths.values()))) if paths else {}
        found = {i: outcome.status_of_text(texts.get(path), i) for i, path in paths.items()}
        return {i: status for i, status in found.items() if status is not None}

    statuses = recorded(list(jobs))
    rest = sorted(set(jobs) - set(statuses))
    if rest:
        answered = adapter.poll(rest, run, {i: jobs[i] or {} for i in rest})
        gone = [i for i, status in answered.items() if status.state == GONE]
        again = recorded(gone) if gone else {}
        for external_id, status in answered.items():
            statuses[external_id] = again.get(external_id, status)
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
