"""Fault-injection hook for tests/faults: freeze one mdflow step at an exact point so a test can kill it there.

Put this directory on PYTHONPATH (Python imports `sitecustomize` at start-up in every process,
including the job processes Snakemake starts for `script:` rules and the ones inside batch jobs)
and set
    MDFLOW_FAULT_HOLD=<step>:<n>      e.g. "pull:1" — the step as mdflow.steps.run names it
    MDFLOW_FAULT_HOLD_MARK=<file>     created (with the pid and the file being written) once held
The n-th atomic rename (mdflow.io_atomic: temp file written and fsynced, not yet renamed to its
final name) inside that step then blocks forever, until the test kills the process. Only the first
process to reach the point holds (the mark is created exclusively); later ones run normally.
Without MDFLOW_FAULT_HOLD nothing is imported or changed; nor in a Python without mdflow (the
scheduler emulators' commands run under the system python3).
"""

import importlib.util
import os

_SPEC = os.environ.get("MDFLOW_FAULT_HOLD")
if _SPEC and importlib.util.find_spec("mdflow") is not None:
    import json
    import threading

    import mdflow.io_atomic as _io
    import mdflow.steps as _steps

    _target, _, _n = _SPEC.partition(":")
    _wanted = int(_n or 1)
    _current = {"step": None, "renames": 0}
    _real_run, _real_rename = _steps.run, _io._fsync_and_rename

    def _run(step, smk):
        _current["step"] = step
        return _real_run(step, smk)

    def _fsync_and_rename(tmp, path):
        if _current["step"] == _target:
            _current["renames"] += 1
            if _current["renames"] == _wanted:
                mark = os.environ["MDFLOW_FAULT_HOLD_MARK"]
                try:
                    fd = os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    fd = None
                if fd is not None:
                    os.write(fd, json.dumps({"pid": os.getpid(), "step": _target, "temp": str(tmp),
                                             "final": str(path)}).encode())
                    os.close(fd)
                    threading.Event().wait()  # held until killed
        return _real_rename(tmp, path)

    _steps.run = _run
    _io._fsync_and_rename = _fsync_and_rename
