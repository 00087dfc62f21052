"""Slurm adapter: #SBATCH directives, sbatch/squeue/scontrol/sacct/scancel.

Status per poll: ONE `squeue --states=all` for all of this run's jobs on the site; it also lists
jobs that finished within MinJobAge, with their raw exit status. Only jobs Slurm no longer lists
(older than MinJobAge) need more: one `sacct` for all of them when accounting works, else
`scontrol show job` per such job.
"""

import re
import shutil

from mdflow.executors.adapter import (
    classify_by_patterns,
    FAILED, QUEUED, RUNNING, SUCCESS,
    JobRequest, JobStatus, format_walltime,
)

NAME = "slurm"
TEMPLATE = "slurm.sh.j2"
COMMANDS = ("sbatch", "squeue", "scancel")  # must be on PATH for a real run (submit, status, cancel)

ACTIVE = {"PENDING": QUEUED, "CONFIGURING": QUEUED, "REQUEUED": QUEUED, "REQUEUE_HOLD": QUEUED,
          "REQUEUE_FED": QUEUED, "RESV_DEL_HOLD": QUEUED, "SUSPENDED": RUNNING, "STOPPED": RUNNING,
          "RUNNING": RUNNING, "COMPLETING": RUNNING, "SIGNALING": RUNNING, "STAGE_OUT": RUNNING,
          "RESIZING": RUNNING}
TERMINAL_FAILED = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                   "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT"}

TRANSIENT_PATTERNS = ("Socket timed out", "temporarily unable to accept job", "Unable to contact slurm controller",
                      "Connection refused", "Zero Bytes were transmitted", "Slurm is busy")
LIMIT_PATTERNS = ("QOSMaxSubmitJobPerUserLimit", "AssocMaxSubmitJobLimit", "MaxSubmitJobsPerUser",
                  "QOSMaxSubmitJobPerAccountLimit", "AssocGrpSubmitJobsLimit")


def directives(request: JobRequest) -> list[str]:
    lines = [f"--job-name={request.name}", f"--time={format_walltime(request.walltime_min)}",
             f"--nodes={request.nodes}", f"--ntasks={request.tasks}", f"--cpus-per-task={request.cpus_per_task}",
             f"--output={request.log_path}", f"--chdir={request.workdir}"]
    if request.queue:
        lines.append(f"--partition={request.queue}")
    if request.account:
        lines.append(f"--account={request.account}")
    if request.mem_mb:
        lines.append(f"--mem={request.mem_mb}M")
    if request.gpus:
        lines.append(f"--gpus={request.gpus}")
    lines.extend(request.extra)
    return lines


def submit_argv(script: str) -> list[str]:
    return ["sbatch", "--parsable", script]


def parse_submit(stdout: str) -> str:
    """`sbatch --parsable` prints `ID` or `ID;cluster`, possibly after warnings."""
    for line in reversed(stdout.strip().splitlines()):
        match = re.fullmatch(r"(\d+)(?:;\S+)?", line.strip())
        if match:
            return match.group(1)
    raise ValueError(f"no job id in sbatch output {stdout!r}")


def classify_submit_error(text: str) -> str:
    return classify_by_patterns(text, LIMIT_PATTERNS, TRANSIENT_PATTERNS)


def squeue_argv(ids: list[str]) -> list[str]:
    return ["squeue", "--noheader", "--states=all", "--Format=JobID:|,State:|,Reason:|,exit_code:|",
            f"--jobs={','.join(ids)}"]


def _from_wait_status(raw: str) -> int:
    """squeue's exit_code is a wait(2) status: exit code in the high byte, signal in the low bits."""
    status = int(raw or 0)
    return status >> 8 if status & 0x7F == 0 else 128 + (status & 0x7F)


def parse_squeue(returncode: int, stdout: str, stderr: str) -> dict[str, JobStatus]:
    """Active jobs by id; terminal states shown in the queue are reported as such (exit unknown).

    `squeue -j ONE_ID` exits 1 with 'Invalid job id specified' once the job left the queue: that is
    a real answer (the job is gone), not a failed query. Any other failure raises RuntimeError.
    """
    if returncode != 0:
        if "Invalid job id specified" in stderr:
            return {}
        raise RuntimeError(f"squeue exited {returncode}: {stderr.strip()[:200]}")
    statuses = {}
    for line in stdout.splitlines():
        parts = [p.strip() for p in line.strip().rstrip("|").split("|")]
        if len(parts) != 4 or not parts[0].isdigit() or not re.fullmatch(r"-?\d*", parts[3]):
            raise RuntimeError(f"garbled squeue line {line!r}")
        job_id, state, reason, raw_exit = parts
        state = state.split()[0] if state else ""
        if state in ACTIVE:
            statuses[job_id] = JobStatus(ACTIVE[state], reason=reason)
        elif state == "COMPLETED":
            statuses[job_id] = JobStatus(SUCCESS, _from_wait_status(raw_exit))
        elif state in TERMINAL_FAILED:
            statuses[job_id] = JobStatus(FAILED, _from_wait_status(raw_exit) or 1, reason=state)
        else:
            raise RuntimeError(f"unknown Slurm state {state!r} in {line!r}")
    return statuses


def sacct_argv(ids: list[str]) -> list[str]:
    return ["sacct", "--noheader", "--parsable2", "--allocations", "--format=JobIDRaw,State,ExitCode",
            f"--jobs={','.join(ids)}"]


def _terminal(state: str, exit_code: str) -> JobStatus | None:
    state = state.split()[0]  # 'CANCELLED by 1000'
    code, _, signal = exit_code.partition(":")
    if state == "COMPLETED":
        return JobStatus(SUCCESS, int(code or 0))
    if state in TERMINAL_FAILED:
        number = int(code or 0) or (128 + int(signal) if signal and signal != "0" else 1)
        return JobStatus(FAILED, number, reason=state)
    if state in ACTIVE:
        return JobStatus(ACTIVE[state])
    return None


def parse_sacct(stdout: str) -> dict[str, JobStatus]:
    statuses = {}
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3:
            continue
        status = _terminal(parts[1], parts[2])
        if status is not None and "." not in parts[0]:
            statuses[parts[0]] = status
    return statuses


def scontrol_argv(job_id: str) -> list[str]:
    return ["scontrol", "--oneliner", "show", "job", job_id]


def parse_scontrol(stdout: str) -> dict[str, JobStatus]:
    """`scontrol -o show job` lines: JobId=12 … JobState=COMPLETED Reason=None … ExitCode=0:0 …"""
    statuses = {}
    for line in stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" not in fields or "JobState" not in fields:
            continue
        status = _terminal(fields["JobState"], fields.get("ExitCode", "0:0"))
        if status is not None:
            statuses[fields["JobId"]] = status
    return statuses


def poll(ids: list[str], run, jobs: dict, state: dict) -> dict[str, JobStatus]:
    """Status of `ids`; `run(argv)` runs a command and returns a CompletedProcess; `jobs[id]` holds
    what the executor knows of each job (e.g. 'log_path'); `state` is this adapter's cache.

    Ids missing from the result are undecided (still waiting). Raises RuntimeError when the
    scheduler gave no usable answer (the caller retries later, never fails a job on it).
    """
    if not ids:
        return {}
    answer = run(squeue_argv(ids))
    statuses = parse_squeue(answer.returncode, answer.stdout, answer.stderr)
    gone = [i for i in ids if i not in statuses]
    if not gone:
        return statuses
    if "accounting" not in state:
        state["accounting"] = shutil.which("sacct") is not None and has_accounting(run)
    if state["accounting"]:
        answer = run(sacct_argv(gone))
        if answer.returncode != 0:
            raise RuntimeError(f"sacct exited {answer.returncode}: {answer.stderr.strip()[:200]}")
        statuses.update(parse_sacct(answer.stdout))
    else:
        for job_id in gone:
            answer = run(scontrol_argv(job_id))
            if answer.returncode == 0:
                statuses.update(parse_scontrol(answer.stdout))
            elif "Invalid job id" not in answer.stderr:
                raise RuntimeError(f"scontrol exited {answer.returncode}: {answer.stderr.strip()[:200]}")
    return statuses


def has_accounting(run) -> bool:
    """Without slurmdbd `sacct` fails (or hangs, with some plugins): ask scontrol for the storage type."""
    answer = run(["scontrol", "show", "config"])
    match = re.search(r"AccountingStorageType\s*=\s*(\S+)", answer.stdout)
    return answer.returncode == 0 and bool(match) and match.group(1) != "accounting_storage/none"


def cancel_argv(ids: list[str]) -> list[str]:
    return ["scancel", *ids]


def count_user_jobs_argv(user: str, queue: str | None) -> list[str]:
    argv = ["squeue", "--noheader", "--format=%i", f"--user={user}", "--states=PENDING,RUNNING,CONFIGURING"]
    return argv + ([f"--partition={queue}"] if queue else [])


def count_user_jobs(returncode: int, stdout: str, stderr: str) -> int:
    """Lines of `squeue --format=%i` for the user's pending/running jobs; a failed query raises."""
    if returncode != 0:
        raise RuntimeError(f"squeue exited {returncode}: {stderr.strip()[:200]}")
    ids = stdout.split()
    if not all(i.replace("_", "").replace("[", "").replace("]", "").replace("-", "").isdigit() for i in ids):
        raise RuntimeError("garbled squeue output")
    return len(ids)


def find_by_name_argv(name: str, user: str) -> list[str]:
    """All states: a short job may already have finished (Slurm keeps it MinJobAge) by the time a
    timed-out submission is looked up; the work directory tells this project's job from another's."""
    return ["squeue", "--noheader", "--states=all", "--format=%i|%Z", f"--name={name}", f"--user={user}"]


def parse_find_by_name(stdout: str, workdir: str) -> list[str]:
    """Ids (oldest first) of the `find_by_name_argv` jobs that run in `workdir`; garbage raises ValueError."""
    ids = []
    for line in stdout.splitlines():
        job_id, _, directory = line.strip().partition("|")
        if not re.fullmatch(r"\d+", job_id) or not directory:
            raise ValueError(f"garbled squeue line {line!r}")
        if directory == workdir:
            ids.append(job_id)
    return sorted(ids, key=int)
