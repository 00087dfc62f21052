"""PBS Pro adapter (OpenPBS, ALCF Polaris; Torque's `qstat -f` shapes understood): #PBS directives,
qsub/qstat/qdel/qselect.

Status per poll: ONE `qstat -x -f -F json ID...` for all of this run's jobs. `-x` keeps finished
jobs (state F, with Exit_status) in the answer; without it qstat refuses them ("Job has finished",
exit 35). qstat answers per id: unknown ids get `qstat: Unknown Job Id ID` on stderr (exit 153)
while the others are still printed, so a non-zero exit is a real answer when every stderr line is
such a per-job line. Anything else (exit 255 with header-only JSON: the server could not be
reached; no JSON at all) raises RuntimeError, and the caller polls again later.

Exit_status: the job script's exit code; negative values are PBS's own (JOB_EXEC_*, -29 = killed at
walltime); values above 256 are 256 + the signal that killed the job (271: SIGTERM, what qdel gives).
A job deleted before it ran finishes without any Exit_status.

A qstat that does not know `-F json` (PBS Pro before 18, Torque) is detected once and polled with
plain `qstat -f` (long values wrapped over tab-indented lines; see join_continuation_lines).
"""

import json
import math
import posixpath
import re
import signal

from mdflow.executors.adapter import (
    FATAL, LIMIT, TRANSIENT, drive,
    AMBIGUOUS, FAILED, GONE, QUEUED, RUNNING, SUCCESS, UNKNOWN,
    GarbledAnswer, JobRequest, JobStatus, QueryFailed, SchedulerAdapter, format_walltime,
)

NAME = "pbs"
TEMPLATE = "pbs.sh.j2"
JOB_ID_VAR = "PBS_JOBID"  # the job's own id, as the scheduler sets it in the job's environment
COMMANDS = ("qsub", "qstat", "qdel")  # must be on PATH for a real run (submit, status, cancel)

QUEUED_STATES = {"Q": "queued", "H": "held", "W": "waiting for its start time", "T": "in transit"}
RUNNING_STATES = {"R": "running", "E": "exiting", "B": "array job running", "S": "suspended",
                  "U": "suspended (workstation busy)"}
FINISHED_STATES = {"F": "finished", "C": "completed", "X": "subjob finished"}   # C: Torque
MOVED_STATE = "M"

# Both PBS per-user/per-queue count limits are waited out: `max_queued` ("would exceed queue
# generic's per-user limit", queued + running) and `queued_jobs_threshold` ("... of jobs in 'Q'
# state", ALCF debug queues); older servers say "Maximum number of jobs already in queue".
LIMIT_PATTERNS = ("would exceed queue", "would exceed complex", "per-user limit", "per-project limit",
                  "per-group limit", "of jobs in 'Q' state", "Maximum number of jobs")
RESOURCE_LIMIT_RE = re.compile(r"would exceed .*limit on resource")
TRANSIENT_PATTERNS = ("cannot connect to server", "Connection refused", "Connection timed out",
                      "Connection reset", "No route to host", "Communication failure", "pbs_iff",
                      "End of File", "Try the request again later", "Server shutting down",
                      "Resource temporarily unavailable", "Couldn't connect to cluster",
                      "Request timed out")

# Negative Exit_status values set by PBS itself (src/include/job.h), the ones worth naming.
JOB_EXEC_CODES = {
    -1: "JOB_EXEC_FAIL1: job could not start, not retried",
    -2: "JOB_EXEC_FAIL2: job could not start after files were staged",
    -3: "JOB_EXEC_RETRY: job could not start, requeued",
    -24: "JOB_EXEC_KILL_NCPUS_BURST: killed for using more CPUs than requested",
    -25: "JOB_EXEC_KILL_NCPUS_SUM: killed for using more CPUs than requested",
    -26: "JOB_EXEC_KILL_VMEM: killed for exceeding its vmem",
    -27: "JOB_EXEC_KILL_MEM: killed for exceeding its mem",
    -28: "JOB_EXEC_KILL_CPUT: killed for exceeding its cput",
    -29: "JOB_EXEC_KILL_WALLTIME: killed at walltime",
}

JOB_ID_RE = re.compile(r"\d+(?:\[\d*\])?(?:\.[A-Za-z0-9][A-Za-z0-9_.-]*)?")
UNKNOWN_RE = re.compile(r"^\S+: Unknown Job Id(?: Error)? (\S+)\s*$")
HISTORY_RE = re.compile(r"^\S+: (\S+) Job has finished")
# job_history_enable off: the server refuses -x for the whole request (req_stat.c), qstat exits 0
NO_HISTORY_RE = re.compile(r"PBS is not configured to maintain job history")
PATH_FORBIDDEN = re.compile(r"[\s:]")
# The server holds a job it failed to start too often (PBS: 'job held, too many failed attempts to run').
NEVER_RUNS_RE = re.compile(r"too many failed attempts", re.I)


# ---------------------------------------------------------------------------------- rendering


def job_name(name: str) -> str:
    """A name `qsub -N` accepts: [A-Za-z0-9_.+-], starting with a letter, at most 236 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    if not cleaned[:1].isalpha():
        cleaned = "j" + cleaned
    return cleaned[:236]


def select_statement(request: JobRequest) -> str:
    """`N:ncpus=C[:mpiprocs=T][:ngpus=G][:mem=Mmb][:<select_extra>]` (select_extra 'system=polaris'),
    then any request.extra items that start with ':'.

    One chunk per node: ncpus = tasks per node x cpus per task; gpus and mem_mb are spread over the
    nodes and rounded up (Slurm's --gpus is per job, PBS's ngpus per chunk)."""
    nodes = max(1, request.nodes)
    tasks_per_node = math.ceil(max(1, request.tasks) / nodes)
    chunk = str(nodes)
    if not request.whole_nodes:  # Polaris schedules whole nodes: `select=N:system=polaris`
        chunk += f":ncpus={tasks_per_node * max(1, request.cpus_per_task)}"
        if tasks_per_node > 1:
            chunk += f":mpiprocs={tasks_per_node}"
    if request.gpus:
        chunk += f":ngpus={math.ceil(request.gpus / nodes)}"
    if request.mem_mb:
        chunk += f":mem={request.mem_mb}mb"
    if request.select_extra:
        chunk += ":" + request.select_extra.lstrip(":")
    return chunk + "".join(item for item in request.extra if item.startswith(":"))


def log_path(request: JobRequest) -> str:
    """The -o path: relative paths are taken from the job's workdir (as Slurm's --output is with
    --chdir); PBS itself would take them from wherever qsub runs. PBS reads `host:path` and splits
    directive lines on blanks, so paths with ':' or blanks are refused here, not mangled there."""
    path = request.log_path
    if not posixpath.isabs(path) and request.workdir not in ("", "."):
        path = posixpath.normpath(posixpath.join(request.workdir, path))
    if PATH_FORBIDDEN.search(path):
        raise ValueError(f"PBS cannot take a log path with ':' or blanks: {path!r}")
    return path


def directives(request: JobRequest) -> list[str]:
    """What follows '#PBS ' in the batch script. request.select_extra ('system=polaris') and items of
    request.extra starting with ':' extend the select statement; any other extra item is a
    directive line as is ('-l filesystems=home:eagle', '-l place=scatter', '-k doe')."""
    lines = [f"-N {job_name(request.name)}", f"-l select={select_statement(request)}",
             f"-l walltime={format_walltime(request.walltime_min)}"]
    if request.queue:
        lines.append(f"-q {request.queue}")
    if request.account:
        lines.append(f"-A {request.account}")
    lines += [f"-o {log_path(request)}", "-j oe"]
    lines.extend(item for item in request.extra if not item.startswith(":"))
    return lines


# ---------------------------------------------------------------------------------- submission


def submit_argv(script: str) -> list[str]:
    return ["qsub", script]


def parse_submit(stdout: str) -> str:
    """qsub prints the full job id (`308834.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov`), possibly
    after site messages; the last line that is a job id wins."""
    for line in reversed(stdout.strip().splitlines()):
        if JOB_ID_RE.fullmatch(line.strip()):
            return line.strip()
    raise GarbledAnswer(f"no job id in qsub output {stdout!r}")


def classify_submit_error(text: str) -> str:
    """LIMIT for count limits (max_queued, queued_jobs_threshold), TRANSIENT for server faults;
    AMBIGUOUS for resource limits summed over the user's jobs (`would exceed … limit on resource`,
    PBSE_ENTLIMRESC): they clear as the user's other jobs end, unless this job alone exceeds them."""
    if any(p in text for p in TRANSIENT_PATTERNS):
        return TRANSIENT
    if RESOURCE_LIMIT_RE.search(text):
        return AMBIGUOUS
    if any(p in text for p in LIMIT_PATTERNS):
        return LIMIT
    return FATAL


# ---------------------------------------------------------------------------------- parsing


def _repair_string(inner: str) -> str:
    """Make the inside of a PBS JSON string valid JSON: qstat escapes quotes but copies backslashes
    (`\\d` in a Variable_List breaks json.loads)."""
    out, index = [], 0
    while index < len(inner):
        char = inner[index]
        if char == "\\":
            following = inner[index + 1] if index + 1 < len(inner) else ""
            if following and following in '"\\/bfnrt':
                out.append(char + following)
                index += 2
                continue
            if following == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", inner[index + 2:index + 6]):
                out.append(inner[index:index + 6])
                index += 6
                continue
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _repair_json(text: str) -> str:
    """Line by line repair of qstat's JSON (one value a line): bad escapes in strings, and bare
    values json rejects (strtod accepts 'inf', 'nan', '0x1A' as numbers, so a job named 'nan'
    comes out unquoted) turned into strings."""
    fixed = []
    for line in text.splitlines():
        match = re.match(r'^(\s*"(?:[^"\\]|\\.)*":)(.*?)(,?)\s*$', line)
        if not match:
            fixed.append(line)
            continue
        head, value, comma = match.groups()
        if value in ("{", "["):
            fixed.append(line)
            continue
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = '"' + _repair_string(value[1:-1]) + '"'
        else:
            try:
                json.loads(value)
            except ValueError:
                value = json.dumps(value)
        fixed.append(head + value + comma)
    return "\n".join(fixed)


def parse_qstat_json(text: str) -> dict:
    """The document `qstat -f -F json` printed: {'timestamp', 'pbs_version', 'pbs_server'[, 'Jobs']}.
    Invalid JSON that qstat is known to print is repaired; ValueError if it is not JSON at all."""
    if not text.strip():
        raise ValueError("empty qstat output")
    try:
        document = json.loads(text)
    except ValueError:
        document = json.loads(_repair_json(text))
    if not isinstance(document, dict):
        raise ValueError(f"qstat JSON is not an object: {text[:80]!r}")
    return document


def join_continuation_lines(text: str) -> str:
    """Plain `qstat -f` wraps long values: a continuation line starts with a tab (PBS Pro, Torque;
    PBS inserted '\\n\\t' without dropping anything, so the tab alone is removed) or, in some
    versions, with blanks but no 'name = ' (the blanks are dropped)."""
    out: list[str] = []
    for line in text.splitlines():
        if out and line.startswith("\t"):
            out[-1] += line[1:]
        elif out and out[-1] and line[:1] == " " and not re.match(r"^\s+[\w.]+ = ", line) and line.strip():
            out[-1] += line.strip()
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def parse_qstat_full(text: str) -> dict[str, dict[str, str]]:
    """Plain `qstat -f` (PBS Pro or Torque) -> {job id: {attribute: value}}, resources as
    'Resource_List.ncpus', continuation lines joined."""
    jobs: dict[str, dict[str, str]] = {}
    current = None
    for line in join_continuation_lines(text).splitlines():
        match = re.match(r"^Job Id:\s*(\S+)", line)
        if match:
            current = jobs.setdefault(match.group(1), {})
            continue
        match = re.match(r"^\s+([\w.]+) = ?(.*)$", line)
        if match and current is not None:
            current[match.group(1)] = match.group(2)
    return jobs


def queue_limits_argv(site: dict) -> list[str]:
    return ["qstat", "-Q", "-f"]


def parse_queue_status(returncode: int, stdout: str, stderr: str = "") -> dict:
    """{queue: {'max_walltime_min': minutes or None, 'default': False}} from plain `qstat -Q -f`
    ('Queue: NAME' then '    resources_max.walltime = HHH:MM:SS'; continuation lines joined). A
    job over its queue's resources_max is refused by qsub; a job that asks for no walltime of its own
    is held to it instead. PBS names its default queue among the server's attributes, not here.
    {} when the command failed."""
    if returncode != 0:
        return {}
    queues, current = {}, None
    for line in join_continuation_lines(stdout).splitlines():
        match = re.match(r"^Queue:\s*(\S+)", line)
        if match:
            current = queues.setdefault(match.group(1), {"max_walltime_min": None, "default": False})
            continue
        match = re.match(r"^\s+resources_max\.walltime = (\d+):(\d\d):(\d\d)\s*$", line)
        if match and current is not None:  # whole minutes within the limit
            hours, minutes, seconds = (int(g) for g in match.groups())
            current["max_walltime_min"] = (hours * 3600 + minutes * 60 + seconds) // 60 or None
    return queues


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_exit(code: int) -> str:
    if code < 0:
        return f"Exit_status {code} ({JOB_EXEC_CODES.get(code, 'set by PBS: the job could not run or was killed')})"
    if code > 256:
        return f"Exit_status {code}: killed by {_signal_name(code - 256)}" + (" (qdel?)" if code == 271 else "")
    if code > 128:
        return f"exit {code} (128 + {_signal_name(code - 128)}: a command in the script was killed)"
    return f"exit {code}"


def status_from_attributes(attributes: dict) -> JobStatus:
    """One job's qstat attributes (JSON or plain text) -> JobStatus. RuntimeError on a state
    this adapter does not know."""
    state = str(attributes.get("job_state", "")).strip()
    comment = str(attributes.get("comment", "") or "")
    raw = attributes.get("Exit_status", attributes.get("exit_status"))
    code = None
    if raw is not None and str(raw).strip() != "":
        try:
            code = int(str(raw).strip())
        except ValueError:
            return JobStatus(UNKNOWN, reason=f"Exit_status {raw!r} is not a number")
    if state in FINISHED_STATES:
        if code is None:
            return JobStatus(FAILED, None, reason="; ".join(
                x for x in ("finished without an exit status (deleted before it ran?)", comment) if x))
        if code == 0:
            return JobStatus(SUCCESS, 0, reason=comment)
        shell_code = 128 + code - 256 if code > 256 else code  # 256 + signal, as a shell says it: 128 + signal
        return JobStatus(FAILED, shell_code, reason="; ".join(x for x in (describe_exit(code), comment) if x))
    if state in QUEUED_STATES:
        if state == "H" and NEVER_RUNS_RE.search(comment):
            return JobStatus(QUEUED, reason=f"held by PBS: {comment}; fix what makes it fail to start "
                             f"(see the comment), then qrls it or rerun", never_runs=True)
        return JobStatus(QUEUED, reason=comment or QUEUED_STATES[state])
    if state in RUNNING_STATES:
        return JobStatus(RUNNING, reason=comment or RUNNING_STATES[state])
    if state == MOVED_STATE:
        return JobStatus(UNKNOWN, reason="moved to another server" + (f"; {comment}" if comment else ""))
    return JobStatus(UNKNOWN, reason=f"unknown PBS job state {state!r}")


def _sequence(job_id: str) -> str:
    return job_id.split(".", 1)[0]


def _match_ids(found: dict, ids: list[str]) -> dict:
    """Values keyed by the ids asked for: exact match, else the same sequence number (qstat prints
    full ids; the executor may hold short ones, or the other way round)."""
    by_sequence: dict[str, list] = {}
    for key, value in found.items():
        by_sequence.setdefault(_sequence(key), []).append(value)
    matched = {}
    for job_id in ids:
        if job_id in found:
            matched[job_id] = found[job_id]
        elif len(by_sequence.get(_sequence(job_id), [])) == 1:
            matched[job_id] = by_sequence[_sequence(job_id)][0]
    return matched


def parse_qstat(returncode: int, stdout: str, stderr: str, ids: list[str], text: bool = False) -> dict[str, JobStatus]:
    """Statuses of `ids` from one `qstat -x -f -F json ID...` (or, with text=True, plain
    `qstat -f`). RuntimeError when qstat gave no usable answer.

    Ids absent from the answer are left out (undecided): those qstat names on stderr as unknown
    (purged from the history; Torque after keep_completed) or finished-without-history make a
    non-zero exit a real answer but get no status, and so do jobs in state M (moved to another
    server, which this qstat can no longer follow). The executor fails what stays undecided."""
    per_job: dict[str, str] = {}
    problems = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        if NO_HISTORY_RE.search(line):
            raise QueryFailed(f"qstat: {line.strip()[:200]} (ask again without -x)")
        unknown, history = UNKNOWN_RE.match(line.strip()), HISTORY_RE.match(line.strip())
        if unknown:
            per_job[unknown.group(1)] = "unknown"
        elif history:
            per_job[history.group(1)] = "finished, no history without -x"
        else:
            problems.append(line.strip())
    if any(p in stderr for p in TRANSIENT_PATTERNS) or (returncode != 0 and (problems or not per_job)):
        detail = problems[0] if problems else (stdout.strip().splitlines() or ["no output"])[0]
        raise QueryFailed(f"qstat exited {returncode}: {detail[:200]}")
    if text:
        jobs = parse_qstat_full(stdout)
        if not jobs and not per_job:
            raise QueryFailed(f"qstat exited {returncode} with no job in its output")
    else:
        try:
            document = parse_qstat_json(stdout)
        except ValueError as error:
            raise QueryFailed(f"qstat printed no JSON ({error}): {stdout.strip()[:120]!r}")
        jobs = document.get("Jobs")
        if jobs is None:
            if not per_job:
                raise QueryFailed(f"qstat exited {returncode} with header-only JSON (no 'Jobs')")
            jobs = {}
        if not isinstance(jobs, dict):
            raise QueryFailed(f"qstat 'Jobs' is not an object: {str(jobs)[:80]!r}")
    statuses = {job_id: status_from_attributes(attrs) if isinstance(attrs, dict)
                else JobStatus(UNKNOWN, reason="garbled qstat record")
                for job_id, attrs in _match_ids(jobs, ids).items()}
    for job_id in ids:  # named on stderr: PBS does not know it (any more), or keeps no history of it
        if job_id not in statuses and _match_ids({k: 1 for k in per_job}, [job_id]):
            statuses[job_id] = JobStatus(GONE, reason=f"PBS says: {_match_ids(per_job, [job_id])[job_id]}")
    return statuses


# ---------------------------------------------------------------------------------- commands


def status_argv(ids: list[str], text: bool = False, history: bool = True) -> list[str]:
    """`qstat -x -f -F json ID...`; text=True drops -F json; history=False drops -x (Torque, where
    -x means XML and finished jobs show as C anyway while keep_completed lasts)."""
    return ["qstat", *(["-x"] if history else []), "-f", *([] if text else ["-F", "json"]), *ids]


def _json_unsupported(answer) -> bool:
    return answer.returncode == 2 and ("usage:" in answer.stderr or "invalid option" in answer.stderr) \
        and not answer.stdout.strip()


def poll(ids: list[str], run, jobs: dict, state: dict) -> dict[str, JobStatus]:
    """Status of `ids`: one qstat for all of them (`run(argv)` returns a CompletedProcess; `jobs`
    is unused; `state` remembers what this qstat understands: 'json', 'text' (no -F json) or
    'torque' (-x is XML)). Ids missing from the result are undecided; QueryFailed (a RuntimeError)
    when the scheduler gave no usable answer."""
    if not ids:
        return {}
    return drive(status_steps(ids, state), run)


def status_steps(ids: list[str], state: dict):
    """The commands of one poll, as a generator (adapter.SchedulerAdapter.status_steps): one qstat,
    asked again only while finding out which options this qstat understands."""
    kind = state.get("format", "json")
    history = kind != "torque" and state.get("history", True)
    answer = yield status_argv(ids, text=kind != "json", history=history)
    if history and NO_HISTORY_RE.search(answer.stderr):  # finished jobs are then simply unknown: GONE
        state["history"] = history = False
        answer = yield status_argv(ids, text=kind != "json", history=False)
    if kind == "json" and _json_unsupported(answer):
        kind = state["format"] = "text"
        answer = yield status_argv(ids, text=True)
    if kind == "text" and answer.stdout.lstrip().startswith("<"):
        kind = state["format"] = "torque"
        answer = yield status_argv(ids, text=True, history=False)
    return parse_qstat(answer.returncode, answer.stdout, answer.stderr, ids, text=kind != "json")


def cancel_argv(ids: list[str]) -> list[str]:
    """qdel exits 35 ('Job has finished') or 153 (unknown) for ids that are already gone."""
    return ["qdel", *ids]


def count_user_jobs_argv(user: str, queue: str | None) -> list[str]:
    return ["qstat", "-u", user, *([queue] if queue else [])]


def parse_count(stdout: str, states: str = "QHWTRESBU") -> int:
    """Jobs listed by `qstat -u USER [QUEUE]` (alternate layout, maybe with a comment column) or
    plain `qstat` (default layout; finished jobs are not listed without -x) whose state letter is in
    `states` ('Q' alone for the queued_jobs_threshold kind of limit). The state column is the
    dash line's one-character column (header `S`); cells hold no blanks before it (ids, names,
    times), so a row's Nth word is its Nth cell, whatever a trailing comment holds."""
    count, state_column, columns = 0, None, 0
    for line in stdout.splitlines():
        if state_column is None:
            if line.startswith("-----"):
                widths = [len(group) for group in line.split()]
                columns = len(widths)
                state_column = widths.index(1) if 1 in widths else None
            continue
        words = line.split()
        if len(words) >= columns and words[state_column] in states and line[:1].isdigit():
            count += 1
    return count


# qselect finds the user's jobs of that name, finished ones included (-x: a short job may be done
# by the time a lost submission is looked up; servers without job history list only unfinished
# ones), then qstat shows them in full: PBS_O_WORKDIR tells this project's job from another copy
# of the campaign (same job names) that the user runs elsewhere.
# A server without job history refuses -x (and has no finished jobs to show): then without it.
_FIND_BY_NAME = ('ids=$(qselect -x -u "$1" -N "$2") || exit $?; [ -z "$ids" ] && exit 0; '
                 'if qstat -x -f -F json $ids 2>&1 >/dev/null | grep -q "not configured to maintain job history"; '
                 'then exec qstat -f -F json $ids; else exec qstat -x -f -F json $ids; fi')


def find_by_name_argv(name: str, user: str) -> list[str]:
    return ["sh", "-c", _FIND_BY_NAME, "qselect-full", user, job_name(name)]


def submitted_from(job: dict) -> str | None:
    """PBS_O_WORKDIR (where qsub ran) of a job in qstat's JSON, whose Variable_List is an object."""
    variables = job.get("Variable_List")
    return variables.get("PBS_O_WORKDIR") if isinstance(variables, dict) else None


def parse_find_by_name(stdout: str, workdir: str) -> list[str]:
    """Ids (oldest first) of the `find_by_name_argv` jobs submitted from `workdir`; garbage raises ValueError."""
    if not stdout.strip():
        return []  # qselect found none
    jobs = parse_qstat_json(stdout).get("Jobs") or {}
    if not isinstance(jobs, dict):
        raise GarbledAnswer("qstat JSON 'Jobs' is not an object")
    ids = [job_id for job_id, job in jobs.items() if isinstance(job, dict) and submitted_from(job) == workdir]
    if not all(JOB_ID_RE.fullmatch(job_id) for job_id in ids):
        raise GarbledAnswer(f"garbled job ids {ids!r}")
    return sorted(ids, key=lambda job_id: int(re.match(r"\d+", job_id).group()))


def count_user_jobs(returncode: int, stdout: str, stderr: str) -> int:
    """`qstat -u USER [QUEUE]`: the user's queued and running jobs; a failed query raises."""
    if returncode != 0 and stdout.strip():
        raise QueryFailed(f"qstat exited {returncode}: {stderr.strip()[:200]}")
    if returncode != 0 and "Unknown queue" not in stderr and stderr.strip():
        raise QueryFailed(f"qstat exited {returncode}: {stderr.strip()[:200]}")
    return parse_count(stdout)


# ---------------------------------------------------------------------------------- the contract


class PbsAdapter(SchedulerAdapter):
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

    def status_argv(self, ids):
        return status_argv(ids)

    def parse_status(self, returncode, stdout, stderr, ids):
        return parse_qstat(returncode, stdout, stderr, ids)

    def queue_limits_argv(self, site):
        return queue_limits_argv(site)

    parse_queue_limits = staticmethod(parse_queue_status)

    def status_steps(self, ids, jobs):
        return status_steps(ids, self.state)


ADAPTER = PbsAdapter
