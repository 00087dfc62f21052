"""Exact job identity in the ledger and on re-attach (issue 18): jobs whose readable names collide
(`collide.p-q` for both `p-q` and `p/q`) are never taken for one another; old ledgers stay readable."""

import json
import sqlite3

from mdflow.executors.adapter import JobStatus, RUNNING
from mdflow.executors.batch import job_resources
from mdflow.executors.reattach import LedgerBook
from mdflow.executors.render import job_key
from mdflow.ledger import Ledger

PQ_KEY, P_SLASH_Q_KEY = job_key("collide", {"v": "p-q"}, ["out/p-q.txt"]), job_key("collide", {"v": "p/q"}, ["out/p/q.txt"])


def running(ids):
    return {i: JobStatus(RUNNING) for i in ids}


def test_a_job_is_not_reattached_to_another_job_of_the_same_readable_name(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.record_submission("s", "101", "collide.p-q", "collide", {"v": "p-q"}, ["out/p-q.txt"], "slurm", 1,
                             "logs/collide.p-q.a1.log", key=PQ_KEY)
    book = LedgerBook(ledger, "s", running)
    assert book.lookup(P_SLASH_Q_KEY, "collide.p-q", ["out/p/q.txt"]) is None  # not p-q's job
    # even a (hypothetical) equal name and equal outputs do not make two keys one job
    assert book.lookup(P_SLASH_Q_KEY, "collide.p-q", ["out/p-q.txt"]) is None
    entry, finished, how = book.lookup(PQ_KEY, "collide.p-q", ["out/p-q.txt"])
    assert entry.external_id == "101" and not finished and "running" in how


def test_two_members_of_colliding_names_are_two_ledger_rows(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    for name, key, out in (("collide.p-q", PQ_KEY, "out/p-q.txt"), (f"collide.p-q.h{P_SLASH_Q_KEY}", P_SLASH_Q_KEY,
                                                                      "out/p/q.txt")):
        ledger.record_submission("s", "7", name, "collide", {}, [out], "slurm", 1, "logs/e.log", "ens", key)
    ledger.update("s", "7", "success", 0, name="collide.p-q")
    states = {e.key: e.state for e in ledger.all("s")}
    assert states == {PQ_KEY: "success", P_SLASH_Q_KEY: "submitted"}


def test_a_ledger_older_than_keys_is_read_and_its_rows_keyed_by_their_own_data(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:  # the schema before reasons and keys were kept
        db.execute("CREATE TABLE jobs (site TEXT NOT NULL, external_id TEXT NOT NULL, name TEXT NOT NULL, "
                   "rule TEXT NOT NULL, wildcards TEXT NOT NULL, outputs TEXT NOT NULL, scheduler TEXT NOT NULL, "
                   "state TEXT NOT NULL, exit_code INTEGER, attempt INTEGER NOT NULL, log_path TEXT NOT NULL, "
                   "submitted REAL NOT NULL, updated REAL NOT NULL, ensemble TEXT, "
                   "PRIMARY KEY (site, external_id, name))")
        for external_id, value in (("55", "p-q"), ("57", "p/q")):  # both named collide.p-q back then
            db.execute("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       ("s", external_id, "collide.p-q", "collide", json.dumps({"v": value}),
                        json.dumps([f"out/{value}.txt"]), "slurm", "running", None, 1, "logs/x.log", 1.0, 1.0, None))
    ledger = Ledger(path)
    old = ledger.all()
    assert [e.key for e in old] == [PQ_KEY, P_SLASH_Q_KEY] and old[0].reason is None
    book = LedgerBook(ledger, "s", running)  # an upgraded controller re-attaches each job to its own batch job
    assert book.lookup(P_SLASH_Q_KEY, f"collide.p-q.h{P_SLASH_Q_KEY}", ["out/p/q.txt"])[0].external_id == "57"
    assert book.lookup(PQ_KEY, "collide.p-q", ["out/p-q.txt"])[0].external_id == "55"
    ledger.record_submission("s", "58", "x", "x", {}, [], "slurm", 1, "logs/y.log", key="abc")
    assert [e.key for e in Ledger(path).all()] == [PQ_KEY, P_SLASH_Q_KEY, "abc"]


class Resources(dict):
    def items(self):
        return super().items()


class Member:
    def __init__(self, runtime):
        self.resources = Resources({"runtime": runtime} if runtime else {})


class FakeGroupJob:
    """The part of Snakemake's GroupJob the executor uses for a group's resources."""

    def __init__(self, levels):
        self.toposorted = [[Member(r) for r in level] for level in levels]
        self.resources = Resources({"runtime": 999, "mem_mb": 300, "_cores": 2})
        self.groupid = "g"

    def is_group(self):
        return True


def test_a_group_asks_for_its_resources_with_the_layered_walltime():
    resources = job_resources(FakeGroupJob([[3, 4], [5]]), 60)
    assert resources["runtime"] == 9 and resources["mem_mb"] == 300
    assert job_resources(FakeGroupJob([[3, None], ["00:10:00"]]), 60)["runtime"] == 70  # site default for one


def test_a_poll_writes_only_changed_states_in_one_transaction(tmp_path):
    """1000 ensemble members reported active on every poll cost one commit each (7 ms/job in
    benchmarks/controller_cpu.py): only changes are written, one transaction per poll."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.record_submissions("s", "slurm", "9", "logs/e.log", "ens",
                              [(f"task.{i}", "task", {"i": str(i)}, [f"out/{i}"], 1, f"k{i}") for i in range(3)])
    writes = []
    ledger.update_many = lambda site, updates: writes.append(list(updates)) or Ledger.update_many(ledger, site, updates)
    book = LedgerBook(ledger, "s", running)
    for _ in range(2):  # two polls, the same answer
        with book.deferred():
            for i in range(3):
                book.update("9", RUNNING, name=f"task.{i}")
    assert len(writes) == 1 and len(writes[0]) == 3
    assert {e.state for e in ledger.all("s")} == {RUNNING}
    book.update("9", "cancelled")  # the whole batch job, then a member again: written, not remembered wrongly
    book.update("9", RUNNING, name="task.0")
    assert [e.state for e in ledger.all("s")] == [RUNNING, "cancelled", "cancelled"]
