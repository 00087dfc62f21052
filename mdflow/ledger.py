"""The job ledger: every batch submission of a project, in sqlite at .mdflow/ledger.sqlite.

A restarted controller reads it to re-attach to jobs the scheduler still runs instead of
submitting them again (two jobs writing the same outputs corrupt them). One connection per call:
the executor uses it from Snakemake's main thread and from its status thread.
"""

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from mdflow.project_files import LEDGER_FILE

ACTIVE_STATES = ("submitted", "queued", "running")
COLUMNS = ("site", "external_id", "name", "rule", "wildcards", "outputs", "scheduler", "state", "exit_code",
           "attempt", "log_path", "submitted", "updated", "ensemble", "reason", "key")  # LedgerEntry's order

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    site TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    rule TEXT NOT NULL,
    wildcards TEXT NOT NULL,
    outputs TEXT NOT NULL,
    scheduler TEXT NOT NULL,
    state TEXT NOT NULL,
    exit_code INTEGER,
    attempt INTEGER NOT NULL,
    log_path TEXT NOT NULL,
    submitted REAL NOT NULL,
    updated REAL NOT NULL,
    ensemble TEXT,
    reason TEXT,
    key TEXT,
    PRIMARY KEY (site, external_id, name)
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (site, name);
"""


def outputs_within(outputs, directories, project) -> bool:
    """Does a job with these outputs belong to the campaign whose directories (results, scratch) are
    given? Paths relative to `project` or absolute. A row without outputs cannot tell: it counts."""
    def normal(path):
        return os.path.normpath(os.path.join(project, path))

    roots = [normal(d) for d in directories]
    return not outputs or any(normal(o) == r or normal(o).startswith(r + os.sep) for o in outputs for r in roots)


KEY_LENGTH = 12  # hex digits of a job's key (48 bits)


def job_key(rule: str, wildcards: dict, outputs) -> str:
    """A job's exact identity: a short hash of its rule, its wildcards (sorted by name) and its
    output paths. Two jobs whose readable names collide (`p-q`/`p/q`, or cut at the name limit)
    differ here. A ledger row written before keys were kept gets it from its own rule, wildcards
    and outputs on reading: the same key the job has now."""
    text = json.dumps([str(rule), sorted((str(k), str(v)) for k, v in dict(wildcards).items()),
                       sorted(str(o) for o in outputs)])
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


@dataclass(frozen=True)
class LedgerEntry:
    site: str
    external_id: str
    name: str
    rule: str
    wildcards: dict
    outputs: list
    scheduler: str
    state: str
    exit_code: int | None
    attempt: int
    log_path: str
    submitted: float
    updated: float
    ensemble: str | None = None
    reason: str | None = None   # the scheduler's word on why it waits or how it ended
    key: str | None = None      # the job's exact identity (job_key; derived on reading rows older than keys)

    def is_job(self, key: str | None, name: str, outputs) -> bool:
        """Is this entry the job with this exact `key`? (Without a key to compare: by name and
        outputs both.) Never by the readable name alone."""
        if self.key and key:
            return self.key == key
        return self.name == name and list(self.outputs) == list(outputs)


class Ledger:
    @classmethod
    def of_project(cls, project) -> "Ledger":
        """The ledger of the project in directory `project` (project_files.LEDGER_FILE)."""
        return cls(Path(project) / LEDGER_FILE)

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)
            columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
            if "reason" not in columns:  # a ledger written before reasons were kept
                db.execute("ALTER TABLE jobs ADD COLUMN reason TEXT")
            if "key" not in columns:  # written before exact job keys: its rows have none (NULL)
                db.execute("ALTER TABLE jobs ADD COLUMN key TEXT")

    def _connect(self):
        return sqlite3.connect(self.path, timeout=60)

    def record_submission(self, site, external_id, name, rule, wildcards, outputs, scheduler, attempt, log_path,
                          ensemble=None, key=None):
        self.record_submissions(site, scheduler, external_id, log_path, ensemble,
                                [(name, rule, wildcards, outputs, attempt, key)])

    def record_submissions(self, site, scheduler, external_id, log_path, ensemble, jobs):
        """One batch job's submission: a row per job it runs, (name, rule, wildcards, outputs, attempt,
        key) each, in one transaction (an ensemble of 128 members is one commit, not 128)."""
        now = time.time()
        with self._connect() as db:
            db.executemany(
                f"INSERT OR REPLACE INTO jobs ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})",
                [(site, external_id, name, rule, json.dumps(wildcards, sort_keys=True), json.dumps(list(outputs)),
                  scheduler, "submitted", None, attempt, log_path, now, now, ensemble, None, key)
                 for name, rule, wildcards, outputs, attempt, key in jobs],
            )

    def update(self, site, external_id, state, exit_code=None, name=None, reason=None):
        """Set the state (and the scheduler's reason) of batch job `external_id` (of its member
        `name` only, when given)."""
        self.update_many(site, [(external_id, state, exit_code, name, reason)])

    def update_many(self, site, updates):
        """Several `update`s, (external_id, state, exit_code, name, reason) each, in one transaction."""
        now = time.time()
        with self._connect() as db:
            for external_id, state, exit_code, name, reason in updates:
                where, args = "site=? AND external_id=?", [site, external_id]
                if name is not None:
                    where, args = where + " AND name=?", args + [name]
                db.execute(f"UPDATE jobs SET state=?, exit_code=?, reason=?, updated=? WHERE {where}",
                           (state, exit_code, reason or None, now, *args))

    def _select(self, where: str, args: tuple) -> list[LedgerEntry]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {','.join(COLUMNS)} FROM jobs WHERE {where} ORDER BY submitted", args).fetchall()
        entries = []
        for row in rows:
            wildcards, outputs = json.loads(row[4]), json.loads(row[5])
            key = row[15] or job_key(row[3], wildcards, outputs)  # a row older than keys: its own data gives it
            entries.append(LedgerEntry(*row[:4], wildcards, outputs, *row[6:15], key))
        return entries

    def active(self, site) -> list[LedgerEntry]:
        marks = ",".join("?" * len(ACTIVE_STATES))
        return self._select(f"site=? AND state IN ({marks})", (site, *ACTIVE_STATES))

    def active_by_name(self, site, name, outputs=None) -> LedgerEntry | None:
        """The latest active job named `name` (with exactly these `outputs`, when given: two campaigns'
        jobs of one rule and wildcards share a name, never their outputs)."""
        entries = [e for e in self.active(site) if e.name == name and (outputs is None or e.outputs == list(outputs))]
        return entries[-1] if entries else None

    def all(self, site=None) -> list[LedgerEntry]:
        return self._select("site=?", (site,)) if site else self._select("1=1", ())
