"""Cobalt adapter (ALCF Theta): #COBALT directives, qsub/qstat/qdel, exit codes from the cobaltlog.

Cobalt forgets a job the moment it has exited: `qstat` no longer lists it and there is no
accounting command to ask. The exit code exists only in the job's `.cobaltlog`, written by the
queue manager:

    Thu Nov 05 17:29:30 2020 +0000 (UTC) Info: task completed normally with an exit code of 0; initiating job cleanup and removal

A job removed with `qdel` gets no such line: a running one ends with `Info: user delete requested
with signal SIGTERM by user U`, a queued one with `Info: user delete requested; removing job from
the queue`, one killed at its walltime with `Info: maximum execution time exceeded; initiating job
termination`. Those are FAILED here with 128+signal (143 for SIGTERM), a code Cobalt never records.

Status per poll: ONE `qstat --header JobID:State ID...` for all of this run's jobs (two columns
without spaces; the parser still cuts rows at the header's column offsets, so an `attrs` column
holding a Python dict with spaces is read right too). Ids missing from the answer are resolved from
their cobaltlog, found next to the job log: `-O PREFIX` makes Cobalt write PREFIX.output,
PREFIX.error and PREFIX.cobaltlog, and PREFIX is the job's log_path without its ".log".
"""

import re
import signal
from pathlib import Path

from mdflow.executors.adapter import (
    FAILED, FATAL, GONE, LIMIT, QUEUED, RUNNING, SUCCESS, TRANSIENT, UNKNOWN, drive,
    GarbledAnswer, JobRequest, JobStatus, QueryFailed, SchedulerAdapter,
)

NAME = "cobalt"
TEMPLATE = "cobalt.sh.j2"
JOB_ID_VAR = "COBALT_JOBID"  # the job's own id, as the scheduler sets it in the job's environment
COMMANDS = ("qsub", "qstat", "qdel")  # must be on PATH for a real run (submit, status, cancel)

# Cobalt job states (cqm's Job.state) onto ours. 'done' never reaches qstat's output.
ACTIVE = {"queued": QUEUED, "user_hold": QUEUED, "admin_hold": QUEUED, "dep_hold": QUEUED, "dep_fail": QUEUED,
          "maxrun_hold": QUEUED, "hold": QUEUED, "preempted": QUEUED,
          "starting": RUNNING, "running": RUNNING, "exiting": RUNNING, "killing": RUNNING,
          "preempting": RUNNING}

# cqm.py Restriction maxqueuedjobs / maxnodehours: counted over the user's queued and running jobs
# in that queue, so both clear as those end.
LIMIT_PATTERNS = (re.compile(r"The limit of \d+ (?:jobs|node hours) per user in the '[^']*' queue has been reached"),)
TRANSIENT_PATTERNS = ("Failed to connect to", "Connection refused", "Connection reset", "timed out",
                      "Temporary failure in name resolution", "[Errno 111]", "[Errno 110]", "[Errno 104]",
                      "Following exception occured", "Following exception occurred", "ComponentLookupError",
                      "Service Unavailable", "ProtocolError")

GARBLED = "garbled"  # key of a qstat row that could not be cut into cells
# States in which a job can never start by itself (cqm.py Job.__get_job_state; ALCF Theta guide).
# user_hold is also what Cobalt sets when a filesystem the job asked for is down (qstat cannot tell
# that hold from the user's own qhold).
NEVER_RUNS = {"dep_fail": "a job it depends on failed; fix that job and rerun",
              "user_hold": "held (by qhold, or by Cobalt because a filesystem it needs was down): "
                           "rerun once the filesystem is back"}
COMPLETED_RE = re.compile(r"task completed normally with an exit code of (\S+?);")
DELETE_RUNNING_RE = re.compile(r"user delete requested with signal (\w+)(?: by user (\S+))?")
DELETE_QUEUED = "user delete requested; removing job from the queue"
FORCED_DELETE_RE = re.compile(r"forced delete requested by user '?([^';]*)'?")
WALLTIME_RE = re.compile(r"maximum execution time exceeded; initiating job termi")
EXEC_FAILURE = "execution failure; initiating job cleanup and removal"


def directives(request: JobRequest) -> list[str]:
    """Words for `#COBALT ` lines. Cobalt splits those lines on whitespace (no quoting), so a value
    with a space cannot be expressed: ValueError. Tasks, CPUs, memory and GPUs have no qsub option
    (the launcher, aprun, places ranks); site options go in request.extra (e.g. '--attrs ...')."""
    prefix = cobalt_prefix(request.log_path)
    lines = [f"-n {request.nodes}", f"-t {request.walltime_min}"]
    if request.queue:
        lines.append(f"-q {request.queue}")
    if request.account:
        lines.append(f"-A {request.account}")
    lines += [f"--cwd {request.workdir}", f"-O {prefix}", f"--jobname {request.name}"]
    lines.extend(request.extra)
    for value in (request.queue, request.account, request.workdir, prefix, request.name):
        if value is not None and re.search(r"\s", str(value)):
            raise ValueError(f"Cobalt directives cannot hold whitespace: {value!r}")
    return lines


def cobalt_prefix(log_path: str) -> str:
    """-O prefix for a job log path: 'logs/x.log' -> 'logs/x'."""
    return log_path[:-4] if log_path.endswith(".log") else log_path


def cobaltlog_path(log_path: str) -> str:
    return cobalt_prefix(log_path) + ".cobaltlog"


def submit_argv(script: str) -> list[str]:
    """Script mode: qsub reads the #COBALT lines right after the #! line (command line wins)."""
    return ["qsub", script]


def parse_submit(stdout: str) -> str:
    """The job id is the last all-digits line; Theta's submit filter may print routing and memory
    mode notes, a filesystems WARNING and 'Setting attrs to: {...}' before it."""
    for line in reversed(stdout.strip().splitlines()):
        if re.fullmatch(r"\d+", line.strip()):
            return line.strip()
    raise GarbledAnswer(f"no job id in qsub output {stdout!r}")


def classify_submit_error(text: str) -> str:
    if any(p.search(text) for p in LIMIT_PATTERNS):
        return LIMIT
    if any(p in text for p in TRANSIENT_PATTERNS):
        return TRANSIENT
    return FATAL


def qstat_argv(ids: list[str]) -> list[str]:
    return ["qstat", "--header", "JobID:State", *ids]


def parse_qstat(text: str) -> dict[str, dict[str, str]]:
    """Rows of a qstat answer by job id, each {header: value}. Reads the tabular layout (cut at
    the header's column offsets: Cobalt pads every cell, so values with spaces, like attrs, stay
    whole) and the vertical `-l` layout ('JobID: N' then '    Key : value'). An answer with a
    header and no rows is {}. Anything else raises ValueError."""
    lines = [line.rstrip("\n") for line in text.splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return {}
    if re.match(r"^\S+: ", lines[0]) and not re.fullmatch(r"=+", (lines[1:2] or [""])[0].strip()):
        return _parse_vertical(lines)
    if len(lines) < 2 or not re.fullmatch(r"=+", lines[1].strip()):
        raise GarbledAnswer(f"no qstat header in {text[:200]!r}")
    header = lines[0]
    columns = [(m.group(0), m.start()) for m in re.finditer(r"\S+", header)]
    names = [name for name, _ in columns]
    id_column = next((i for i, name in enumerate(names) if name.lower() == "jobid"), None)
    if id_column is None:
        raise GarbledAnswer(f"no JobID column in qstat header {header!r}")
    rows = {}
    for line in lines[2:]:
        if not line.strip():
            continue
        starts = [start for _, start in columns]
        # Cells are padded to the column width and followed by two spaces; a stripped trailing
        # empty cell is tolerated, text running across a column boundary is not: such a row is
        # kept as {GARBLED: line} under its id (when the id can be read), so it concerns one job.
        cells = [line[start:(starts[i + 1] if i + 1 < len(starts) else None)].strip()
                 for i, start in enumerate(starts)]
        row = dict(zip(names, cells))
        job_id = row[names[id_column]]
        if not re.fullmatch(r"\d+", job_id):
            job_id = line.split()[id_column] if len(line.split()) > id_column else ""
            if re.fullmatch(r"\d+", job_id):
                rows[job_id] = {GARBLED: line}
            continue
        if any(len(line) > s - 2 and line[s - 2:s].strip() for s in starts[1:]):
            row = {GARBLED: line}
        rows[job_id] = row
    return rows


def _parse_vertical(lines: list[str]) -> dict[str, dict[str, str]]:
    rows, current = {}, None
    for line in lines:
        if not line.strip():
            current = None
            continue
        if not line.startswith(" "):
            key, sep, value = line.partition(":")
            if not sep or not re.fullmatch(r"\d+", value.strip()):
                raise GarbledAnswer(f"garbled qstat -l line {line!r}")
            current = {key.strip(): value.strip()}
            rows[value.strip()] = current
            continue
        key, sep, value = line.partition(":")
        if current is None or not sep:
            raise GarbledAnswer(f"garbled qstat -l line {line!r}")
        current[key.strip()] = value.strip()
    return rows


def parse_qstat_answer(returncode: int, stdout: str, stderr: str) -> dict[str, dict[str, str]]:
    """qstat with job ids exits 1, printing nothing at all, when none of them is in the queue any
    more: that is an answer (all gone). Any other failure or unreadable output: RuntimeError."""
    if returncode != 0:
        if returncode == 1 and not stdout.strip() and not stderr.strip():
            return {}
        raise QueryFailed(f"qstat exited {returncode}: {(stderr or stdout).strip()[:200]}")
    try:
        return parse_qstat(stdout)
    except ValueError as exc:
        raise QueryFailed(str(exc)) from None


def _state_of(row: dict[str, str]) -> str:
    for key, value in row.items():
        if key.lower() == "state":
            return value
    raise QueryFailed(f"no State in qstat row {row!r}")


def status_from_cobaltlog(text: str) -> JobStatus | None:
    """The final status a cobaltlog records, or None while it records none (the last event wins:
    a task that ended while a delete was pending still gets its completion line)."""
    final = None
    for line in text.splitlines():
        match = COMPLETED_RE.search(line)
        if match:
            code = match.group(1)
            if code.lstrip("-").isdigit():
                final = JobStatus(SUCCESS if int(code) == 0 else FAILED, int(code))
            else:
                final = JobStatus(FAILED, None, reason=f"Cobalt recorded exit code {code}")
            continue
        match = DELETE_RUNNING_RE.search(line)
        if match:
            signame = match.group(1)
            number = getattr(signal, signame, None) if signame.startswith("SIG") else None
            code = 128 + int(number) if number is not None else 143
            who = f" by user {match.group(2)}" if match.group(2) else ""
            final = JobStatus(FAILED, code, reason=f"deleted with {signame}{who}")
            continue
        if DELETE_QUEUED in line:
            final = JobStatus(FAILED, 143, reason="deleted from the queue before it started")
            continue
        match = FORCED_DELETE_RE.search(line)
        if match:
            final = JobStatus(FAILED, 137, reason=f"forcibly deleted by user {match.group(1)}")
            continue
        if WALLTIME_RE.search(line):
            final = JobStatus(FAILED, 143, reason="walltime exceeded")
            continue
        if EXEC_FAILURE in line:
            final = JobStatus(FAILED, 1, reason="execution failure")
    return final


def exit_code_from_cobaltlog(text: str) -> int | None:
    """The job's exit code per its cobaltlog; 128+signal for deleted or walltime-killed jobs;
    None while the log records no end (or Cobalt could not obtain the code)."""
    status = status_from_cobaltlog(text)
    return status.exit_code if status else None


def statuses_from_rows(rows: dict, ids: list[str]) -> dict[str, JobStatus]:
    """Statuses of the `ids` qstat listed (`parse_qstat` rows); an unknown state or a garbled row
    makes that one job UNKNOWN."""
    statuses = {}
    for job_id in ids:
        row = rows.get(job_id)
        if row is None:
            continue
        if GARBLED in row:
            statuses[job_id] = JobStatus(UNKNOWN, reason=f"garbled qstat row {row[GARBLED][:120]!r}")
            continue
        try:
            cobalt_state = _state_of(row)
        except RuntimeError as error:
            statuses[job_id] = JobStatus(UNKNOWN, reason=str(error))
            continue
        if cobalt_state not in ACTIVE:
            statuses[job_id] = JobStatus(UNKNOWN, reason=f"unknown Cobalt state {cobalt_state!r}")
        elif cobalt_state in NEVER_RUNS:
            statuses[job_id] = JobStatus(QUEUED, reason=f"Cobalt state {cobalt_state}: {NEVER_RUNS[cobalt_state]}",
                                         never_runs=True)
        else:
            statuses[job_id] = JobStatus(ACTIVE[cobalt_state], reason=cobalt_state)
    return statuses


def poll(ids: list[str], run, jobs: dict, state: dict) -> dict[str, JobStatus]:
    """Status of `ids` (see slurm.poll for the contract). One qstat per poll; jobs it no longer
    lists are read from their cobaltlog and stay undecided until that records an end."""
    if not ids:
        return {}
    return drive(status_steps(ids, jobs), run)


def status_steps(ids: list[str], jobs: dict):
    """One qstat (adapter.SchedulerAdapter.status_steps), then the cobaltlogs (files, no command)
    of the jobs it no longer lists."""
    answer = yield qstat_argv(ids)
    return statuses_with_logs(parse_qstat_answer(answer.returncode, answer.stdout, answer.stderr), ids, jobs)


def statuses_with_logs(rows: dict, ids: list[str], jobs: dict) -> dict[str, JobStatus]:
    """Statuses of `ids` from qstat's rows; a job qstat no longer lists is GONE unless its cobaltlog
    (next to `jobs[id]['log_path']`) records its end."""
    statuses = statuses_from_rows(rows, ids)
    for job_id in ids:
        if job_id in rows:
            continue
        log_path = (jobs.get(job_id) or {}).get("log_path")
        status = None
        if log_path:
            try:
                status = status_from_cobaltlog(Path(cobaltlog_path(log_path)).read_text(errors="replace"))
            except FileNotFoundError:
                pass
        # Cobalt forgets a job as it exits: gone from qstat with no end in its cobaltlog (yet)
        statuses[job_id] = status or JobStatus(GONE, reason="Cobalt no longer lists the job and its cobaltlog records no end")
    return statuses


def cancel_argv(ids: list[str]) -> list[str]:
    return ["qdel", *ids]


# qstat cannot select by job name, and its table has a two-line header: these commands filter it
# with awk so that, like squeue --noheader --format=%i, stdout holds job ids only. qstat's own exit
# status is kept (a failed query must not read as "no such job").
_IDS_WHERE = ('out=$(qstat -u "$1" --header "$2") || exit $?; '
              'printf "%s\\n" "$out" | awk -v want="$3" \'NR > 2 && (want == "" || $2 == want) {print $1}\'')


def count_user_jobs_argv(user: str, queue: str | None) -> list[str]:
    """USER's jobs still in the queue (queued, held, starting, running, exiting), of QUEUE if given:
    one id per line."""
    return ["sh", "-c", _IDS_WHERE, "qstat-ids", user, "JobID:Queue:State", queue or ""]


def count_user_jobs(returncode: int, stdout: str, stderr: str) -> int:
    if returncode != 0:
        raise QueryFailed(f"qstat exited {returncode}: {stderr.strip()[:200]}")
    return len(stdout.split())


# The header and USER's rows for jobs named NAME, whole (OutputDir, the directory qsub ran the job
# in, may hold blanks): parse_find_by_name keeps those of this project.
_ROWS_NAMED = ('out=$(qstat -u "$1" --header JobID:JobName:OutputDir) || exit $?; '
               'printf "%s\\n" "$out" | awk -v want="$2" \'NR <= 2 || $2 == want\'')


def find_by_name_argv(name: str, user: str) -> list[str]:
    """USER's queued and running jobs named NAME (qsub --jobname); a job that is done has left
    qstat: `submitted_ids_in_log` finds that one."""
    return ["sh", "-c", _ROWS_NAMED, "qstat-named", user, name]


def parse_find_by_name(stdout: str, workdir: str) -> list[str]:
    """Ids (oldest first) of the `find_by_name_argv` jobs that run in `workdir`; garbage raises ValueError."""
    rows = parse_qstat(stdout)
    return sorted((job_id for job_id, row in rows.items() if row.get("OutputDir") == workdir), key=int)


def submitted_ids_in_log(log_path: str) -> list[str]:
    """Job ids in the cobaltlog of LOG_PATH ('Jobid: N', written by qsub when it submits), oldest
    first; [] when there is none. The log lies in this project, so its jobs are this project's."""
    try:
        text = Path(cobaltlog_path(log_path)).read_text(errors="replace")
    except OSError:
        return []
    return re.findall(r"^Jobid: (\d+)$", text, flags=re.MULTILINE)


def log_files(log_path: str) -> list[str]:
    """Cobalt's -O PREFIX writes PREFIX.output, PREFIX.error and PREFIX.cobaltlog."""
    prefix = log_path[:-4] if log_path.endswith(".log") else log_path
    return [f"{prefix}.output", f"{prefix}.error", f"{prefix}.cobaltlog"]


# ---------------------------------------------------------------------------------- the contract


class CobaltAdapter(SchedulerAdapter):
    NAME, TEMPLATE, JOB_ID_VAR, COMMANDS = NAME, TEMPLATE, JOB_ID_VAR, COMMANDS

    directives = staticmethod(directives)
    submit_argv = staticmethod(submit_argv)
    parse_submit = staticmethod(parse_submit)
    classify_submit_error = staticmethod(classify_submit_error)
    cancel_argv = staticmethod(cancel_argv)
    count_user_jobs_argv = staticmethod(count_user_jobs_argv)
    count_user_jobs = staticmethod(count_user_jobs)
    find_by_name_argv = staticmethod(find_by_name_argv)
    parse_find_by_name = staticmethod(parse_find_by_name)
    submitted_ids_in_log = staticmethod(submitted_ids_in_log)
    log_files = staticmethod(log_files)

    def status_argv(self, ids):
        return qstat_argv(ids)

    def parse_status(self, returncode, stdout, stderr, ids):
        """qstat's rows only; the jobs it no longer lists are left out (status_steps reads their cobaltlogs)."""
        return statuses_from_rows(parse_qstat_answer(returncode, stdout, stderr), ids)

    def status_steps(self, ids, jobs):
        return status_steps(ids, jobs)


ADAPTER = CobaltAdapter
