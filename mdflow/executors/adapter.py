"""What one scheduler adapter provides: pure render/parse functions plus the command lines to run.

The executor (executors/batch.py) runs the commands; adapters never run anything themselves, so
every parser is unit-tested on real output shapes (tests/golden/, tests/unit/test_adapters_*.py).
"""

from dataclasses import dataclass, field

# Job states the executor understands. Scheduler states map onto these. GONE: the scheduler said
# it does not know the job (finished and forgotten, or dropped after submission): the job's own
# outcome record decides (executors/outcome.py). UNKNOWN: no usable answer about this one job.
QUEUED, RUNNING, SUCCESS, FAILED, UNKNOWN, GONE = "queued", "running", "success", "failed", "unknown", "gone"
FINISHED = (SUCCESS, FAILED)

# Classes of submission errors. AMBIGUOUS: a limit on the user's job count or on the job itself,
# the scheduler does not say which (the executor decides with its own count of the user's jobs).
TRANSIENT, LIMIT, FATAL, AMBIGUOUS = "transient", "limit", "fatal", "ambiguous"


@dataclass(frozen=True)
class JobRequest:
    """Everything a batch script needs to know about one job, scheduler-neutral."""

    name: str                 # sanitized: rule + wildcards, [A-Za-z0-9_.-] only
    queue: str | None         # None: the scheduler's default queue/partition
    walltime_min: int
    nodes: int = 1
    tasks: int = 1
    cpus_per_task: int = 1
    mem_mb: int | None = None
    gpus: int = 0
    account: str | None = None
    log_path: str = "job.log"  # stdout+stderr of the batch job
    workdir: str = "."
    extra: tuple = ()          # raw site directives, appended as given
    select_extra: str = ""     # PBS: appended to the select statement (e.g. "system=polaris")
    cluster: str | None = None # Slurm multi-cluster/federation: --clusters=NAME
    whole_nodes: bool = False  # the site gives every job whole nodes: no per-job memory or CPU counts


@dataclass(frozen=True)
class JobStatus:
    state: str                 # one of QUEUED, RUNNING, SUCCESS, FAILED, UNKNOWN, GONE
    exit_code: int | None = None
    reason: str = ""
    never_runs: bool = False   # queued for a reason that cannot clear by itself (reason says which)


@dataclass
class StatusQuery:
    """One poll's scheduler command plus what is needed to interpret its output."""

    argv: list
    ok_exit_codes: tuple = (0,)
    notes: dict = field(default_factory=dict)


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
