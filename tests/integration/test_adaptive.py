"""Adaptive continuation end to end (ci profile, 0.2 ps segments): the convergence checkpoint adds
segments only while the criterion is unmet, stops at max_length_ps, and re-decides when the sheet changes."""

import hashlib
import json
from pathlib import Path

import pytest

from conftest import make_project, planned_jobs, run_mdflow, write_sheet

pytestmark = pytest.mark.campaign

ALA = {"name": "ala", "structure": "resources/alanine-dipeptide.pdb", "forcefield": "amber99sbildn",
       "solvent": "implicit", "temperature_k": 300, "replicas": 2, "length_ps": 0.4, "segment_ps": 0.2, "seed": 11,
       "max_length_ps": 1.0, "converge_metric": "rmsd_nm", "converge_tolerance": 1e-12}
PLAIN = {**ALA, "name": "plain", "replicas": 1, "seed": 12, "max_length_ps": "", "converge_metric": "",
         "converge_tolerance": ""}


def fingerprint(paths) -> dict:
    return {str(p): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths}


def segments_on_disk(project: Path, system: str, replica: int = 0) -> list[str]:
    return sorted(p.stem[3:] for p in (project / f"results-ci/{system}/rep{replica}").glob("seg*.dcd"))


def decisions(project: Path, system: str = "ala") -> dict:
    files = sorted((project / f"results-ci/{system}/convergence").glob("after_seg[0-9][0-9][0-9].json"))
    return {p.stem: json.loads(p.read_text()) for p in files}


def summary(project: Path, system: str = "ala") -> dict:
    return json.loads((project / f"results-ci/{system}/analysis/summary.json").read_text())


def segments_cell(project: Path, system: str) -> str:
    """The report's 'segments' cell of `system`."""
    row = (project / "results-ci/report.html").read_text().split(f'<a href="#{system}">')[1].split("</tr>")[0]
    return row.split("<td>")[7].split("</td>")[0]


@pytest.fixture(scope="module")
def drifting(tmp_path_factory) -> Path:
    """A project whose tolerance can never be met: it runs to max_length_ps."""
    project = make_project(tmp_path_factory.mktemp("adaptive") / "project")
    write_sheet(project, [ALA])
    return project


def test_dry_run_plans_the_first_convergence_check(drifting):
    jobs = planned_jobs(run_mdflow(drifting, "--profile", "ci", "--dry-run", "--list-jobs", check=True).stdout)
    assert ("converge", {"system": "ala", "segment": "001"}) in jobs
    assert sorted(w["segment"] for rule, w in jobs if rule == "simulate") == ["000", "000", "001", "001"]


def test_unmet_criterion_runs_up_to_max_length_and_stops_there(drifting):
    run_mdflow(drifting, "--profile", "ci", check=True)
    assert segments_on_disk(drifting, "ala", 0) == segments_on_disk(drifting, "ala", 1) == [f"{k:03d}" for k in range(5)]
    made = decisions(drifting)
    assert list(made) == ["after_seg001", "after_seg002", "after_seg003", "after_seg004"]
    assert [d["continue"] for d in made.values()] == [True, True, True, False]
    assert [d["reason"] for d in made.values()] == ["drift above tolerance"] * 3 + ["maximum reached"]
    last = made["after_seg004"]
    assert last["compared"] == {"previous": ["003"], "last": ["004"]} and set(last["drift"]) == {"0", "1"}
    assert last["max_drift"] == max(last["drift"].values()) > last["tolerance"] == 1e-12
    result = summary(drifting)
    assert result["segments"] == 5 and result["replicas"]["0"]["frames"] == 50
    assert result["convergence"] == last
    assert segments_cell(drifting, "ala") == "5 (adaptive, max 5: maximum reached)"


def test_rerun_does_nothing(drifting):
    before = fingerprint(sorted((drifting / "results-ci").rglob("*.*")))
    dry = run_mdflow(drifting, "--profile", "ci", "--dry-run", check=True)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    run_mdflow(drifting, "--profile", "ci", check=True)
    assert fingerprint(sorted((drifting / "results-ci").rglob("*.*"))) == before


def test_raised_cap_continues_with_new_segments_only(drifting):
    existing = fingerprint(sorted((drifting / "results-ci/ala").glob("rep*/seg*.*")))
    write_sheet(drifting, [{**ALA, "max_length_ps": 1.4}])
    # the cap is part of every decision, so the checks re-decide one after another; what they add
    # becomes known only as they finish
    jobs = planned_jobs(run_mdflow(drifting, "--profile", "ci", "--dry-run", "--list-jobs", check=True).stdout)
    assert ("converge", {"system": "ala", "segment": "001"}) in jobs
    assert not [w for rule, w in jobs if rule == "simulate"]
    run_mdflow(drifting, "--profile", "ci", check=True)
    assert segments_on_disk(drifting, "ala") == [f"{k:03d}" for k in range(7)]
    assert fingerprint(map(Path, existing)) == existing
    assert decisions(drifting)["after_seg006"]["reason"] == "maximum reached"
    assert summary(drifting)["segments"] == 7


def test_tolerance_met_midway_stops_at_the_first_converged_check(drifting):
    drifts = {name: d["max_drift"] for name, d in decisions(drifting).items()}
    tolerance = sorted(drifts.values())[len(drifts) // 2]  # met by some checks, not by all
    first_met = next(name for name, drift in drifts.items() if drift <= tolerance)
    expected = decisions(drifting)[first_met]["segments"]
    write_sheet(drifting, [{**ALA, "max_length_ps": 1.4, "converge_tolerance": tolerance}])

    jobs = planned_jobs(run_mdflow(drifting, "--profile", "ci", "--dry-run", "--list-jobs", check=True).stdout)
    assert {rule for rule, _ in jobs} == {"converge", "analyze", "report"}  # re-decided, nothing simulated
    run_mdflow(drifting, "--profile", "ci", check=True)
    made = decisions(drifting)
    consulted = [made[f"after_seg{k - 1:03d}"] for k in range(2, expected + 1)]
    assert [d["continue"] for d in consulted] == [True] * (len(consulted) - 1) + [False]
    assert all(d["max_drift"] > tolerance for d in consulted[:-1]) and consulted[-1]["reason"] == "converged"
    assert summary(drifting)["segments"] == expected
    assert summary(drifting)["replicas"]["1"]["frames"] == 10 * expected
    assert segments_cell(drifting, "ala") == f"{expected} (adaptive, max 7: converged)"


def test_met_criterion_runs_exactly_length_ps_and_plain_systems_are_untouched(tmp_path):
    project = make_project(tmp_path / "project")
    write_sheet(project, [{**ALA, "converge_tolerance": 1000.0}, PLAIN])
    run_mdflow(project, "--profile", "ci", check=True)
    assert segments_on_disk(project, "ala", 0) == segments_on_disk(project, "ala", 1) == ["000", "001"]
    assert not list((project / "scratch/ci/ala").glob("rep*/seg002*"))
    made = decisions(project)
    assert list(made) == ["after_seg001"] and made["after_seg001"]["reason"] == "converged"
    assert summary(project)["segments"] == 2 and summary(project)["convergence"]["continue"] is False
    assert segments_cell(project, "ala") == "2 (adaptive, max 5: converged)"

    assert segments_on_disk(project, "plain") == ["000", "001"]
    assert not (project / "results-ci/plain/convergence").exists()
    assert "convergence" not in summary(project, "plain") and summary(project, "plain")["segments"] == 2
    assert segments_cell(project, "plain") == "2"
    assert not (project / "logs/ci/converge/plain").exists()
