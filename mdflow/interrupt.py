"""Ctrl-C, SIGTERM and SIGHUP on the controller: stop what this run started, say so in one line.

`stop_on_signals()` (called by cli.run_snakemake before Snakemake runs) makes the three signals act
alike. The first one:
  * sends SIGTERM to every local job (the process group of each rule's script: its shell, the
    script's Python and anything it started) — segments and stages checkpoint on it — and SIGKILL
    to whatever is left after a grace period ($MDFLOW_STOP_GRACE_S, default 15 s);
  * raises KeyboardInterrupt in the main thread, so Snakemake's scheduler takes its own cancel
    path (`executor.cancel()`: mdflow's batch executor cancels this run's batch jobs);
  * silences Snakemake's log from then on (the killed jobs' RuleException/WorkflowError reports);
    a "Cancelled N … job(s)." line from the executor is folded into mdflow's line.
A second signal while stopping kills the jobs at once, without a traceback. `cli.main` then calls
`interrupted()`, which waits until nothing is left, prints one line and gives the exit code
(128 + signal: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).

Local jobs run in their own session (Snakemake's shell is given `start_new_session`), so a
terminal's Ctrl-C or hangup reaches only the controller, which decides; a job process also dies
with its controller (steps.py sets PR_SET_PDEATHSIG), so a killed controller leaves no orphan.
"""

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time

GRACE_ENV = "MDFLOW_STOP_GRACE_S"
DEFAULT_GRACE_S = 15.0
LOCAL_JOB_ENV = "MDFLOW_LOCAL_JOB"  # set for job processes this controller starts itself (not batch jobs)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP, terminal closed"}
CANCELLED = re.compile(r"^Cancelled \d+ .*jobs?\b")  # mdflow's batch executor: "Cancelled 2 slurm job(s)."


class Interrupted(KeyboardInterrupt):
    """A stop signal reached the controller (raised in its main thread)."""


def grace_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(GRACE_ENV, DEFAULT_GRACE_S)))
    except ValueError:
        return DEFAULT_GRACE_S


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class Stopper:
    """The state of one controller run: its local job processes and whether a stop signal came."""

    def __init__(self, grace_s: float | None = None):
        self.grace_s = grace_seconds() if grace_s is None else grace_s
        self.signum = None
        self.lock = threading.RLock()
        self.jobs = []          # Popen of local job processes, each leading its own session/group
        self.stopped = 0        # local jobs that were running when the signal came
        self.cancelled = []     # the executor's "Cancelled N … job(s)." lines
        self.kill_now = threading.Event()
        self.reaper = None
        self.previous = {}      # signal handlers to put back after a run that was not interrupted
        self.deferring = 0      # > 0 inside signals_deferred(): a first signal waits for the block's end
        self.deferred = None    # that signal

    # --- in job threads: Snakemake's shell starts each local job through this -----------------
    def popen(self, *args, **kwargs):
        with self.lock:
            if self.signum is not None:  # no new job once stopping (Snakemake takes this quietly)
                raise Interrupted()
            kwargs["start_new_session"] = True
            env = kwargs.get("env")
            kwargs["env"] = {**(os.environ if env is None else env), LOCAL_JOB_ENV: "1"}
            process = subprocess.Popen(*args, **kwargs)
            self.jobs = [p for p in self.jobs if p.returncode is None] + [process]
            return process

    # --- in the main thread: the signal handler ------------------------------------------------
    def handle(self, signum, frame=None):
        first = self.signum is None
        if first and self.deferring and self.deferred is None:  # inside a submission: its job id
            self.deferred = signum                               # must reach the ledger first
            return
        if first and self.deferred is not None:  # the block ended, or a second signal: stop now
            self.deferred = None
        if not first:
            self.kill_now.set()  # a second signal: no more grace, and no second exception
            return
        self.signum = signum
        self.stop_jobs()
        raise Interrupted()

    def stop_jobs(self) -> None:
        """SIGTERM to every local job's process group, SIGKILL after the grace period (once)."""
        with self.lock:
            if self.reaper is not None:
                return
            groups = [p.pid for p in self.jobs if _group_alive(p.pid)]
            self.stopped = len(groups)
            for pgid in groups:
                _signal_group(pgid, signal.SIGTERM)
            self.reaper = threading.Thread(target=self._reap, args=(groups,), name="mdflow-stop", daemon=True)
            self.reaper.start()

    def _reap(self, groups: list) -> None:
        deadline = time.monotonic() + self.grace_s
        while True:
            groups = [g for g in groups if _group_alive(g)]
            if not groups:
                return
            if self.kill_now.is_set() or time.monotonic() >= deadline:
                for pgid in groups:
                    _signal_group(pgid, signal.SIGKILL)
                deadline = float("inf")
                self.kill_now.clear()
            self.kill_now.wait(0.05)

    def wait_stopped(self) -> None:
        if self.reaper is not None:
            self.reaper.join()

    def line(self) -> str:
        n = self.stopped
        parts = [f"stopped {n} running job{'' if n == 1 else 's'}."] if n else []
        parts += [c if c.endswith(".") else c + "." for c in self.cancelled]
        if not parts:
            parts = ["nothing was running."]
        return f"mdflow: interrupted ({NAMES.get(self.signum, f'signal {self.signum}')}): " \
               f"{' '.join(parts)} Rerun mdflow to continue."


class _QuietAfterStop(logging.Filter):
    """Once stopping, Snakemake's reports about the jobs mdflow killed are noise: drop them, keep the
    executor's "Cancelled …" line for mdflow's own line, and let warnings about a failed cancel through."""

    def filter(self, record) -> bool:
        stopper = _current
        if stopper is None or stopper.signum is None:
            return True
        try:
            message = str(record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed record is dropped like the rest
            return False
        if CANCELLED.match(message):
            stopper.cancelled.append(message.strip())
            return False
        return record.levelno >= logging.WARNING and "cancel" in message.lower() and "Traceback" not in message


_current: Stopper | None = None
@contextlib.contextmanager
def signals_deferred():
    """A block a stop signal must not cut in two: a batch submission and the ledger record of its job
    id (cut between them, the job would run on, unknown to the ledger and never cancelled). A signal
    that comes meanwhile takes effect when the block ends; a second one still stops at once."""
    stopper = _current
    if stopper is None or threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: elsewhere nothing can cut the block
        return
    stopper.deferring += 1
    try:
        yield
    finally:
        stopper.deferring -= 1
        if not stopper.deferring and stopper.deferred is not None:
            signum, stopper.deferred = stopper.deferred, None
            stopper.handle(signum)


def stop_pending() -> bool:
    """A stop signal is waiting for a deferred block to end (a submission should not wait to retry)."""
    return _current is not None and _current.deferred is not None


_patched = False


def current() -> Stopper | None:
    return _current


def stop_on_signals() -> Stopper | None:
    """Install the handlers for this controller run (main thread only; elsewhere nothing changes)."""
    global _current
    if threading.current_thread() is not threading.main_thread():
        return None
    stopper = Stopper()
    for signum in SIGNALS:
        previous = signal.getsignal(signum)
        if previous == signal.SIG_IGN:  # e.g. `nohup mdflow`, or `mdflow &` from a script: keep ignoring it
            continue
        stopper.previous[signum] = previous
        signal.signal(signum, stopper.handle)
    _current = stopper
    _patch_snakemake()
    return stopper


def _restore(stopper: Stopper) -> None:
    for signum, previous in stopper.previous.items():
        try:
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        except (ValueError, TypeError):
            pass
    stopper.previous = {}


def _patch_snakemake() -> None:
    """Once per process: route Snakemake's local job processes, its SIGTERM handler and the end of its
    scheduling through the current Stopper."""
    global _patched
    if _patched:
        return
    import importlib

    from snakemake.logging import logger
    from snakemake.scheduling.job_scheduler import JobScheduler

    class _Subprocess:  # snakemake.shell's `sp`, with Popen going through the Stopper
        def __getattr__(self, name):
            return getattr(subprocess, name)

        @staticmethod
        def Popen(*args, **kwargs):  # noqa: N802 - subprocess's name
            stopper = _current
            return stopper.popen(*args, **kwargs) if stopper else subprocess.Popen(*args, **kwargs)

    importlib.import_module("snakemake.shell").sp = _Subprocess()  # (`snakemake.shell` may name the class)

    def exit_gracefully(self, signum=signal.SIGTERM, frame=None):
        # Snakemake's own SIGTERM handler means "finish the running jobs" (hours with batch jobs)
        if _current is not None:
            _current.handle(signum, frame)
        else:
            raise KeyboardInterrupt

    JobScheduler.exit_gracefully = exit_gracefully
    schedule = JobScheduler.schedule

    def schedule_then_stop(self):
        # Snakemake's scheduler answers KeyboardInterrupt by cancelling its executor's jobs and
        # returning False ("failed"): turn that back into the interrupt for cli.main
        try:
            success = schedule(self)
        finally:
            stopper = _current
        if stopper is not None and stopper.signum is not None:
            raise Interrupted()
        if stopper is not None:
            _restore(stopper)
        return success

    JobScheduler.schedule = schedule_then_stop
    logger.addFilter(_QuietAfterStop())

    default_hook = threading.excepthook

    def quiet_threads(args):  # a thread that fails because its job was killed: not worth a traceback
        if _current is not None and _current.signum is not None:
            return
        default_hook(args)

    threading.excepthook = quiet_threads
    _patched = True


def interrupted(signum: int | None = None) -> int:
    """For cli.main's KeyboardInterrupt branch: wait until this run's jobs are gone, print the one
    line, return the exit code. A plain Ctrl-C before the handlers were installed is reported too."""
    stopper = _current
    if stopper is None or stopper.signum is None:
        signum = signum or signal.SIGINT
        _say(f"mdflow: interrupted ({NAMES.get(signum, signum)}) before any job started. Rerun mdflow to continue.")
        return 128 + signum
    stopper.stop_jobs()  # done already, unless a second signal cut the first one's handler short
    stopper.wait_stopped()
    _say(stopper.line())
    return 128 + stopper.signum


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # the terminal is gone (SIGHUP) or stderr closed
        pass
