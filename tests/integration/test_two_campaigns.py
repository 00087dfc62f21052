"""Two campaigns in one project (the demo and ci, whose systems share their names) never touch each
other's files: each has its own results directory, its own scratch (`scratch/<campaign>`) and logs,
and a results directory names the campaign that made it (`.campaign.json`)."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import make_project, run_mdflow
from mdflow.campaign import load_campaign

pytestmark = pytest.mark.campaign


def snapshot(project: Path, *tops: str) -> dict:
    """{path: (sha256, mtime_ns)} of every file under the directories `tops` of `project`."""
    files = {}
    for top in tops:
        for path in sorted((project / top).rglob("*")):
            if path.is_file():
                files[path.relative_to(project).as_posix()] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                               path.stat().st_mtime_ns)
    return files


def status_json(project: Path, *profile) -> dict:
    return json.loads(run_mdflow(project, "status", *profile, "--json", check=True, timeout=120).stdout)


def expected_segments(campaign) -> int:
    return sum(s.replicas * s.segments for s in campaign.systems.values())


@pytest.fixture(scope="module")
def two_campaigns(tmp_path_factory) -> tuple:
    """ci, then the demo (local profile), then ci again; the ci files as they were before the demo."""
    project = make_project(tmp_path_factory.mktemp("two_campaigns") / "project")
    run_mdflow(project, "--profile", "ci", check=True)
    ci_files = snapshot(project, "results-ci", "scratch/ci", "logs/ci")
    run_mdflow(project, check=True, timeout=900)  # the demo: ~2.5 min on 2 cores
    again = run_mdflow(project, "--profile", "ci", check=True)
    return project, ci_files, again.stdout + again.stderr


def test_ci_demo_ci_keeps_each_campaigns_files_its_own(two_campaigns):
    project, ci_files, second_ci_run = two_campaigns
    assert "Nothing to be done" in second_ci_run
    assert snapshot(project, "results-ci", "scratch/ci", "logs/ci") == ci_files  # bytes and mtimes
    assert sorted(p.name for p in (project / "scratch").iterdir()) == ["ci", "demo"]
    assert json.loads((project / "results/.campaign.json").read_text()) == {
        "campaign": "demo", "config": ["config/config.yaml"]}
    assert json.loads((project / "results-ci/.campaign.json").read_text()) == {
        "campaign": "ci", "config": ["config/config.yaml", "config/ci.yaml"]}

    demo = load_campaign(project, [], {})
    assert (project / "results/report.html").exists()
    pulled = sorted((project / "results").glob("*/rep*/seg*.provenance.json"))
    assert len(pulled) == expected_segments(demo)
    for record in pulled:  # each one pulled by the demo (site local) from the demo's scratch
        provenance = json.loads(record.read_text())
        assert provenance["site"] == "local", record
        assert all(path.startswith("scratch/demo/") for path in provenance["inputs_sha256"]), record
    for csv in (project / "results").glob("*/rep*/seg*.csv"):  # the demo's segment length, not ci's
        system = demo.systems[csv.parts[-3]]
        rows = len(csv.read_text().splitlines()) - 1
        assert rows == system.steps_per_segment // demo.report_interval_steps, csv


def test_status_of_each_campaign_shows_only_its_own(two_campaigns):
    project = two_campaigns[0]
    for profile, configfiles in ((), []), (("--profile", "ci"), ["config/ci.yaml"]):
        campaign = load_campaign(project, configfiles, {})
        report = status_json(project, *profile)
        steps = sum(s.replicas * s.segments * s.steps_per_segment for s in campaign.systems.values())
        assert report["totals"]["segments"] == report["totals"]["done"] == expected_segments(campaign), profile
        assert report["totals"]["progress"] == 1.0
        assert sum(s["steps_total"] for s in report["segments"]) == steps
        assert {s["analysis"] for s in report["systems"].values()} == {"done"}


def test_ci_pointed_at_the_demos_results_is_refused_unless_adopting(two_campaigns, tmp_path):
    project = tmp_path / "copy"
    shutil.copytree(two_campaigns[0], project, symlinks=True)  # the override below changes results/
    demo_files = snapshot(project, "results", "scratch/demo", "logs/demo")
    for dry in ([], ["-n"]):
        refused = run_mdflow(project, "--profile", "ci", "--config", "results=results", *dry)
        assert refused.returncode != 0 and refused.stdout == ""
        assert refused.stderr.splitlines() == [
            "mdflow: error: results/ was made by campaign 'demo' (results/.campaign.json), but this is campaign "
            "'ci': give 'ci' its own `results:` in its config (config/config.yaml + config/ci.yaml + --config), or "
            "pass --adopt-results to let it take results/ over"]
        assert snapshot(project, "results", "scratch/demo", "logs/demo") == demo_files

    adopted = run_mdflow(project, "--profile", "ci", "--config", "results=results", "--adopt-results", check=True)
    assert "Traceback" not in adopted.stderr
    assert json.loads((project / "results/.campaign.json").read_text())["campaign"] == "ci"
    ci = load_campaign(project, ["config/ci.yaml"], {"results": "results"})
    assert status_json(project, "--profile", "ci", "--config", "results=results")["totals"]["done"] == \
        expected_segments(ci)
