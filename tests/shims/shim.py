#!/usr/bin/env python3
"""A wrapper for scheduler commands (sbatch, squeue, qsub, ...) used by tests and benchmarks.

Install it with `install(bin_dir, names)`: a symlink per command name points here. Each call is
appended to $SHIM_LOG ("<command> <args>") and then forwarded to the real command (the next one
on PATH after the shim's directory), unless $SHIM_PLAN (a JSON file) says this call fails:
    {"sbatch": {"fail_calls": [1], "stderr": "Socket timed out on send/recv operation", "code": 1},
     "squeue": {"garble_calls": [2, 4], "fail_calls": [3]}}
Call numbers count from 1 per command (kept in $SHIM_LOG itself).
Seeded random faults instead of fixed call numbers (the same seed gives the same faults per call
number; fractions of calls, checked in this order):
    {"squeue": {"random": {"seed": 6, "fail": 0.15, "garble": 0.15}},
     "sbatch": {"random": {"seed": 6, "fail": 0.1, "garble": 0.1, "lost_reply": 0.1}}}
A call can also be held until a file exists (to freeze a caller at an exact point):
    {"squeue": {"hold_calls": [1], "hold_until": "/tmp/go"}}
`forget_finished` (squeue, scontrol) hides finished jobs, as a Slurm without accounting does once
MinJobAge has passed: squeue leaves them out (`-j ONE_ID`: "Invalid job id specified", exit 1),
`scontrol show job` answers "Invalid job id specified":
    {"squeue": {"forget_finished": true}, "scontrol": {"forget_finished": true}}
`lost_reply` runs the real command (so a submission really happens) but prints the error instead
of its answer, like a submit that timed out after the scheduler accepted it. Every injected fault
is appended to $SHIM_LOG.faults as "<command> <call number> <fail|garble|lost_reply>".
"""

import json
import os
import random
import subprocess
import sys
import time
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
    fault = random_fault(plan.get("random"), name, number)
    if fault and log:
        with open(log + ".faults", "a") as handle:
            handle.write(f"{name} {number} {fault}\n")
    if number in plan.get("hold_calls", []):
        deadline = time.time() + 600
        while not Path(plan["hold_until"]).exists() and time.time() < deadline:
            time.sleep(0.1)
    error = plan.get("stderr", f"{name}: error: Socket timed out on send/recv operation") + "\n"
    if number in plan.get("fail_calls", []) or fault == "fail":
        sys.stderr.write(error)
        sys.exit(plan.get("code", 1))
    if number in plan.get("garble_calls", []) or fault == "garble":
        sys.stdout.write("\x00garbage \ufffd|||\n%%%\n")
        sys.exit(0)
    if fault == "lost_reply":
        subprocess.run([real_command(name, own_dir), *sys.argv[1:]], capture_output=True)
        sys.stderr.write(error)
        sys.exit(plan.get("code", 1))
    if plan.get("forget_finished"):
        sys.exit(forget_finished(real_command(name, own_dir), name, sys.argv[1:]))
    os.execv(real_command(name, own_dir), [name, *sys.argv[1:]])


FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
            "OUT_OF_MEMORY")


def forget_finished(real: str, name: str, args: list) -> int:
    answer = subprocess.run([real, *args], capture_output=True, text=True)
    asked = [a.split("=", 1)[1] for a in args if a.startswith("--jobs=")]
    if name == "squeue" and asked:
        kept = [line for line in answer.stdout.splitlines(keepends=True)
                if not any(f"|{state}" in line for state in FINISHED)]
        if not kept and answer.returncode == 0 and "," not in asked[0]:
            sys.stderr.write("slurm_load_jobs error: Invalid job id specified\n")
            return 1
        sys.stdout.write("".join(kept))
        sys.stderr.write(answer.stderr)
        return answer.returncode
    if name == "scontrol" and "job" in args and any(f"JobState={state}" in answer.stdout for state in FINISHED):
        sys.stderr.write("slurm_load_jobs error: Invalid job id specified\n")
        return 1
    sys.stdout.write(answer.stdout)
    sys.stderr.write(answer.stderr)
    return answer.returncode


def random_fault(spec: dict | None, name: str, number: int) -> str | None:
    if not spec:
        return None
    draw = random.Random(f"{spec.get('seed', 0)}:{name}:{number}").random()
    for kind in ("fail", "garble", "lost_reply"):
        if draw < spec.get(kind, 0.0):
            return kind
        draw -= spec.get(kind, 0.0)
    return None


if __name__ == "__main__":
    main()
