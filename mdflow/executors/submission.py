"""Submitting one batch script, with retries: the scheduler's answer decides what happens.

- an id: done;
- a passing fault (TransientError) or a garbled answer: look whether the job was created anyway
  (a timed-out sbatch may have created it), else wait and submit again (at most SUBMIT_TRIES);
- a job-count limit (LimitReached): look as above, else raise it: the caller puts the jobs back
  and waits (executors/batch.py, flush);
- a refusal for good (SubmitRefused): raise it; an ambiguous one (LimitOrRefused) is a limit when
  the user's own job count is near max_queued, else a refusal.

Waits between tries end early when the run is cancelled (`stop`, a threading.Event): a
cancelled run submits nothing more (Cancelled). Nothing here holds a lock.
"""

import os
import threading
import time
from pathlib import Path

from mdflow.executors.adapter import (
    GarbledAnswer, JobRequest, LimitOrRefused, LimitReached, SchedulerAdapter, SubmitRefused, TransientError,
)
from mdflow.executors.commands import run_command
from mdflow.interrupt import stop_pending
from mdflow.executors.render import queue_limits
from mdflow.ledger import Ledger

SUBMIT_TRIES = 6
FIND_TRIES = 5


class Cancelled(Exception):
    """The run was cancelled while a submission waited to be tried again."""


def max_queued(site: dict, queue) -> int | None:
    """The site's limit on the user's queued+running jobs in `queue` (the queue's own, else the site's)."""
    return queue_limits(site).get(queue, {}).get("max_queued") or site.get("max_queued")


def near_limit(maximum: int | None, used: int | None) -> bool:
    """Within 10 % of max_queued (by the user's own count) a refusal that may be a submit limit is
    taken for one (wait); otherwise the job is refused for good. No count: refused."""
    return maximum is not None and used is not None and used >= 0.9 * maximum


class Submitter:
    """Submits scripts to one site's scheduler; see the module docstring."""

    def __init__(self, adapter: SchedulerAdapter, site: dict, ledger: Ledger | None, project: Path, logger,
                 stop: threading.Event | None = None, run=run_command, user: str | None = None):
        self.adapter, self.site, self.ledger, self.project, self.logger = adapter, site, ledger, project, logger
        self.stop = stop or threading.Event()
        self.run = run
        self.user = user or os.environ.get("USER", "root")  # whose jobs count: on a remote site, its account

    def wait(self, seconds: float):
        """Sleep between tries; Cancelled as soon as the run is cancelled, or a stop signal waits for
        this submission to end (mdflow/interrupt.py: signals_deferred)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stop.wait(min(0.2, max(0.0, deadline - time.monotonic()))) or stop_pending():
                raise Cancelled()

    def submit(self, script: Path, request: JobRequest) -> str:
        """The id of the batch job `script` became; LimitReached, SubmitRefused or Cancelled."""
        delay = 2.0
        logged_before = set(self.logged_ids(request))
        text, error = "", None
        for _ in range(SUBMIT_TRIES):
            if self.stop.is_set():
                raise Cancelled()
            answer = self.run(self.adapter.submit_argv(str(script)))
            text = (answer.stderr + answer.stdout).strip()
            if answer.returncode == 0:
                try:
                    return self.adapter.parse_submit(answer.stdout)
                except ValueError:
                    error = GarbledAnswer(f"garbled answer: {text[-200:]}")
            else:
                error = self.adapter.submit_error(text)
            if isinstance(error, LimitOrRefused):
                error = LimitReached(str(error)) if self.near_queue_limit(request.queue) else SubmitRefused(str(error))
            if isinstance(error, SubmitRefused):
                raise SubmitRefused(f"{self.adapter.NAME} rejected job {request.name}: "
                                    f"{text.splitlines()[-1] if text else answer.returncode}")
            existing = self.find_submitted(request, logged_before)
            if existing:
                return existing
            if isinstance(error, LimitReached):
                raise LimitReached(text.splitlines()[-1] if text else "per-user limit")
            assert isinstance(error, TransientError)
            self.logger.warning(f"{request.name}: submission failed ({text or 'garbled'}); retrying in {delay:.0f} s")
            self.wait(delay)
            delay = min(delay * 2, 60.0)
        raise SubmitRefused(f"submitting {request.name} failed {SUBMIT_TRIES} times; last answer: {text}")

    def logged_ids(self, request: JobRequest) -> list[str]:
        """Ids of the jobs the submit command logged under this request's log path (Cobalt's
        cobaltlog; the other schedulers log nothing at submission)."""
        return self.adapter.submitted_ids_in_log(request.log_path)

    def find_submitted(self, request: JobRequest, logged_before: set) -> str | None:
        """A submission that timed out may still have created the job: look for it before resubmitting,
        among this project's jobs of that name (the adapter tells them by their work directory).
        Only a real answer counts: a failed or garbled lookup is asked again, since taking it for
        "not there" would submit the job twice, and taking garbage for an id would wait on a job
        that does not exist."""
        name = request.name  # exact: it carries the job's key whenever the readable name is not (render.batch_job_name)
        known = {e.external_id for e in self.ledger.all(self.site["name"])} if self.ledger else set()  # others' jobs
        logged = [i for i in self.logged_ids(request) if i not in logged_before | known]
        if logged:  # Cobalt's qsub logged it; qstat may have forgotten it already (done)
            return logged[-1]
        delay = 1.0
        for _ in range(FIND_TRIES):
            answer = self.run(self.adapter.find_by_name_argv(name, self.user))
            if answer.returncode == 0:
                try:
                    ids = self.adapter.parse_find_by_name(answer.stdout, str(self.project))
                    ids = [i for i in ids if i not in known]
                    return ids[-1] if ids else None
                except ValueError:
                    pass
            self.wait(delay)
            delay = min(delay * 2, 30.0)
        self.logger.warning(f"{name}: {self.adapter.NAME} gave no usable answer to whether the job exists; "
                            f"submitting it again")
        return None

    def near_queue_limit(self, queue) -> bool:
        """For a refusal that may be a submit limit or a limit on the job itself (Slurm's 'Job
        violates accounting/QOS policy'): our own count of the user's jobs says which."""
        return near_limit(max_queued(self.site, queue), self.count_user_jobs(queue))

    def count_user_jobs(self, queue) -> int | None:
        """Queued+running jobs of this user in `queue` (all campaigns), or None without an answer."""
        answer = self.run(self.adapter.count_user_jobs_argv(self.user, queue))
        try:
            return self.adapter.count_user_jobs(answer.returncode, answer.stdout, answer.stderr)
        except (RuntimeError, ValueError):
            return None


def scheduler_queue_limits(adapter: SchedulerAdapter, site: dict, run=None) -> dict:
    """The scheduler's own queue limits (adapter.parse_queue_limits), asked once per run; {} when the
    adapter does not ask, or the scheduler gave no usable answer (then no job is refused on them)."""
    argv = adapter.queue_limits_argv(site)
    if not argv:
        return {}
    answer = (run or (lambda a: run_command(a, timeout=20)))(argv)
    try:
        return adapter.parse_queue_limits(answer.returncode, answer.stdout, answer.stderr) or {}
    except ValueError:
        return {}


class SlotCounter:
    """Free places per queue under the site's max_queued, counted once per queue and flush."""

    def __init__(self, site: dict, count_user_jobs):
        self.site, self.count_user_jobs = site, count_user_jobs
        self.free_by_queue = {}

    def free(self, queue) -> int:
        maximum = max_queued(self.site, queue)
        if maximum is None:
            return 1_000_000
        if queue not in self.free_by_queue:
            used = self.count_user_jobs(queue)
            self.free_by_queue[queue] = 0 if used is None else max(0, maximum - used)
        return self.free_by_queue[queue]

    def take(self, queue) -> bool:
        if self.free(queue) <= 0:
            return False
        self.free_by_queue[queue] = self.free(queue) - 1
        return True
