"""A one-line campaign summary printed while `mdflow` runs, whenever it changes.

A daemon thread in the controller polls `status.collect` (files + ledger, no scheduler query)
every few seconds. On for people at a terminal only: off when stderr is not a TTY, when $CI is
set, with Snakemake's --quiet (the CLI also passes quiet for dry runs and DAG output), or with
MDFLOW_PROGRESS=0; MDFLOW_PROGRESS=1 turns it on without a TTY or in CI, but not against quiet.
"""

import contextlib
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
