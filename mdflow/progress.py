"""What a run prints: a one-line campaign summary whenever it changes, and how much of Snakemake's.

A daemon thread in the controller polls `status.collect` (files + ledger, no scheduler query)
every few seconds. On for people at a terminal only: off when stderr is not a TTY, when $CI is
set, for dry runs and DAG output, with `--quiet all`, or with MDFLOW_PROGRESS=0;
MDFLOW_PROGRESS=1 turns it on without a TTY or in CI, but not against quiet. `mdflow -q` keeps it.

`mdflow -q` hides Snakemake's chatter (banner, "Building DAG of jobs...", job blocks, step counts,
job-stats tables): Snakemake's own `--quiet progress host` drops its progress, stats and banner
events; `SnakemakeOutput` (a filter on Snakemake's logger) drops what Snakemake cannot tell apart
from errors or logs as plain text. Errors and warnings always pass.
"""

import contextlib
import logging
import os
import sys
import threading

from mdflow import status

POLL_S = 5.0


def progress_enabled(environ, stream, quiet: bool = False) -> bool:
    forced = environ.get("MDFLOW_PROGRESS", "")
    if forced == "0" or quiet:
        return False
    if forced == "1":
        return True
    in_ci = environ.get("CI", "").lower() not in ("", "0", "false")
    is_tty = bool(getattr(stream, "isatty", None)) and stream.isatty()
    return is_tty and not in_ci


class ProgressDisplay:
    """Prints `status.summary_line` to `stream` each time it differs from the last one printed."""

    def __init__(self, project, campaign, site_name, scratch, stream, poll_s=POLL_S):
        self.args = (project, campaign, site_name, scratch)
        self.stream = stream
        self.poll_s = poll_s
        self.last = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="mdflow-progress", daemon=True)

    def current_line(self) -> str:
        # This process holds the controller lock, so there is no need to probe it.
        return status.summary_line(status.collect(*self.args, controller=status.Controller(True, os.getpid())))

    def show_if_changed(self) -> None:
        line = self.current_line()
        if line != self.last:
            print(line, file=self.stream, flush=True)
            self.last = line

    def _loop(self):
        while not self.stopped.is_set():
            try:
                self.show_if_changed()
            except Exception as error:  # noqa: BLE001 - a display must never take the run down
                print(f"mdflow: progress display stopped ({type(error).__name__}: {error})", file=self.stream)
                return
            self.stopped.wait(self.poll_s)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=self.poll_s + 5)


@contextlib.contextmanager
def show_progress(project, campaign, site_name, scratch, quiet=False, stream=None, environ=None, poll_s=POLL_S):
    """Run the display around the block when `progress_enabled`; print the final line at a clean exit."""
    stream = sys.stderr if stream is None else stream
    if not progress_enabled(os.environ if environ is None else environ, stream, quiet):
        yield None
        return
    display = ProgressDisplay(project, campaign, site_name, scratch, stream, poll_s)
    display.start()
    try:
        yield display
    finally:
        display.stop()
    with contextlib.suppress(Exception):
        display.show_if_changed()


# -- how much of Snakemake's output a run shows -------------------------------------------------------

# `mdflow -q` asks Snakemake for these (its bare `--quiet` means progress+rules, and a dry run with
# exactly that set stops before mdflow's dry-run summary; `rules` would hide job errors too).
SNAKEMAKE_QUIET = ("progress", "host")
# Plain-text lines Snakemake logs with no event to tell them by: hidden by -q.
CHATTER = (
    "Assuming unrestricted shared filesystem usage.",
    "Building DAG of jobs...",
    "Using shell:",
    "Provided cores:",
    "Provided remote nodes:",
    "Provided resources:",
    "Rules claiming more threads will be scaled down.",
    "Select jobs to execute...",
    "host:",
    "Complete log(s):",
    "Elapsed time:",
    "Reasons:",
    "This was a dry-run (flag -n).",
    "The run involves checkpoint jobs",
)
# Events of jobs starting and running (Snakemake files them with job errors under `--quiet rules`).
JOB_CHATTER_EVENTS = {"job_info", "group_info", "job_started", "shellcmd"}
# Always hidden: mdflow itself passes --config values on every run.
NOISE = ("by additional config specified via the command line.",)


class SnakemakeOutput(logging.Filter):
    """Drops Snakemake's INFO chatter under quiet (in a dry run the job listing stays: mdflow's
    --list-jobs/--system decide it), and its "Config file … is extended" line always."""

    def __init__(self, quiet: bool, dryrun: bool):
        super().__init__()
        self.quiet, self.dryrun = quiet, dryrun

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if record.levelno >= logging.WARNING:
            return True
        if message.endswith(NOISE):
            return False
        if not self.quiet:
            return True
        event = getattr(record, "event", None)
        if event is not None:
            return self.dryrun or str(event) not in JOB_CHATTER_EVENTS
        return not message.startswith(CHATTER)


@contextlib.contextmanager
def snakemake_output(quiet: bool, dryrun: bool):
    """`SnakemakeOutput` on Snakemake's logger for the block (its handlers are made inside it)."""
    from snakemake.logging import logger

    chosen = SnakemakeOutput(quiet, dryrun)
    logger.addFilter(chosen)
    try:
        yield chosen
    finally:
        logger.removeFilter(chosen)
