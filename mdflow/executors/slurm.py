"""Slurm adapter: #SBATCH directives, sbatch/squeue/scontrol/sacct/scancel.

Status per poll: ONE `squeue --states=all` for all of this run's jobs on the site (per cluster, on
a multi-cluster site); it also lists jobs that finished within MinJobAge, with their exit status.
Only jobs Slurm no longer lists (older than MinJobAge) need more: one `sacct` for all of them when
accounting works, else `scontrol show job` per such job. A job none of them knows is GONE (its
own outcome record decides, see executors/outcome.py) — never "missing from squeue = completed".

Every parser decides per line: an unknown state or a garbled line makes that one job undecided,
and the rest of the poll still counts. Exit codes come in two forms: Slurm ≤ 22.05's squeue prints
the raw wait(2) status (`256` = exit 1, `9` = killed by signal 9); sacct, scontrol and squeue from
23.02 on print `EXIT:SIGNAL` (`1:0`, `0:9`). A signal N is reported as 128+N, as a shell would.
"""

import re
import shutil

from mdflow.executors.adapter import (
    classify_by_patterns, drive,
    AMBIGUOUS, FAILED, LIMIT, GONE, QUEUED, RUNNING, SUCCESS, UNKNOWN,
    GarbledAnswer, JobRequest, JobStatus, QueryFailed, SchedulerAdapter, format_walltime, parse_walltime,
)

NAME = "slurm"
TEMPLATE = "slurm.sh.j2"
JOB_ID_VAR = "SLURM_JOB_ID"  # the job's own id, as the scheduler sets it in the job's environment
COMMANDS = ("sbatch", "squeue", "scancel")  # must be on PATH for a real run (submit, status, cancel)

# Every job state of current Slurm releases (slurm.h.in job_states, and the flags job_state_string()
# prints instead of the base state, src/common/slurm_protocol_defs.c) onto ours. A state not listed
# makes that one job undecided, never the whole poll.
ACTIVE = {"PENDING": QUEUED, "CONFIGURING": QUEUED, "REQUEUED": QUEUED, "REQUEUE_HOLD": QUEUED,
          "REQUEUE_FED": QUEUED, "RESV_DEL_HOLD": QUEUED, "EXPEDITING": QUEUED, "POWER_UP_NODE": QUEUED,
          "UPDATE_DB": QUEUED, "SUSPENDED": RUNNING, "STOPPED": RUNNING, "RUNNING": RUNNING,
          "COMPLETING": RUNNING, "SIGNALING": RUNNING, "STAGE_OUT": RUNNING, "RESIZING": RUNNING,
          "LAUNCH_FAILED": RUNNING,
          # requeued and held after a special exit code: waits for `scontrol release`
          "SPECIAL_EXIT": QUEUED}
TERMINAL_FAILED = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                   "DEADLINE", "OUT_OF_MEMORY"}
# REVOKED: a federation sibling removed because another cluster of the federation started the job;
# that cluster's answer decides, so this one decides nothing.

# Pending reasons (job_reason_string()) that cannot clear by themselves, with what to do. The others
# (Priority, Resources, QOSMaxJobsPerUserLimit, Dependency, ...) clear as other jobs end.
NEVER_CLEARS = {
    "DependencyNeverSatisfied": "a job it depends on failed; fix that job and rerun",
    "InvalidAccount": "the account is not valid here: set `account` in the profile",
    "InvalidQOS": "the QOS is not valid for this account or partition: fix the profile's directives",
    "PartitionTimeLimit": "its walltime exceeds the partition's limit: lower the rule's runtime or pick another queue",
    "PartitionNodeLimit": "its node count is outside the partition's limits: change nodes or the queue",
    "PartitionConfig": "it asks for more per node (CPUs, memory, GPUs) than the partition's nodes have: lower "
                       "the rule's threads/mem/gpus or pick another queue",
    "PartitionDown": "the partition is down: pick another queue, or wait for the site to bring it back",
    "PartitionInactive": "the partition is inactive: pick another queue",
    "AccountNotAllowed": "the account may not use this partition: pick another queue or account",
    "QOSNotAllowed": "the QOS may not use this partition: pick another queue or QOS",
    "AssocGrpBillingMinutes": "the allocation's billing minutes are used up: get more time or use another account",
    "AssocGrpCPUMinutesLimit": "the allocation's CPU minutes are used up: get more time or use another account",
    "AssocGrpNodeMinutes": "the allocation's node minutes are used up: get more time or use another account",
    "AssocGrpGRESMinutes": "the allocation's GPU minutes are used up: get more time or use another account",
    "QOSGrpBillingMinutes": "the QOS's billing minutes are used up: ask the site or use another QOS",
    "QOSGrpCPUMinutesLimit": "the QOS's CPU minutes are used up: ask the site or use another QOS",
    "QOSGrpNodeMinutes": "the QOS's node minutes are used up: ask the site or use another QOS",
    "AssocMaxWallDurationPerJobLimit": "its walltime exceeds the account's per-job limit: lower the rule's runtime",
    "QOSMaxWallDurationPerJobLimit": "its walltime exceeds the QOS's per-job limit: lower the rule's runtime",
    "QOSMaxNodePerJobLimit": "it asks for more nodes than the QOS allows per job: lower nodes",
    "QOSMaxCpuPerJobLimit": "it asks for more CPUs than the QOS allows per job: lower threads",
    "BadConstraints": "its constraints match no node: fix the profile's directives",
}
# Not listed on purpose: ReqNodeNotAvail (also "Reserved for maintenance": clears when the
# reservation ends), JobHeldUser/JobHeldAdmin (a person releases them).
# Families `man squeue` (JOB REASON CODES) names by wildcard: AssocMax*Limit / QOSMax*Limit "the job
# requests a resource that violates a per-job limit" — the *PerJob* ones (QOSMaxGRESPerJob,
# AssocMaxMemPerJob, AssocMaxNodesPerJobLimit, ...) never clear; *PerUser*/*Jobs* ones count the
# user's running jobs and do. QOSMin* (QOSMinCpuNotSatisfied, QOSMinGRES, QOSMinMemory, QOSMinNode):
# the job asks for less than the QOS's per-job minimum.
NEVER_CLEARS_PATTERNS = (
    (re.compile(r"(Assoc|QOS)Max\w*PerJob\w*"), "it asks for more than the {who}'s per-job limit allows: lower the "
                                                 "rule's resources, or use another QOS/account"),
    (re.compile(r"QOSMin\w+"), "it asks for less than the QOS's per-job minimum: raise the rule's resources, or use "
                               "another QOS"),
)


def never_clears(reason: str) -> str | None:
    """What to do about a pending `reason` that cannot clear by itself; None for one that can."""
    reason = reason.split(",")[0].strip("()")
    if reason in NEVER_CLEARS:
        return NEVER_CLEARS[reason]
    for pattern, hint in NEVER_CLEARS_PATTERNS:
        if pattern.fullmatch(reason):
            return hint.format(who="account" if reason.startswith("Assoc") else "QOS")
    return None

TRANSIENT_PATTERNS = ("Socket timed out", "temporarily unable to accept job", "Unable to contact slurm controller",
                      "Connection refused", "Zero Bytes were transmitted", "Slurm is busy",
                      "Rate limit exceeded", "Resource temporarily unavailable")
# Reason names Slurm prints (src/common/job_state_reason.c); `MaxSubmitJobsPerUser` is a sacctmgr
# field that some sites' submit plugins print (Stanford Sherlock's guide).
LIMIT_PATTERNS = ("QOSMaxSubmitJobPerUserLimit", "MaxSubmitJobsPerAccount", "MaxSubmitJobsPerUser",
                  "AssocGrpSubmitJobsLimit", "QOSGrpSubmitJobsLimit")
# ESLURM_ACCOUNTING_POLICY: a submit limit OR a size/time limit; AssocMaxSubmitJobLimit also comes
# for a missing --account or a spent budget (LUMI's and CSC's guides). The executor decides with
# its own count of the user's jobs (near max_queued: wait; otherwise the job itself is refused).
AMBIGUOUS_PATTERNS = ("Job violates accounting/QOS policy", "AssocMaxSubmitJobLimit")


def directives(request: JobRequest) -> list[str]:
    lines = [f"--job-name={request.name}", f"--time={format_walltime(request.walltime_min)}",
             f"--nodes={request.nodes}", f"--ntasks={request.tasks}"]
    if not request.whole_nodes:  # TACC: whole nodes, --mem refused, --cpus-per-task undocumented
        lines.append(f"--cpus-per-task={request.cpus_per_task}")
    lines += [f"--output={request.log_path}", f"--chdir={request.workdir}"]
    if request.queue:
        lines.append(f"--partition={request.queue}")
    if request.account:
        lines.append(f"--account={request.account}")
    if request.mem_mb:
        lines.append(f"--mem={request.mem_mb}M")
    elif request.mem_mb_per_cpu:
        lines.append(f"--mem-per-cpu={request.mem_mb_per_cpu}M")
    if request.gpus and not request.whole_nodes:  # TACC refuses --gres/--gpus-per-task: GPU nodes come whole
        lines.append(f"--gpus={request.gpus}")
    if request.cluster:
        lines.append(f"--clusters={request.cluster}")
    lines.extend(request.extra)
    return lines


# ---------------------------------------------------------------------------------- submission


def submit_argv(script: str) -> list[str]:
    return ["sbatch", "--parsable", script]


SUBMIT_RE = re.compile(r"(?:Submitted batch job )?(\d+)(?:;(\S+))?(?: on cluster (\S+))?")


def parse_submission(stdout: str) -> tuple[str, str | None]:
    """(job id, cluster or None) from `sbatch --parsable` (`ID` or `ID;cluster` on a multi-cluster or
    federated site) or plain sbatch (`Submitted batch job ID[ on cluster C]`), possibly after warnings."""
    for line in reversed(stdout.strip().splitlines()):
        match = SUBMIT_RE.fullmatch(line.strip())
        if match:
            return match.group(1), match.group(2) or match.group(3)
    raise GarbledAnswer(f"no job id in sbatch output {stdout!r}")


def parse_submit(stdout: str) -> str:
    """The id the executor keeps: `ID`, or `ID;cluster` so that status and cancel go to that cluster."""
    job_id, cluster = parse_submission(stdout)
    return f"{job_id};{cluster}" if cluster else job_id


def classify_submit_error(text: str) -> str:
    if any(p in text for p in LIMIT_PATTERNS):
        return LIMIT
    if any(p in text for p in AMBIGUOUS_PATTERNS):
        return AMBIGUOUS
    return classify_by_patterns(text, (), TRANSIENT_PATTERNS)


# ---------------------------------------------------------------------------------- parsing


def split_id(external_id: str) -> tuple[str, str | None]:
    job_id, _, cluster = external_id.partition(";")
    return job_id, cluster or None


def exit_code_of(raw: str, wait_status: bool = False) -> int | None:
    """`EXIT:SIGNAL` (sacct, scontrol, squeue ≥ 23.02) or, with wait_status, squeue ≤ 22.05's raw
    wait(2) status; a signal N gives 128+N. None for an empty or garbled field."""
    raw = (raw or "").strip()
    match = re.fullmatch(r"(-?\d+):(\d+)", raw)
    if match:
        code, signal = int(match.group(1)), int(match.group(2))
        return code if code or not signal else 128 + signal
    if re.fullmatch(r"\d+", raw):
        status = int(raw)
        if not wait_status:
            return status
        return status >> 8 if status & 0x7F == 0 else 128 + (status & 0x7F)
    return None


def status_of(state: str, reason: str = "", raw_exit: str = "", wait_status: bool = False) -> JobStatus:
    """One job's Slurm state (`CANCELLED by 1000` allowed), pending reason and exit field -> JobStatus;
    UNKNOWN for a state this adapter does not know."""
    words = state.split()
    base = words[0].rstrip("+") if words else ""
    reason = reason.strip()
    if reason in ("None", "(null)"):
        reason = ""
    if base in ACTIVE:
        hint = never_clears(reason)
        if ACTIVE[base] == QUEUED and hint:
            return JobStatus(QUEUED, reason=f"Slurm pending reason {reason}: {hint}", never_runs=True)
        return JobStatus(ACTIVE[base], reason=reason)
    code = exit_code_of(raw_exit, wait_status)
    if base == "COMPLETED":
        return JobStatus(SUCCESS if not code else FAILED, code or 0)
    if base in TERMINAL_FAILED:
        return JobStatus(FAILED, code or (143 if base in ("CANCELLED", "TIMEOUT") else 1),
                         reason=" ".join(words) + (f" ({reason})" if reason else ""))
    if base == "REVOKED":
        return JobStatus(UNKNOWN, reason="revoked here: another cluster of the federation runs it")
    return JobStatus(UNKNOWN, reason=f"unknown Slurm state {state!r}")


def parse_squeue(returncode: int, stdout: str, stderr: str) -> dict[str, JobStatus]:
    """Jobs by id from `squeue_argv`. A line that cannot be read makes its job (when its id can be
    read) UNKNOWN; the other lines still count. `squeue -j ONE_ID` exits 1 with 'Invalid job id
    specified' once the job left the queue: an answer (gone), not a failed query; any other failure
    raises RuntimeError. `-M` adds `CLUSTER: name` lines."""
    if returncode != 0:
        if "Invalid job id specified" in stderr:
            return {}
        raise QueryFailed(f"squeue exited {returncode}: {stderr.strip()[:200]}")
    statuses = {}
    for line in stdout.splitlines():
        if not line.strip() or line.startswith("CLUSTER: "):
            continue
        parts = [p.strip() for p in line.strip().rstrip("|").split("|")]
        job_id = parts[0]
        if not re.fullmatch(r"\d+(?:[_+][\d\[\]%,-]+)?", job_id):
            continue
        if len(parts) != 4 or (parts[3] and exit_code_of(parts[3], True) is None):
            statuses[job_id] = JobStatus(UNKNOWN, reason=f"garbled squeue line {line.strip()[:120]!r}")
            continue
        _, state, reason, raw_exit = parts
        statuses[job_id] = status_of(state, reason, raw_exit, wait_status=":" not in raw_exit)
    return statuses


def parse_sacct(stdout: str) -> dict[str, JobStatus]:
    """`sacct --parsable2 --allocations` rows `JobIDRaw|State|ExitCode`; step rows (`.batch`) and
    garbled rows are skipped. The components of a heterogeneous job (`67767+0`, `67767+1`) also
    decide the job `67767`: active while one is, failed if one failed, else succeeded."""
    statuses, components = {}, {}
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or "." in parts[0] or not re.fullmatch(r"\d+(?:[_+]\d+)?", parts[0]):
            continue
        statuses[parts[0]] = status_of(parts[1], "", parts[2])
        if "+" in parts[0]:
            components.setdefault(parts[0].split("+")[0], []).append(statuses[parts[0]])
    for job_id, parts in components.items():
        order = (UNKNOWN, QUEUED, RUNNING, FAILED, SUCCESS)  # the first state any component is in wins
        statuses.setdefault(job_id, min(parts, key=lambda status: order.index(status.state)))
    return statuses


def parse_scontrol(stdout: str) -> dict[str, JobStatus]:
    """`scontrol [-o] show job` records: `JobId=12 … JobState=COMPLETED Reason=None … ExitCode=0:0 …`,
    one line each (-o) or over several indented lines, records separated by a blank line."""
    statuses = {}
    for record in re.split(r"\n\s*\n|\n(?=JobId=)", stdout.strip()):
        fields = dict(re.findall(r"(\w+)=(\S*)", record))
        if "JobId" not in fields or "JobState" not in fields:
            continue
        statuses[fields["JobId"]] = status_of(fields["JobState"], fields.get("Reason", ""), fields.get("ExitCode", ""))
    return statuses


# ---------------------------------------------------------------------------------- commands


def _clusters(cluster: str | None) -> list[str]:
    return [f"--clusters={cluster}"] if cluster else []


def squeue_argv(ids: list[str], cluster: str | None = None) -> list[str]:
    return ["squeue", "--noheader", "--states=all", "--Format=JobID:|,State:|,Reason:|,exit_code:|",
            *_clusters(cluster), f"--jobs={','.join(ids)}"]


def sacct_argv(ids: list[str], cluster: str | None = None) -> list[str]:
    return ["sacct", "--noheader", "--parsable2", "--allocations", "--format=JobIDRaw,State,ExitCode",
            *_clusters(cluster), f"--jobs={','.join(ids)}"]


def scontrol_argv(job_id: str, cluster: str | None = None) -> list[str]:
    return ["scontrol", *_clusters(cluster), "--oneliner", "show", "job", job_id]


def poll(ids: list[str], run, jobs: dict, state: dict) -> dict[str, JobStatus]:
    """Status of `ids` (`ID` or `ID;cluster`); `run(argv)` runs a command and returns a
    CompletedProcess; `jobs[id]` holds what the executor knows of each job; `state` is this adapter's
    cache. Ids missing from the result are undecided; GONE: Slurm does not know the job at all.
    Raises QueryFailed (a RuntimeError) when the scheduler gave no usable answer."""
    return drive(status_steps(ids, state), run)


def status_steps(ids: list[str], state: dict):
    """The commands of one poll, as a generator (see adapter.SchedulerAdapter.status_steps): one
    squeue per cluster, then sacct (or scontrol per job) for the jobs squeue no longer lists."""
    by_cluster: dict = {}
    for external_id in ids:
        job_id, cluster = split_id(external_id)
        by_cluster.setdefault(cluster, {})[job_id] = external_id
    statuses = {}
    for cluster, wanted in by_cluster.items():
        found = yield from _cluster_steps(sorted(wanted), cluster, state)
        statuses.update({wanted[job_id]: status for job_id, status in found.items() if job_id in wanted})
    return statuses


def _cluster_steps(ids: list[str], cluster, state: dict):
    answer = yield squeue_argv(ids, cluster)
    statuses = parse_squeue(answer.returncode, answer.stdout, answer.stderr)
    gone = [i for i in ids if i not in statuses]
    if not gone:
        return statuses
    if "accounting" not in state:
        state["accounting"] = False
        if shutil.which("sacct") is not None:
            state["accounting"] = has_accounting((yield SHOW_CONFIG_ARGV))
    if state["accounting"]:
        answer = yield sacct_argv(gone, cluster)
        if answer.returncode != 0:
            raise QueryFailed(f"sacct exited {answer.returncode}: {answer.stderr.strip()[:200]}")
        statuses.update({i: s for i, s in parse_sacct(answer.stdout).items() if i in gone})
    else:
        for job_id in gone:
            answer = yield scontrol_argv(job_id, cluster)
            if answer.returncode == 0:
                statuses.update({i: s for i, s in parse_scontrol(answer.stdout).items() if i == job_id})
            elif "Invalid job id" not in answer.stderr:
                raise QueryFailed(f"scontrol exited {answer.returncode}: {answer.stderr.strip()[:200]}")
    for job_id in gone:
        statuses.setdefault(job_id, JobStatus(GONE, reason="Slurm no longer knows the job"))
    return statuses


SHOW_CONFIG_ARGV = ["scontrol", "show", "config"]


def has_accounting(answer) -> bool:
    """Without slurmdbd `sacct` fails (or hangs, with some plugins): scontrol's storage type says.
    `answer`: the CompletedProcess of SHOW_CONFIG_ARGV."""
    match = re.search(r"AccountingStorageType\s*=\s*(\S+)", answer.stdout)
    return answer.returncode == 0 and bool(match) and match.group(1) != "accounting_storage/none"


def cancel_argv(ids: list[str]) -> list[str]:
    """The scancel for `ids` of one cluster (see cancel_argvs)."""
    return next(iter(cancel_argvs(ids)), ["scancel"])


def cancel_argvs(ids: list[str]) -> list[list[str]]:
    """One scancel per cluster (`ID;cluster` ids; plain ids need no --clusters)."""
    by_cluster: dict = {}
    for external_id in ids:
        job_id, cluster = split_id(external_id)
        by_cluster.setdefault(cluster, []).append(job_id)
    return [["scancel", *_clusters(cluster), *job_ids] for cluster, job_ids in by_cluster.items()]


# ---------------------------------------------------------------------------------- counting


def count_user_jobs_argv(user: str, queue: str | None) -> list[str]:
    argv = ["squeue", "--noheader", "--format=%i", f"--user={user}", "--states=PENDING,RUNNING,CONFIGURING"]
    return argv + ([f"--partition={queue}"] if queue else [])


def array_size(indices: str) -> int:
    """Tasks in squeue's array expression `5-1024%4` or `1,3,5-7` (the %N throttle limits how many
    run at once, not how many exist); ValueError if garbled."""
    count = 0
    for part in indices.split("%")[0].split(","):
        low, _, high = part.partition("-")
        step = 1
        if ":" in high:
            high, step_text = high.split(":", 1)
            step = int(step_text)
        count += (int(high) - int(low)) // step + 1 if high else 1
    return count


def count_ids(stdout: str) -> int:
    """Jobs in `squeue --format=%i` lines as Slurm counts them against per-user submit limits: each
    array task counts (a pending `1080_[5-1024%4]` line stands for 1020 tasks), each component of a
    heterogeneous job (`93+0`, `93+1`) is listed and counted once. Lines that are no job id are
    skipped (a `CLUSTER: name` line, a warning)."""
    count = 0
    for line in stdout.split():
        match = re.fullmatch(r"\d+(?:_\[([\d,%:-]+)\]|_\d+|\+\d+)?", line.strip())
        if not match:
            continue
        count += array_size(match.group(1)) if match.group(1) else 1
    return count


def count_user_jobs(returncode: int, stdout: str, stderr: str) -> int:
    """The user's pending/running jobs; a failed query raises."""
    if returncode != 0:
        raise QueryFailed(f"squeue exited {returncode}: {stderr.strip()[:200]}")
    return count_ids(stdout)


# ---------------------------------------------------------------------------------- lookup


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
            raise GarbledAnswer(f"garbled squeue line {line!r}")
        if directory == workdir:
            ids.append(job_id)
    return sorted(ids, key=int)


# ---------------------------------------------------------------------------------- partition limits


def partitions_argv(cluster: str | None = None) -> list[str]:
    """Every partition (hidden ones too) with its limits, one line each."""
    return ["scontrol", *_clusters(cluster), "--all", "--oneliner", "show", "partition"]


def parse_partitions(returncode: int, stdout: str, stderr: str = "") -> dict:
    """{partition: {'max_walltime_min': minutes or None (UNLIMITED, or unreadable), 'default': bool,
    'max_nodes': int|None, 'min_nodes': int|None}} from `scontrol --oneliner show partition`
    (`PartitionName=debug … Default=YES … MaxNodes=UNLIMITED MaxTime=00:30:00 MinNodes=0 … TotalNodes=1`;
    MaxTime may be `D-HH:MM:SS` or `UNLIMITED`). A job over MaxNodes, or over the partition's node
    count, pends with reason PartitionNodeLimit forever: max_nodes is the smaller of the two. {} when
    the command failed."""
    if returncode != 0:
        return {}
    partitions = {}
    for line in stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        name = fields.get("PartitionName")
        if not name:
            continue
        try:
            limit = parse_walltime(fields.get("MaxTime", ""))
        except ValueError:  # UNLIMITED, INFINITE, empty: no limit we can hold a job to
            limit = None
        partitions[name] = {"max_walltime_min": limit, "default": fields.get("Default") == "YES",
                            "max_nodes": _least_count(fields.get("MaxNodes"), fields.get("TotalNodes")),
                            "min_nodes": _least_count(fields.get("MinNodes")) or None}
    return partitions


def _least_count(*texts) -> int | None:
    """The smallest of the counts among `texts` (`UNLIMITED`, absent or unreadable ones ignored)."""
    counts = [int(text) for text in texts if text and text.isdigit()]
    return min(counts) if counts else None


# ---------------------------------------------------------------------------------- the contract


class SlurmAdapter(SchedulerAdapter):
    NAME, TEMPLATE, JOB_ID_VAR, COMMANDS = NAME, TEMPLATE, JOB_ID_VAR, COMMANDS
    JOB_ID_PRECEDENCE = -1  # PBS and Cobalt front ends run on top of Slurm at some sites (and in our emulators)
    DEFAULT_LAUNCHER = "local"

    directives = staticmethod(directives)
    submit_argv = staticmethod(submit_argv)
    parse_submit = staticmethod(parse_submit)
    classify_submit_error = staticmethod(classify_submit_error)
    cancel_argv = staticmethod(cancel_argv)
    cancel_argvs = staticmethod(cancel_argvs)
    count_user_jobs_argv = staticmethod(count_user_jobs_argv)
    count_user_jobs = staticmethod(count_user_jobs)
    find_by_name_argv = staticmethod(find_by_name_argv)
    parse_find_by_name = staticmethod(parse_find_by_name)

    def status_argv(self, ids):
        """The first command of a poll (squeue), for ids of one cluster."""
        return squeue_argv([split_id(i)[0] for i in ids], split_id(ids[0])[1] if ids else None)

    def parse_status(self, returncode, stdout, stderr, ids):
        """squeue's answer for `ids`; the jobs it no longer lists are left out (status_steps asks on)."""
        found = parse_squeue(returncode, stdout, stderr)
        return {i: found[split_id(i)[0]] for i in ids if split_id(i)[0] in found}

    def status_steps(self, ids, jobs):
        return status_steps(ids, self.state)

    def queue_limits_argv(self, site):
        return partitions_argv(site.get("cluster"))

    parse_queue_limits = staticmethod(parse_partitions)


ADAPTER = SlurmAdapter
