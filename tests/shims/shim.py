#!/usr/bin/env python3
"""A wrapper for scheduler commands (sbatch, squeue, qsub, ...) used by tests and benchmarks.

Install it with `install(bin_dir, names)`: a symlink per command name points here. Each call is
appended to $SHIM_LOG ("<command> <args>") and then forwarded to the real command (the next one
on PATH after the shim's directory), unless $SHIM_PLAN (a JSON file) says this call fails:
    {"sbatch": {"fail_calls": [1], "stderr": "Socket timed out on send/recv operation", "code": 1},
     "squeue": {"garble_calls": [2, 4], "fail_calls": [3]}}
Call numbers count from 1 per command (kept in $SHIM_LOG itself).
"""

import json
import os
import sys
from pathlib import Path


def install(bin_dir: Path, names) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = bin_dir / name
        if not link.exists():
            link.symlink_to(Path(__file__).resolve())
    return bin_dir


def real_command(name: str, own_dir: Path) -> str:
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / name
        if directory and Path(directory).resolve() != own_dir and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    sys.exit(f"shim: no real {name} on PATH")


def main() -> None:
    name = Path(sys.argv[0]).name
    own_dir = Path(sys.argv[0]).parent.resolve()
    log = os.environ.get("SHIM_LOG")
    number = 1
    if log:
        with open(log, "a+") as handle:
            handle.seek(0)
            number = 1 + sum(1 for line in handle if line.split(" ", 1)[0] == name)
            handle.write(" ".join([name, *sys.argv[1:]]).replace("\n", " ") + "\n")
    plan_file = os.environ.get("SHIM_PLAN")
    plan = json.loads(Path(plan_file).read_text()).get(name, {}) if plan_file and Path(plan_file).exists() else {}
    if number in plan.get("fail_calls", []):
        sys.stderr.write(plan.get("stderr", f"{name}: error: Socket timed out on send/recv operation") + "\n")
        sys.exit(plan.get("code", 1))
    if number in plan.get("garble_calls", []):
        sys.stdout.write("\x00garbage \ufffd|||\n%%%\n")
        sys.exit(0)
    os.execv(real_command(name, own_dir), [name, *sys.argv[1:]])


if __name__ == "__main__":
    main()
