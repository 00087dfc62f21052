"""The outcome record a batch job writes about itself, so its exit status never depends on the
scheduler's history (OpenPBS ships with job_history_enable off, Torque sites keep few completed
jobs, Cobalt forgets a job the moment it exits, ALCF can drop a job at routing after qsub printed
its id).

Every batch script (templates/base.sh.j2) traps EXIT (and TERM, which schedulers send at walltime)
and writes, atomically (temp file + rename), one line of JSON next to its log:

    {"job_id": "4242", "exit_status": 0, "started": 1733330000, "ended": 1733330060, "host": "c401-001"}

The executor reads that file first and asks the scheduler only about jobs that have none. A record
belongs to a job only if its job_id is the job's (a rerun reuses log paths): pure functions here.
"""

import json
import posixpath
from pathlib import Path

from mdflow.executors.adapter import FAILED, SUCCESS, JobStatus

SUFFIX = ".outcome.json"


def outcome_path(log_path: str, workdir: str = "") -> str:
    """`logs/batch/x.a1.log` -> `<workdir>/logs/batch/x.a1.outcome.json`."""
    stem = log_path[:-4] if log_path.endswith(".log") else log_path
    path = stem + SUFFIX
    return posixpath.join(workdir, path) if workdir and not posixpath.isabs(path) else path


def same_job(recorded: str, external_id: str) -> bool:
    """PBS ids may be printed with or without the server suffix (`308834` vs `308834.polaris-pbs-01…`);
    Slurm's federation adds `;cluster` on submission only."""
    def sequence(job_id: str) -> str:
        return job_id.split(";", 1)[0].split(".", 1)[0].strip()
    return bool(recorded) and sequence(recorded) == sequence(external_id)


def parse_outcome(text: str) -> dict:
    """The record as a dict; ValueError if it is not one JSON object with an integer exit_status."""
    record = json.loads(text)
    if not isinstance(record, dict) or not isinstance(record.get("exit_status"), int):
        raise ValueError(f"not an outcome record: {text[:120]!r}")
    return record


def status_from_outcome(record: dict, external_id: str) -> JobStatus | None:
    """The job's final status per its own record; None if the record is another job's."""
    if not same_job(str(record.get("job_id", "")), external_id):
        return None
    code = record["exit_status"]
    host = record.get("host") or "?"
    if code == 0:
        return JobStatus(SUCCESS, 0, reason=f"recorded by the job on {host}")
    return JobStatus(FAILED, code, reason=f"the job recorded exit status {code} on {host}")


def read_status(log_path: str, workdir: str, external_id: str) -> JobStatus | None:
    """The status recorded next to `log_path`, or None (no record yet, unreadable, another job's)."""
    if not log_path:
        return None
    try:
        return status_of_text(Path(outcome_path(log_path, workdir)).read_text(), external_id)
    except OSError:
        return None


def status_of_text(text: str | None, external_id: str) -> JobStatus | None:
    """The status an outcome record's `text` gives `external_id`; None for no text, garbage or
    another job's record."""
    if text is None:
        return None
    try:
        return status_from_outcome(parse_outcome(text), external_id)
    except ValueError:
        return None


def read_local_texts(paths: list) -> dict:
    """{path: text | None} of files on this host (a remote site reads them over SSH instead)."""
    texts = {}
    for path in paths:
        try:
            texts[path] = Path(path).read_text()
        except OSError:
            texts[path] = None
    return texts


def remove_stale(log_path: str, workdir: str) -> None:
    """Before a submission: an earlier job with the same log path may have left a record."""
    Path(outcome_path(log_path, workdir)).unlink(missing_ok=True)
