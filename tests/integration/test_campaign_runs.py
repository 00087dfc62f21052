"""The ci campaign end to end through the real CLI, Snakemake and OpenMM, and the rerun rules."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MDFLOW, make_project, planned_jobs, run_mdflow

pytestmark = pytest.mark.campaign
SYSTEMS = {"ala-implicit": 2, "ala-water": 1, "villin": 1}


def fingerprint(paths) -> dict:
    return {str(p): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("ci") / "project")
    run_mdflow(project, "--profile", "ci", check=True)
    return project


def test_ci_campaign_produces_every_result(finished):
    results = finished / "results-ci"
    for system, replicas in SYSTEMS.items():
        for name in ("system.xml", "topology.pdb", "minimized.xml", "setup.json"):
            assert (results / system / "setup" / name).stat().st_size > 0
        for replica in range(replicas):
            for segment in ("000", "001"):
                rows = (results / system / f"rep{replica}" / f"seg{segment}.csv").read_text().splitlines()
                assert len(rows) == 1 + 50  # header + 500 steps / 10-step reports
        analysis = results / system / "analysis"
        for plot in ("rmsd", "rg", "energy", "temperature", "density", "rmsf", "secondary"):
            assert (analysis / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        summary = json.loads((analysis / "summary.json").read_text())
        assert set(summary["replicas"]) == {str(r) for r in range(replicas)}
        for replica in summary["replicas"].values():
            assert replica["frames"] == 100 and replica["simulated_ps"] == pytest.approx(2.0)
            assert 0 < replica["rmsd_nm"]["mean"] < 0.5  # 2 ps barely moves away from the minimum
            assert 100 < replica["temperature_k"]["mean"] < 450
            temperature = replica["judged"]["temperature_k"]
            assert 0 < temperature["se"] < 30 and temperature["from_ps"] <= 1.02
        assert summary["pooled"]["temperature_k"]["replicas"] == replicas
        rmsf = (analysis / "rmsf.csv").read_text().splitlines()
        assert rmsf[0] == "replica,residue,name,rmsf_nm" and len(rmsf) > 1
    villin_summary = json.loads((results / "villin/analysis/summary.json").read_text())
    # villin heats from its minimum for the whole 2 ps (no heating stage in the ci protocol): flagged
    assert any("villin replica 0: still drifting" in flag and "temperature" in flag for flag in villin_summary["flags"])
    assert any("off the thermostat's 300 K" in flag for flag in villin_summary["flags"])
    villin = villin_summary["replicas"]["0"]
    assert villin["secondary_structure"]["helix"] > 0.3  # villin headpiece: three helices
    water = json.loads((results / "ala-water/analysis/summary.json").read_text())["replicas"]["0"]
    density = water["judged"]["density_g_cm3"]  # the ci campaign runs NVT (its reference was written so)
    assert density["fixed_volume"] and 0.8 < density["mean"] < 1.1
    protocol = json.loads((results / "ala-water/analysis/summary.json").read_text())["protocol"]
    assert protocol["stages"] == [] and protocol["production"] == "NVT"
    assert "density_g_cm3" not in json.loads((results / "villin/analysis/summary.json").read_text())["pooled"]
    report = (results / "report.html").read_text()
    for system in SYSTEMS:
        assert f'href="#{system}"' in report and f"{system}/analysis/rmsd.png" in report
    manifest = json.loads((results / "villin/rep0/seg001.json").read_text())
    assert set(manifest["files"]) == {"seg001.dcd", "seg001.csv", "seg001.state.xml"}


def test_segments_continue_from_the_previous_segment(finished):
    rows0 = (finished / "results-ci/villin/rep0/seg000.csv").read_text().splitlines()[1:]
    rows1 = (finished / "results-ci/villin/rep0/seg001.csv").read_text().splitlines()[1:]
    steps = [int(r.split(",")[0]) for r in rows0 + rows1]
    assert steps == list(range(10, 1001, 10))


def test_second_run_does_nothing(finished):
    before = fingerprint(sorted((finished / "results-ci").rglob("*.*")))
    dry = run_mdflow(finished, "--profile", "ci", "--dry-run", check=True)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    run_mdflow(finished, "--profile", "ci", check=True)
    assert fingerprint(sorted((finished / "results-ci").rglob("*.*"))) == before


def test_dag_written_as_dot_and_svg(finished):
    result = run_mdflow(finished, "dag", "--profile", "ci", "--forceall", check=True)
    dot = (finished / "dag.dot").read_text()
    assert dot.startswith("digraph") and "simulate" in dot and "segment: 001" in dot
    if shutil.which("dot"):
        assert (finished / "dag.svg").read_text().lstrip().startswith("<?xml")
    assert "wrote dag.dot" in result.stdout


def test_changed_structure_reruns_only_that_system(finished):
    structure = finished / "resources/villin.pdb"
    lines = structure.read_text().splitlines(keepends=True)
    first_atom = next(i for i, line in enumerate(lines) if line.startswith("ATOM"))
    x = float(lines[first_atom][30:38]) + 0.05
    lines[first_atom] = lines[first_atom][:30] + f"{x:8.3f}" + lines[first_atom][38:]
    structure.write_text("".join(lines))

    jobs = planned_jobs(run_mdflow(finished, "--profile", "ci", "--dry-run", "--list-jobs", check=True).stdout)
    assert sorted({rule for rule, _ in jobs}) == ["analyze", "pull", "push", "report", "setup", "simulate"]
    assert {w.get("system") for rule, w in jobs if rule != "report"} == {"villin"}
    assert len(jobs) == 1 + 1 + 2 + 2 + 1 + 1

    others = sorted(p for s in ("ala-implicit", "ala-water") for p in (finished / "results-ci" / s).rglob("*.*"))
    before = fingerprint(others)
    run_mdflow(finished, "--profile", "ci", check=True)
    assert fingerprint(others) == before


def test_longer_length_runs_only_new_segments(finished):
    sheet = finished / "config/ci_systems.tsv"
    sheet.write_text(sheet.read_text().replace("\t2\t2.0\t1.0\t11", "\t2\t3.0\t1.0\t11"))
    existing = sorted((finished / "results-ci/ala-implicit").glob("rep*/seg*.*"))
    existing += sorted((finished / "scratch/ci/ala-implicit").glob("rep*/seg*.*"))
    before = fingerprint(existing)

    jobs = planned_jobs(run_mdflow(finished, "--profile", "ci", "--dry-run", "--list-jobs", check=True).stdout)
    planned = sorted((rule, w.get("replica"), w.get("segment")) for rule, w in jobs)
    assert planned == [
        ("analyze", None, None),
        ("pull", "0", "002"), ("pull", "1", "002"),
        ("report", None, None),
        ("simulate", "0", "002"), ("simulate", "1", "002"),
    ]
    run_mdflow(finished, "--profile", "ci", check=True)
    assert fingerprint(existing) == before
    summary = json.loads((finished / "results-ci/ala-implicit/analysis/summary.json").read_text())
    assert summary["replicas"]["0"]["frames"] == 150


def test_sigkill_during_simulate_then_rerun_resumes_from_checkpoint(tmp_path):
    project = make_project(tmp_path / "project")
    (project / "config/ci_systems.tsv").write_text(
        "name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
        "villin\tresources/villin.pdb\tamber99sbildn\timplicit\t300\t1\t3.0\t3.0\t5\n"
    )
    progress = project / "scratch/ci/villin/rep0/seg000.partial/progress.json"
    env = {**os.environ, "OPENMM_CPU_THREADS": "1"}
    controller = subprocess.Popen([*MDFLOW, "--profile", "ci"], cwd=project, env=env, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        if progress.exists() and json.loads(progress.read_text())["steps"] >= 100:
            break
        assert controller.poll() is None, "campaign ended before the segment could be killed"
        time.sleep(0.2)
    os.killpg(controller.pid, signal.SIGKILL)  # the controller and every job it started
    controller.wait()
    checkpointed = json.loads(progress.read_text())["steps"]
    assert 100 <= checkpointed < 1500

    run_mdflow(project, "--profile", "ci", check=True)
    log = (project / "logs/ci/simulate/villin/rep0/seg000.log").read_text()
    assert "from checkpoint at step" in log
    resumed_at = int(log.split("from checkpoint at step ")[1].split()[0])
    assert resumed_at >= checkpointed  # at most one checkpoint interval redone
    steps = [int(r.split(",")[0]) for r in (project / "results-ci/villin/rep0/seg000.csv").read_text().splitlines()[1:]]
    assert steps == list(range(10, 1501, 10))  # no duplicated or missing rows
    summary = json.loads((project / "results-ci/villin/analysis/summary.json").read_text())
    assert summary["replicas"]["0"]["frames"] == 150
