"""mdflow.status and mdflow.progress on synthetic project trees (files + ledger rows), no Snakemake."""

import dataclasses
import io
import json
import os
import time
from pathlib import Path

import pytest

from golden import assert_golden
from mdflow import progress, status
from mdflow.campaign import Campaign, System
from mdflow.controller_lock import controller_lock
from mdflow.errors import MdflowError
from mdflow.ledger import Ledger, outputs_within
from mdflow.profiles import campaign_configfiles, load_profile

REPO = Path(__file__).resolve().parents[2]
SCRATCH = "scratch"


def make_system(name, replicas, segments, steps, **extra) -> System:
    values = dict(name=name, structure="resources/x.pdb", forcefield="amber14", solvent="implicit",
                  temperature_k=300.0, replicas=replicas, length_ps=0.2 * segments, segment_ps=0.2, seed=1,
                  ph=7.0, segments=segments, steps_per_segment=steps)
    names = {f.name for f in dataclasses.fields(System)}
    if "max_segments" in names:  # adaptive continuation: max_segments == segments unless adaptive
        values["max_segments"] = segments
    values.update(extra)
    return System(**{k: v for k, v in values.items() if k in names})


def make_campaign(*systems) -> Campaign:
    return Campaign({"results": "results"}, {s.name: s for s in systems}, 10, 50)


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def pulled(project, system, replica, segment):
    for suffix in ("dcd", "csv", "json", "provenance.json"):
        touch(project / f"results/{system}/rep{replica}/seg{segment}.{suffix}")


def simulated(project, system, replica, segment):
    for suffix in ("dcd", "csv", "state.xml", "json"):
        touch(project / f"{SCRATCH}/{system}/rep{replica}/seg{segment}.{suffix}")


def partial(project, system, replica, segment, steps=None):
    directory = project / f"{SCRATCH}/{system}/rep{replica}/seg{segment}.partial"
    directory.mkdir(parents=True)
    if steps is not None:
        touch(directory / "progress.json", json.dumps({"steps": steps, "fingerprint": "f", "platform": "CPU"}))


def submit(ledger, external_id, rule, state, site="stampede", exit_code=None, ensemble=None, **wildcards):
    name = ".".join([rule, *wildcards.values()])
    ledger.record_submission(site, external_id, name, rule, wildcards, [], "slurm", 1,
                             f"logs/batch/{name}.a1.log", ensemble)
    if state != "submitted":
        ledger.update(site, external_id, state, exit_code, name=name)


@pytest.fixture
def half_finished(tmp_path) -> tuple:
    """Three systems in every state a segment can be in, the controller gone."""
    project = tmp_path / "project"
    campaign = make_campaign(make_system("ala", 2, 3, 100), make_system("villin", 1, 2, 1500),
                             make_system("water", 1, 3, 100))
    ledger = Ledger(project / ".mdflow/ledger.sqlite")
    touch(project / "results/ala/setup/setup.json")
    touch(project / "results/ala/analysis/summary.json")  # from before segments were added: outdated
    pulled(project, "ala", 0, "000")
    simulated(project, "ala", 0, "001")
    partial(project, "ala", 0, "002", steps=40)                      # interrupted, resumable
    pulled(project, "ala", 1, "000")
    submit(ledger, "1001", "simulate", "running", system="ala", replica="1", segment="001")
    partial(project, "ala", 1, "001", steps=50)                      # running as far as the ledger knows
    submit(ledger, "1002", "setup", "running", system="villin")
    submit(ledger, "1003", "simulate", "submitted", system="villin", replica="0", segment="000")
    touch(project / "results/water/setup/setup.json")
    pulled(project, "water", 0, "000")
    submit(ledger, "1004", "simulate", "failed", exit_code=1, system="water", replica="0", segment="001")
    submit(ledger, "1005", "simulate", "cancelled", system="water", replica="0", segment="002")
    partial(project, "water", 0, "002")                              # cancelled before its first checkpoint
    return project, campaign


def test_half_finished_campaign_table_and_json(half_finished):
    project, campaign = half_finished
    state = status.collect(project, campaign, "stampede", SCRATCH)
    assert state.controller == status.Controller(False)
    assert_golden("status/half_finished.txt", status.render_table(state))
    assert_golden("status/half_finished.json", json.dumps(status.to_json(state), indent=2) + "\n")
    by_key = {(r.system, r.replica, r.segment): r for r in state.rows}
    assert by_key["ala", 0, "002"].state == "interrupted" and by_key["ala", 0, "002"].steps_done == 40
    assert by_key["ala", 1, "001"].state == "running" and by_key["ala", 1, "001"].job_id == "1001"
    assert by_key["villin", 0, "000"].state == "queued"
    assert by_key["water", 0, "001"].state == "failed" and "exit 1" in by_key["water", 0, "001"].detail
    assert [s.setup for s in state.systems] == ["done", "running", "done"]


def test_filtered_table_lists_chosen_segments_and_keeps_every_total(half_finished):
    project, campaign = half_finished
    state = status.collect(project, campaign, "stampede", SCRATCH)
    states = status.parse_filter("--state", "interrupted,failed", status.STATES)
    shown = status.select_rows(state.rows, states)
    assert [(r.system, r.segment) for r in shown] == [("ala", "002"), ("water", "001"), ("water", "002")]
    assert_golden("status/half_finished_stuck.txt", status.render_table(state, shown))
    listed = status.to_json(state, status.select_rows(state.rows, (), ("villin",)))
    assert [r["system"] for r in listed["segments"]] == ["villin", "villin"] and listed["totals"]["segments"] == 11


@pytest.mark.parametrize("value", ["runing", "", "done,,nope"])
def test_unknown_filter_value_is_one_clear_error(value):
    with pytest.raises(MdflowError, match=r"status --state .*: expected one or more of done, simulated, .*missing"):
        status.parse_filter("--state", value, status.STATES)


def test_finished_campaign_is_all_done(tmp_path):
    project = tmp_path / "project"
    campaign = make_campaign(make_system("ala", 2, 2, 100))
    touch(project / "results/ala/setup/setup.json")
    for replica in (0, 1):
        for segment in ("000", "001"):
            simulated(project, "ala", replica, segment)
            pulled(project, "ala", replica, segment)
    summary = touch(project / "results/ala/analysis/summary.json")
    later = time.time() + 10
    os.utime(summary, (later, later))
    state = status.collect(project, campaign, "local", SCRATCH)
    assert_golden("status/finished.txt", status.render_table(state))
    assert status.to_json(state)["totals"] == {
        "segments": 4, "done": 4, "simulated": 0, "running": 0, "queued": 0, "interrupted": 0, "failed": 0,
        "missing": 0, "progress": 1.0}
    assert state.systems[0].analysis == "done"
    assert status.summary_line(state) == "mdflow: segments 4/4 done, 0 running, 0 queued, 0 failed; 100% of all steps"


def test_local_partial_is_running_while_a_controller_holds_the_lock(tmp_path):
    project = tmp_path / "project"
    campaign = make_campaign(make_system("villin", 1, 2, 1500))
    partial(project, "villin", 0, "000", steps=600)
    with controller_lock(project):
        live = status.collect(project, campaign, "ci", SCRATCH)
    assert live.controller == status.Controller(True, os.getpid())
    assert [(r.state, r.steps_done, r.site) for r in live.rows] == [("running", 600, "ci"), ("missing", 0, "")]
    assert "mdflow controller running (pid" in status.render_table(live)
    after = status.collect(project, campaign, "ci", SCRATCH)  # lock released: nobody works on it
    assert after.controller == status.Controller(False)
    assert [(r.state, r.steps_done, r.detail) for r in after.rows] == [
        ("interrupted", 600, "resumes from step 600 of 1500"), ("missing", 0, "")]
    assert round(after.rows[0].progress, 2) == 0.4


def test_a_running_rerun_beats_old_results_and_a_finished_job_beats_a_stale_ledger(tmp_path):
    project = tmp_path / "project"
    campaign = make_campaign(make_system("ala", 2, 1, 100))
    ledger = Ledger(project / ".mdflow/ledger.sqlite")
    pulled(project, "ala", 0, "000")  # an older result; the ledger shows this segment running again
    submit(ledger, "7", "simulate", "running", system="ala", replica="0", segment="000")
    submit(ledger, "8", "simulate", "running", system="ala", replica="1", segment="000")
    simulated(project, "ala", 1, "000")  # written after job 8 was submitted: it finished, the ledger is stale
    rows = status.collect(project, campaign, "stampede", SCRATCH).rows
    assert [(r.state, r.job_id) for r in rows] == [("running", "7"), ("simulated", "8")]
    assert rows[0].detail == "slurm job running; last seen by a controller that is gone"


def test_latest_ledger_entry_wins_and_ensemble_members_are_named(tmp_path):
    project = tmp_path / "project"
    campaign = make_campaign(make_system("ala", 1, 1, 100))
    ledger = Ledger(project / ".mdflow/ledger.sqlite")
    submit(ledger, "20", "simulate", "failed", exit_code=1, system="ala", replica="0", segment="000")
    time.sleep(0.01)
    submit(ledger, "21", "simulate", "queued", ensemble="ensemble.1.1.simulate.4", site="polaris",
           system="ala", replica="0", segment="000")
    (row,) = status.collect(project, campaign, "stampede", SCRATCH).rows
    assert (row.state, row.job_id, row.site) == ("queued", "21", "polaris")
    assert row.detail.startswith("slurm job queued in ensemble ensemble.1.1.simulate.4")


def test_another_campaigns_jobs_in_the_ledger_do_not_count(tmp_path):
    """Two campaigns of one project share the ledger and their jobs' names (simulate.ala.0.000);
    their outputs tell them apart: results/ + scratch/demo here, results-ci/ + scratch/ci there."""
    project = tmp_path / "project"
    campaign = make_campaign(make_system("ala", 1, 1, 100))
    ledger = Ledger(project / ".mdflow/ledger.sqlite")
    ours = ["scratch/demo/ala/rep0/seg000.dcd"]
    theirs = [str(project / "scratch/ci/ala/rep0/seg000.dcd")]  # absolute paths count the same
    ledger.record_submission("stampede", "30", "simulate.ala.0.000", "simulate",
                             {"system": "ala", "replica": "0", "segment": "000"}, ours, "slurm", 1, "l", None)
    ledger.update("stampede", "30", "failed", 1)
    time.sleep(0.01)
    ledger.record_submission("stampede", "31", "simulate.ala.0.000", "simulate",
                             {"system": "ala", "replica": "0", "segment": "000"}, theirs, "slurm", 1, "l", None)
    ledger.record_submission("stampede", "32", "setup.ala", "setup", {"system": "ala"},
                             ["results-ci/ala/setup/setup.json"], "slurm", 1, "l", None)
    state = status.collect(project, campaign, "stampede", "scratch/demo")
    assert [(r.state, r.job_id) for r in state.rows] == [("failed", "30")]
    assert state.systems[0].setup == "missing"
    assert Ledger(project / ".mdflow/ledger.sqlite").active_by_name("stampede", "simulate.ala.0.000", ours) is None
    assert Ledger(project / ".mdflow/ledger.sqlite").active_by_name("stampede", "simulate.ala.0.000",
                                                                    theirs).external_id == "31"


def test_outputs_within_a_campaigns_directories():
    directories = ("results-ci", "/scratch/me/ci")
    assert outputs_within(["results-ci/a/setup/setup.json"], directories, "/p")
    assert outputs_within(["/scratch/me/ci/a/rep0/seg000.dcd"], directories, "/p")
    assert not outputs_within(["results/a/setup/setup.json", "/scratch/me/demo/a/x"], directories, "/p")
    assert not outputs_within(["results-ci2/a"], directories, "/p")  # a prefix of a name is not its directory
    assert outputs_within([], directories, "/p")  # a row without outputs cannot tell: it counts


def test_expected_segments_follow_the_sheet_and_adaptive_continuation():
    plain = make_system("a", 1, 2, 100)
    campaign = make_campaign(plain)
    assert status.expected_segments(campaign, plain) == ["000", "001"]
    assert status.expected_segments(campaign, plain, observed={5}) == ["000", "001"]  # not part of the campaign
    adaptive = dataclasses.replace(plain, max_segments=5) if hasattr(plain, "max_segments") else None
    if adaptive is None:  # a System without max_segments: the attribute is read with getattr
        adaptive = type("Adaptive", (), {"segments": 2, "max_segments": 5})()
    assert status.expected_segments(campaign, adaptive) == ["000", "001"]
    assert status.expected_segments(campaign, adaptive, observed={0, 1, 2}) == ["000", "001", "002"]
    assert status.expected_segments(campaign, adaptive, observed={9}) == [f"{k:03d}" for k in range(5)]


def test_adaptive_segments_beyond_the_sheet_are_listed_once_they_exist(tmp_path):
    project = tmp_path / "project"
    base = make_system("ala", 1, 2, 100)
    if not hasattr(base, "max_segments"):
        pytest.skip("System has no max_segments yet")
    campaign = make_campaign(dataclasses.replace(base, max_segments=4))
    for segment in ("000", "001"):
        pulled(project, "ala", 0, segment)
    partial(project, "ala", 0, "002", steps=30)
    rows = status.collect(project, campaign, "local", SCRATCH).rows
    assert [(r.segment, r.state) for r in rows] == [("000", "done"), ("001", "done"), ("002", "interrupted")]


def test_configfile_resolution_matches_mdflow_run():
    ci = load_profile("ci", REPO)
    assert campaign_configfiles(ci) == ["config/ci.yaml"]
    assert campaign_configfiles(ci, "config/other.yaml") == ["config/other.yaml"]
    assert campaign_configfiles(load_profile("local", REPO)) == []


def test_unreadable_ledger_is_one_clear_error(tmp_path):
    project = tmp_path / "project"
    touch(project / ".mdflow/ledger.sqlite", "this is not sqlite " * 100)
    with pytest.raises(MdflowError, match=r"ledger.sqlite: cannot be read as mdflow's job ledger"):
        status.collect(project, make_campaign(make_system("ala", 1, 1, 100)), "local", SCRATCH)


# -- progress display ---------------------------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_summary_line_names_rare_states_only_when_present(half_finished):
    project, campaign = half_finished
    line = status.summary_line(status.collect(project, campaign, "stampede", SCRATCH))
    assert line == ("mdflow: segments 3/11 done, 1 simulated, 1 running, 1 queued, 2 interrupted, 1 failed; "
                    "12% of all steps")
    empty = status.collect(project, make_campaign(make_system("new", 1, 2, 100)), "local", SCRATCH)
    assert status.summary_line(empty) == "mdflow: segments 0/2 done, 0 running, 0 queued, 0 failed; 0% of all steps"


@pytest.mark.parametrize("environ, stream, quiet, expected", [
    ({}, Terminal(), False, True),
    ({"CI": "true"}, Terminal(), False, False),
    ({"CI": "false"}, Terminal(), False, True),
    ({}, io.StringIO(), False, False),          # not a TTY: logs, pipes, CI runners
    ({}, Terminal(), True, False),              # Snakemake's --quiet
    ({"MDFLOW_PROGRESS": "0"}, Terminal(), False, False),
    ({"MDFLOW_PROGRESS": "1", "CI": "1"}, io.StringIO(), False, True),
    ({"MDFLOW_PROGRESS": "1"}, Terminal(), True, False),  # dry runs pass quiet
])
def test_progress_enabled_only_at_a_terminal_outside_ci(environ, stream, quiet, expected):
    assert progress.progress_enabled(environ, stream, quiet) is expected


def test_progress_display_prints_each_change_once(tmp_path):
    project = tmp_path / "project"
    campaign = make_campaign(make_system("ala", 1, 2, 100))
    terminal = Terminal()
    with progress.show_progress(project, campaign, "local", SCRATCH, stream=terminal, environ={}, poll_s=0.05):
        time.sleep(0.3)                       # several polls, nothing changes: one line
        partial(project, "ala", 0, "000", steps=50)
        time.sleep(0.3)
        pulled(project, "ala", 0, "000")
        (project / SCRATCH / "ala/rep0/seg000.partial/progress.json").unlink()
        (project / SCRATCH / "ala/rep0/seg000.partial").rmdir()
        time.sleep(0.3)
    assert terminal.getvalue().splitlines() == [
        "mdflow: segments 0/2 done, 0 running, 0 queued, 0 failed; 0% of all steps",
        "mdflow: segments 0/2 done, 1 running, 0 queued, 0 failed; 25% of all steps",
        "mdflow: segments 1/2 done, 0 running, 0 queued, 0 failed; 50% of all steps",
    ]


def test_progress_display_off_in_ci_starts_no_thread(tmp_path):
    terminal = Terminal()
    with progress.show_progress(tmp_path, make_campaign(make_system("ala", 1, 1, 100)), "local", SCRATCH,
                                stream=terminal, environ={"CI": "true"}, poll_s=0.01) as display:
        time.sleep(0.05)
    assert display is None and terminal.getvalue() == ""


def test_adaptive_decisions_ask_for_the_next_segment(tmp_path):
    decisions = tmp_path / "convergence"
    decisions.mkdir()
    (decisions / "after_seg001.json").write_text(json.dumps({"continue": True}))
    (decisions / "after_seg002.json").write_text(json.dumps({"continue": False}))
    (decisions / "after_seg003.json").write_text("{half a file")
    assert status.segments_asked_for(decisions) == {2}
    assert status.segments_asked_for(tmp_path / "nowhere") == set()


def test_progress_line_says_why_queued_segments_wait(tmp_path):
    project = tmp_path / "project"
    campaign = make_campaign(make_system("villin", 1, 1, 100))
    ledger = Ledger(project / ".mdflow/ledger.sqlite")
    touch(project / "results/villin/setup/setup.json")
    submit(ledger, "31", "simulate", "submitted", system="villin", replica="0", segment="000")
    ledger.update("stampede", "31", "queued", reason="Priority")
    (row,) = status.collect(project, campaign, "stampede", SCRATCH).rows
    assert row.waiting_for == "Priority" and "(Priority)" in row.detail
    assert "1 queued (Priority 1)" in status.summary_line(status.collect(project, campaign, "stampede", SCRATCH))


def test_equilibration_stages_have_their_own_rows_and_running_work_shows_its_speed(tmp_path):
    project = tmp_path / "project"
    settings = {"results": "results", "timestep_fs": 2.0, "pressure_bar": 1.0, "equilibration": [
        {"name": "heat", "ps": 0.2, "heat_from_k": 100, "restraint_kj_mol_nm2": 1000},
        {"name": "density", "ps": 0.4, "ensemble": "NPT"}]}
    water = make_system("water", 1, 1, 100, solvent="explicit")
    ala = make_system("ala", 1, 1, 100)  # implicit solvent: the NPT stage is dropped
    campaign = Campaign(settings, {"water": water, "ala": ala}, 10, 50)
    for suffix in ("dcd", "csv", "json", "provenance.json"):
        touch(project / f"results/water/rep0/eq00.{suffix}")
    stage = project / f"{SCRATCH}/water/rep0/eq01.partial"
    touch(stage / "progress.json", json.dumps({"steps": 50, "fingerprint": "f", "platform": "CPU",
                                               "ns_per_day": 12.34}))
    with controller_lock(project):
        live = status.collect(project, campaign, "local", SCRATCH)
    assert [(r.system, r.segment, r.state, r.steps_done, r.steps_total, r.detail) for r in live.stages] == [
        ("water", "eq00 heat", "done", 100, 100, ""),
        ("water", "eq01 density", "running", 50, 200, "12.3 ns/day"),
        ("ala", "eq00 heat", "missing", 0, 100, "")]
    assert [r.segment for r in live.rows] == ["000", "000"]  # stages are not segments
    table = status.render_table(live)
    assert "stage" in table.splitlines()[2] and "eq01 density  running" in table
    assert status.to_json(live)["stages"][1]["stage"] == "eq01 density"
    assert status.summary_line(live).startswith("mdflow: stages 1/3 done (1 running), segments 0/2 done")
