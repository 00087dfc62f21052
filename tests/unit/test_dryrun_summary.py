"""The dry-run summary: counts per rule, reason and destination; which jobs are listed."""

import pytest

from mdflow.dryrun_summary import Summary, ensemble_shape_lines, parse_listing, shows
from mdflow.errors import MdflowError


def test_summary_counts_rules_reasons_and_destinations():
    summary = Summary()
    for _ in range(3):
        summary.add("simulate", ["output files have to be generated"], "short jobs, packed into ensembles")
    summary.add("simulate", ["output files have to be generated", "input files updated by another job"],
                "one batch job each: queue normal")
    summary.add("pull", ["output files have to be generated"], "this host (local rule)")
    summary.add_round(3, 1)
    text = summary.render("profile stampede, slurm")
    assert text.splitlines() == [
        "mdflow dry-run: 5 job(s); list them with --list-jobs, or those of some systems with --system NAME[,NAME]",
        "  rule        jobs  why",
        "  simulate       4  output files have to be generated (4); input files updated by another job (1)",
        "  pull           1  output files have to be generated (1)",
        "  ensembles: 1 for 3 short job(s) in 1 round(s) of jobs ready together (plans above)",
        "  where (profile stampede, slurm):",
        "  simulate       4  short jobs, packed into ensembles (3); one batch job each: queue normal (1)",
        "  pull           1  this host (local rule)",
    ]


def test_one_destination_is_one_line_and_nothing_to_do_prints_nothing():
    summary = Summary()
    summary.add("setup", [], "this host")
    assert summary.render("profile local, local").splitlines()[-1] == "  where (profile local, local): all on this host"
    assert Summary().render("x") == ""


def test_ensembles_of_one_shape_share_a_line():
    lines = ensemble_shape_lines(["simulate ensemble: 128 members", "simulate ensemble: 128 members",
                                  "simulate ensemble: 17 members"])
    assert lines == ["    2 x simulate ensemble: 128 members", "    1 x simulate ensemble: 17 members"]


def test_listing_choice():
    assert parse_listing(False, None, {"a": 1}) == (False, None)
    assert parse_listing(True, None, {"a": 1}) == (True, None)
    assert parse_listing(False, "a, b", {"a": 1, "b": 2}) == (False, frozenset({"a", "b"}))
    with pytest.raises(MdflowError, match=r"^--system: 'c' is not in the systems sheet \(systems: a, b\)$"):
        parse_listing(False, "a,c", {"a": 1, "b": 2})
    with pytest.raises(MdflowError, match="expected NAME"):
        parse_listing(False, ",", {"a": 1})
    assert shows(True, None, {}) and not shows(False, None, {"system": "a"})
    assert shows(False, frozenset({"a"}), {"system": "a"}) and not shows(False, frozenset({"a"}), {})
