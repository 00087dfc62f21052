"""The ledger side of the executor: settling what a killed controller left, re-attaching to its
jobs instead of resubmitting them, and finding orphans. Pure of Snakemake: the executor reports.

Every submission goes to the ledger (mdflow/ledger.py); a job the ledger shows still queued or
running is re-attached, not resubmitted (two jobs writing the same outputs corrupt them).
"""

import contextlib
from pathlib import Path

from mdflow.executors.adapter import DECIDED, FAILED, FINISHED, QUEUED, RUNNING, SUCCESS
from mdflow.ledger import Ledger, outputs_within


def outputs_written_by(entry, outputs) -> bool:
    """Every one of `outputs` exists and is no older than the batch job `entry`'s submission."""
    paths = [Path(f) for f in outputs]
    return bool(paths) and all(f.exists() and f.stat().st_mtime >= entry.submitted - 1 for f in paths)


class LedgerBook:
    """One site's part of the ledger, with `statuses_of({id: aux}) -> {id: JobStatus}` (one
    scheduler query; RuntimeError without an answer) to settle entries."""

    def __init__(self, ledger: Ledger, site_name: str, statuses_of, fetch=None):
        self.ledger, self.site_name, self.statuses_of = ledger, site_name, statuses_of
        # fetch(outputs): brings a remote site's outputs here before they are looked at (no-op here)
        self.fetch = fetch or (lambda outputs: None)
        self.finished_while_away = []
        self._left_active = None  # {key: [entries]}: what earlier controllers left queued/running
        self._written = {}        # (external id, member name) -> (state, exit code, reason) last written
        self._deferred = None     # updates collected by `deferred()`, written when it ends

    def left_active(self) -> dict:
        """The active entries earlier controllers left, read once (after reconcile) and indexed by
        key: this run's own submissions never need re-attaching (Snakemake hands a job over once per
        attempt), and reading the whole active set for every job cost O(jobs) each (7 ms/job at 1k)."""
        if self._left_active is None:
            self._left_active = {}
            for entry in self.ledger.active(self.site_name):
                self._left_active.setdefault(entry.key, []).append(entry)
        return self._left_active

    def update(self, external_id, state, exit_code=None, name=None, reason=None):
        """Record a state; one the ledger already holds is not written again (a poll reports every
        active job, 1000 ensemble members each time)."""
        value = (state, exit_code, reason or None)
        if self._written.get((external_id, name)) == value:
            return
        if name is None:  # the whole batch job: what was remembered of its members no longer holds
            self._written = {k: v for k, v in self._written.items() if k[0] != external_id}
        self._written[(external_id, name)] = value
        if self._deferred is not None:
            self._deferred.append((external_id, state, exit_code, name, reason))
        else:
            self.ledger.update(self.site_name, external_id, state, exit_code, name=name, reason=reason)

    @contextlib.contextmanager
    def deferred(self):
        """Updates made inside go to the ledger in one transaction at the end (one poll's worth)."""
        self._deferred = []
        try:
            yield
        finally:
            updates, self._deferred = self._deferred, None
            if updates:
                self.ledger.update_many(self.site_name, updates)

    def record(self, external_id, scheduler, log_path, ensemble, jobs):
        """One batch job and the jobs it runs: (name, rule, wildcards, outputs, attempt, key) each."""
        self.ledger.record_submissions(self.site_name, scheduler, external_id, log_path, ensemble, jobs)

    def reconcile(self):
        """A killed controller leaves its jobs in the ledger as queued/running; those that finished
        while no controller ran are not re-attached (Snakemake just uses their outputs), so nothing
        would ever record their end. One status query at start-up does, so the ledger (and `mdflow
        status`) never claims a finished job still runs; unfinished ones stay for re-attaching.
        Those that succeeded are remembered: one may have finished after Snakemake planned (its
        outputs were missing then), and `lookup` adopts it instead of running it again."""
        self.finished_while_away = [e for e, state in self.settle(self.ledger.active(self.site_name))
                                    if state == SUCCESS]

    def settle(self, entries) -> list:
        """One status query for ledger `entries`; records the end of those that finished and returns
        (entry, state) for every entry the scheduler answered for (none when it gave no answer)."""
        if not entries:
            return []
        try:
            statuses = self.statuses_of({e.external_id: {"log_path": e.log_path} for e in entries})
        except RuntimeError:
            return []  # no answer: decided later, or by re-attaching
        answered = []
        for entry in entries:
            status = statuses.get(entry.external_id)
            if status is None or status.state not in DECIDED:
                continue
            state = status.state
            if state in FINISHED:
                if entry.ensemble and entry.outputs:
                    self.fetch(entry.outputs)
                succeeded = state == SUCCESS or bool(entry.ensemble and entry.outputs
                                                     and all(Path(f).exists() for f in entry.outputs))
                state = SUCCESS if succeeded else FAILED
                self.update(entry.external_id, state, 0 if succeeded else status.exit_code, name=entry.name,
                            reason=status.reason)
            answered.append((entry, state))
        return answered

    def orphans(self, run_ids: set, directories, project) -> list:
        """Batch jobs an earlier controller submitted that this run neither re-attached nor needed,
        and that still wait or run (of this campaign's `directories`, when given)."""
        earlier = [e for e in self.ledger.active(self.site_name) if e.external_id not in run_ids
                   and (directories is None or outputs_within(e.outputs, directories, project))]
        return [e for e, state in self.settle(earlier) if state in (QUEUED, RUNNING)]

    def lookup(self, key: str | None, name: str, outputs: list):
        """A batch job to adopt for exactly the job with key `key` (named `name`, with these `outputs`:
        what identifies it in rows older than keys, LedgerEntry.is_job): (entry, finished, how) or
        None; `how` says it for the log. Never by the readable name alone: `p-q` and `p/q` share it.
        One of a killed controller that the scheduler still runs, or one that succeeded since (after
        Snakemake planned it), when all its outputs are there and no older than it. An active entry
        the scheduler no longer runs is marked (superseded when it gave no word)."""
        finished = next((e for e in reversed(self.finished_while_away) if e.is_job(key, name, outputs)), None)
        if finished is not None:
            self.finished_while_away.remove(finished)
            self.fetch(outputs)
            if outputs_written_by(finished, outputs):
                return finished, True, "finished while no controller ran"
        candidates = self.left_active().get(key, []) if key else [
            e for entries in self.left_active().values() for e in entries if e.is_job(key, name, outputs)]
        if not candidates:
            return None
        entry = candidates[-1]  # the latest; taken out either way: adopted now, or marked below
        for entries in self.left_active().values():
            if entry in entries:
                entries.remove(entry)
        try:
            status = self.statuses_of({entry.external_id: {"log_path": entry.log_path}})
        except RuntimeError:
            status = {}
        state = status.get(entry.external_id)
        if state is not None and state.state not in DECIDED:
            state = None
        if state is not None and state.state == SUCCESS:
            self.fetch(outputs)
        if state is not None and (state.state in (QUEUED, RUNNING) and not state.never_runs
                                  or state.state == SUCCESS and outputs_written_by(entry, outputs)):
            how = "has just finished" if state.state == SUCCESS else f"is still {state.state}"
            return entry, state.state == SUCCESS, how
        self.update(entry.external_id, "superseded" if state is None else state.state,
                    None if state is None else state.exit_code, name=entry.name)
        return None
