"""One mdflow controller per project, and recovery from a killed one.

Snakemake leaves its locks in .snakemake/locks when it is SIGKILLed, and the next run then refuses
to start. mdflow holds an flock on LOCK_FILE (.mdflow/controller.lock) for the whole run; the kernel drops it
when the process dies. So whoever gets that lock knows every Snakemake lock left in the project is
stale and may remove it, and so is every half-done fetch from a remote site (.mdflow/.incoming-*:
nothing in it was placed, it is fetched again).
"""

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from mdflow.errors import MdflowError
from mdflow.project_files import INCOMING_PREFIX, LOCK_FILE, STATE_DIR


@contextlib.contextmanager
def controller_lock(project: Path):
    lock_path = project / LOCK_FILE
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise MdflowError(
                f"another mdflow run (pid {holder}) is active in {project}; wait for it or stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        for stale in (project / ".snakemake" / "locks").glob("*.lock"):
            stale.unlink(missing_ok=True)
        for stale in (project / STATE_DIR).glob(f"{INCOMING_PREFIX}*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        yield
    finally:
        handle.close()
