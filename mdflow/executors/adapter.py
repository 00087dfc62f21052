"""The contract between mdflow's batch executor and one scheduler adapter.

`SchedulerAdapter` below is that contract, written down. An adapter is a set of render/parse pairs:
it builds the command lines and the batch-script directives for its scheduler and reads the
scheduler's answers; it never runs a command itself. The executor (executors/batch.py and its
helpers) runs every command (executors/commands.py) and hands the answers back. Status queries
that need several commands (Slurm: squeue, then sacct or scontrol for the jobs squeue no longer
lists) are written as generators: they yield an argv, receive its CompletedProcess, and return
the statuses (see `SchedulerAdapter.status_steps` and `drive`).

Each adapter module keeps its pure functions at module level (unit-tested on real output shapes,
tests/unit/test_adapter_*.py, tests/data/scheduler/) and ends with one subclass of
SchedulerAdapter, named in the module as `ADAPTER`, that ties them to the contract. The registry
(executors/adapters.py) maps a scheduler's name to its module.
"""

import abc
import enum
from dataclasses import dataclass


class JobState(enum.StrEnum):
    """Job states the executor understands; every scheduler's states map onto these. GONE: the
    scheduler said it does not know the job (finished and forgotten, or dropped after submission):
    the job's own outcome record decides (executors/outcome.py). UNKNOWN: no usable answer about
    this one job. A StrEnum: each member equals its value ("queued" …), as the ledger stores it."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UNKNOWN = "unknown"
    GONE = "gone"


QUEUED, RUNNING, SUCCESS, FAILED, UNKNOWN, GONE = (JobState.QUEUED, JobState.RUNNING, JobState.SUCCESS,
                                                  JobState.FAILED, JobState.UNKNOWN, JobState.GONE)
FINISHED = (SUCCESS, FAILED)
DECIDED = (QUEUED, RUNNING, SUCCESS, FAILED)  # states the executor acts on; the others leave a job undecided

# Classes of submission errors, as an adapter's pure `classify_submit_error(text)` names them
# (the scheduler corpus in tests/data/scheduler/ records them by these names). AMBIGUOUS: a limit
# on the user's job count or on the job itself, the scheduler does not say which (the executor
# decides with its own count of the user's jobs). `SchedulerAdapter.submit_error` turns a class
# into one of the typed errors below.
TRANSIENT, LIMIT, FATAL, AMBIGUOUS = "transient", "limit", "fatal", "ambiguous"


# ---------------------------------------------------------------------------------- errors


class SchedulerError(RuntimeError):
    """A scheduler command failed or gave an answer mdflow cannot use."""


class TransientError(SchedulerError):
    """A passing fault (server unreachable, timeout, busy): ask again later."""


class QueryFailed(TransientError):
    """A status or count query gave no usable answer: no job is judged on it."""


class GarbledAnswer(TransientError, ValueError):
    """A command succeeded but its output cannot be read (no job id in qsub's answer …)."""


class LimitReached(SchedulerError):
    """A per-user or per-queue limit on the number of jobs: wait until some end, then submit again."""


class SubmitRefused(SchedulerError):
    """The scheduler refused the job for good (bad account, walltime over the limit …)."""


class LimitOrRefused(SubmitRefused):
    """Either a job-count limit (wait) or a refusal of this job (fail): the scheduler does not say
    which; the executor decides with its own count of the user's jobs."""


ERROR_OF_CLASS = {TRANSIENT: TransientError, LIMIT: LimitReached, FATAL: SubmitRefused, AMBIGUOUS: LimitOrRefused}


# ---------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class JobRequest:
    """Everything a batch script needs to know about one job, scheduler-neutral."""

    name: str                 # sanitized: rule + wildcards, [A-Za-z0-9_.-] only (+ `.h<key>` when not exact)
    queue: str | None         # None: the scheduler's default queue/partition
    walltime_min: int
    nodes: int = 1
    tasks: int = 1
    cpus_per_task: int = 1
    mem_mb: int | None = None
    mem_mb_per_cpu: int | None = None  # Slurm: --mem-per-cpu (stock plugin's resource); elsewhere folded into mem_mb
    gpus: int = 0
    account: str | None = None
    log_path: str = "job.log"  # stdout+stderr of the batch job
    workdir: str = "."
    extra: tuple = ()          # raw site directives, appended as given
    select_extra: str = ""     # PBS: appended to the select statement (e.g. "system=polaris")
    cluster: str | None = None # Slurm multi-cluster/federation: --clusters=NAME
    whole_nodes: bool = False  # the site gives every job whole nodes: no per-job memory or CPU counts
    key: str = ""              # the job's exact identity (render.job_key): rule + wildcards + outputs


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    exit_code: int | None = None
    reason: str = ""
    never_runs: bool = False   # queued for a reason that cannot clear by itself (reason says which)


def classify_by_patterns(text: str, limit_patterns, transient_patterns) -> str:
    """LIMIT if a per-user-limit message is in `text`, TRANSIENT if a passing fault is, else FATAL."""
    if any(p in text for p in limit_patterns):
        return LIMIT
    if any(p in text for p in transient_patterns):
        return TRANSIENT
    return FATAL


def format_walltime(minutes: int) -> str:
    """HH:MM:SS, as Slurm, PBS and Cobalt all accept."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def parse_walltime(value) -> int:
    """Minutes from an int (minutes) or 'HH:MM:SS' / 'HH:MM' / 'D-HH:MM:SS'; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(value)
        return int(value)
    text = str(value).strip()
    days = 0
    if "-" in text:
        day_text, text = text.split("-", 1)
        days = int(day_text)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 3:
        hours, minutes, seconds = parts
    elif len(parts) == 2:
        hours, minutes, seconds = parts[0], parts[1], 0
    else:
        raise ValueError(value)
    total = days * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    if total <= 0:
        raise ValueError(value)
    return total


def drive(steps, run):
    """Run a status-query generator (see SchedulerAdapter.status_steps): every argv it yields goes
    to `run(argv)` (-> CompletedProcess), whose answer is sent back; returns what it returns."""
    try:
        argv = next(steps)
        while True:
            argv = steps.send(run(argv))
    except StopIteration as done:
        return done.value


# ---------------------------------------------------------------------------------- the contract


class SchedulerAdapter(abc.ABC):
    """What every scheduler supplies, as render/parse pairs; optional capabilities have defaults.

    Class attributes every adapter sets (checked when it is instantiated):
      NAME        the scheduler's name in profiles (`scheduler: NAME`) and in messages
      TEMPLATE    its batch-script template in executors/templates/ (extends base.sh.j2)
      JOB_ID_VAR  the variable in which the scheduler gives a job its own id
      COMMANDS    the commands a real run needs on PATH (submit, status, cancel); () for none
    Optional:
      JOB_ID_PRECEDENCE  inside a job where several schedulers' id variables are set (a front end on
                  top of another scheduler), the highest precedence names the job (default 0)
      DEFAULT_LAUNCHER   how the job script starts a task when the site names no `launcher`

    One instance per executor: `self.state` is the adapter's cache between polls (what this
    scheduler's commands turned out to understand).
    """

    NAME: str
    TEMPLATE: str
    JOB_ID_VAR: str
    COMMANDS: tuple
    JOB_ID_PRECEDENCE = 0
    DEFAULT_LAUNCHER = "local"
    REQUIRED_ATTRIBUTES = ("NAME", "TEMPLATE", "JOB_ID_VAR", "COMMANDS")

    def __init__(self):
        missing = [name for name in self.REQUIRED_ATTRIBUTES if getattr(self, name, None) is None]
        if missing:
            raise TypeError(f"scheduler adapter {type(self).__name__} does not set {', '.join(missing)}")
        self.state: dict = {}

    # -- rendering --------------------------------------------------------------------------
    @abc.abstractmethod
    def directives(self, request: JobRequest) -> list[str]:
        """The directive lines of the batch script (the template adds the `#SBATCH `-style prefix).
        ValueError when the scheduler cannot express a value (a blank in a path …)."""

    # -- submission -------------------------------------------------------------------------
    @abc.abstractmethod
    def submit_argv(self, script: str) -> list[str]:
        """The command that submits batch script `script`."""

    @abc.abstractmethod
    def parse_submit(self, stdout: str) -> str:
        """The job id from the submit command's output; ValueError (GarbledAnswer) when it holds none."""

    @abc.abstractmethod
    def classify_submit_error(self, text: str) -> str:
        """A failed submission's output -> TRANSIENT, LIMIT, FATAL or AMBIGUOUS (pure)."""

    def submit_error(self, text: str) -> SchedulerError:
        """A failed submission's output as a typed error (TransientError, LimitReached,
        SubmitRefused or LimitOrRefused), its message the last line of `text`."""
        kind = self.classify_submit_error(text)
        lines = text.strip().splitlines()
        return ERROR_OF_CLASS[kind](lines[-1] if lines else f"{self.NAME}: submission failed")

    # -- status -----------------------------------------------------------------------------
    @abc.abstractmethod
    def status_argv(self, ids: list[str]) -> list[str]:
        """The one command that asks for the status of all of `ids`."""

    @abc.abstractmethod
    def parse_status(self, returncode: int, stdout: str, stderr: str, ids: list[str]) -> dict:
        """{id: JobStatus} from `status_argv`'s answer. Ids left out stay undecided; QueryFailed
        (a RuntimeError) when the answer as a whole is unusable."""

    def status_steps(self, ids: list[str], jobs: dict):
        """A generator: yields each argv of one poll, receives its CompletedProcess, returns
        {id: JobStatus}. `jobs[id]` is what the executor knows of each job ({'log_path': …}).
        Default: one `status_argv` read by `parse_status`. Override for multi-step queries."""
        answer = yield self.status_argv(ids)
        return self.parse_status(answer.returncode, answer.stdout, answer.stderr, ids)

    def poll(self, ids: list[str], run, jobs: dict | None = None) -> dict:
        """The status of `ids`, running `status_steps`' commands through `run(argv)` (the
        executor's command runner)."""
        if not ids:
            return {}
        return drive(self.status_steps(list(ids), jobs or {}), run)

    # -- cancelling -------------------------------------------------------------------------
    @abc.abstractmethod
    def cancel_argv(self, ids: list[str]) -> list[str]:
        """The command that cancels `ids`."""

    def cancel_argvs(self, ids: list[str]) -> list[list[str]]:
        """Every command needed to cancel `ids` (Slurm: one per cluster). Default: cancel_argv."""
        return [self.cancel_argv(ids)]

    # -- throttling -------------------------------------------------------------------------
    @abc.abstractmethod
    def count_user_jobs_argv(self, user: str, queue: str | None) -> list[str]:
        """The command that lists USER's queued and running jobs (of QUEUE when given)."""

    @abc.abstractmethod
    def count_user_jobs(self, returncode: int, stdout: str, stderr: str) -> int:
        """How many jobs `count_user_jobs_argv`'s answer lists; QueryFailed when it failed."""

    # -- finding a job whose submission timed out ------------------------------------------
    @abc.abstractmethod
    def find_by_name_argv(self, name: str, user: str) -> list[str]:
        """The command that lists USER's jobs named NAME, with what tells their work directory."""

    @abc.abstractmethod
    def parse_find_by_name(self, stdout: str, workdir: str) -> list[str]:
        """Ids (oldest first) of the jobs found that run in `workdir`; ValueError on garbage."""

    def submitted_ids_in_log(self, log_path: str) -> list[str]:
        """Ids the submit command itself logged for this log path (Cobalt's cobaltlog). Default: none."""
        return []

    # -- the scheduler's own queue limits (optional) ----------------------------------------
    def queue_limits_argv(self, site: dict) -> list[str] | None:
        """The command that lists the scheduler's queues/partitions and their limits, asked once per
        run so that a job over a limit the profile does not state is refused before submission,
        not left pending forever. None (default): this adapter does not ask."""
        return None

    def parse_queue_limits(self, returncode: int, stdout: str, stderr: str) -> dict:
        """{queue: {'max_walltime_min': int|None, 'default': bool}} from `queue_limits_argv`'s
        answer; {} when it failed or says nothing usable (then no job is refused on it)."""
        return {}

    # -- the job's side ---------------------------------------------------------------------
    def log_files(self, log_path: str) -> list[str]:
        """Where a job's output goes, for messages. Default: the log path itself."""
        return [log_path]

    def launcher(self, site: dict):
        """How a job script of `site` starts a task on its allocation (executors/launchers.py):
        the site's `launcher`, else this scheduler's DEFAULT_LAUNCHER."""
        from mdflow.executors import launchers

        return launchers.get(site.get("launcher") or self.DEFAULT_LAUNCHER)

    def __repr__(self):
        return f"<{type(self).__name__} {self.NAME}>"
