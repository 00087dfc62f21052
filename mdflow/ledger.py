"""The job ledger: every batch submission of a project, in sqlite at .mdflow/ledger.sqlite.

A restarted controller reads it to re-attach to jobs the scheduler still runs instead of
submitting them again (two jobs writing the same outputs corrupt them). One connection per call:
the executor uses it from Snakemake's main thread and from its status thread.
"""

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from mdflow.project_files import LEDGER_FILE

ACTIVE_STATES = ("submitted", "queued", "running")

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

    def _connect(self):
        return sqlite3.connect(self.path, timeout=60)

    def record_submission(self, site, external_id, name, rule, wildcards, outputs, scheduler, attempt, log_path,
                          ensemble=None):
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (site, external_id, name, rule, json.dumps(wildcards, sort_keys=True), json.dumps(list(outputs)),
                 scheduler, "submitted", None, attempt, log_path, now, now, ensemble, None),
            )

    def update(self, site, external_id, state, exit_code=None, name=None, reason=None):
        """Set the state (and the scheduler's reason) of batch job `external_id` (of its member
        `name` only, when given)."""
        where, args = "site=? AND external_id=?", [site, external_id]
        if name is not None:
            where, args = where + " AND name=?", args + [name]
        with self._connect() as db:
            db.execute(f"UPDATE jobs SET state=?, exit_code=?, reason=?, updated=? WHERE {where}",
                       (state, exit_code, reason or None, time.time(), *args))

    def _select(self, where: str, args: tuple) -> list[LedgerEntry]:
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM jobs WHERE {where} ORDER BY submitted", args).fetchall()
        return [LedgerEntry(*row[:4], json.loads(row[4]), json.loads(row[5]), *row[6:]) for row in rows]

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
