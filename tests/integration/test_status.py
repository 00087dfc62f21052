"""`mdflow status` on a real campaign: while it runs, after a SIGKILL mid-segment, and once finished."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import MDFLOW, make_project, run_mdflow

pytestmark = pytest.mark.campaign


def status_json(project) -> dict:
    result = run_mdflow(project, "status", "--profile", "ci", "--json", check=True, timeout=120)
    return json.loads(result.stdout)


def states(report: dict) -> list:
    return [(s["replica"], s["segment"], s["state"]) for s in report["segments"]]


def test_status_of_a_campaign_killed_mid_segment_then_finished(tmp_path):
    project = make_project(tmp_path / "project")
    (project / "config/ci_systems.tsv").write_text(
        "name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
        "villin\tresources/villin.pdb\tamber99sbildn\timplicit\t300\t1\t6.0\t3.0\t5\n"
    )
    progress = project / "scratch/ci/villin/rep0/seg000.partial/progress.json"
    stderr = tmp_path / "controller.err"
    env = {**os.environ, "OPENMM_CPU_THREADS": "1", "MDFLOW_PROGRESS": "1"}  # the display, though not a TTY
    with open(stderr, "w") as err:
        controller = subprocess.Popen([*MDFLOW, "--profile", "ci"], cwd=project, env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.time() + 300
        while not (progress.exists() and json.loads(progress.read_text())["steps"] >= 100):
            assert controller.poll() is None, "campaign ended before the segment could be killed"
            assert time.time() < deadline, "no checkpoint of segment 000 within 300 s"
            time.sleep(0.2)
        checkpointed = json.loads(progress.read_text())["steps"]

        live = status_json(project)
        assert live["controller"]["running"] and live["controller"]["pid"] == controller.pid
        assert states(live) == [(0, "000", "running"), (0, "001", "missing")]
        running = live["segments"][0]
        assert running["site"] == "ci" and running["steps_total"] == 1500
        assert checkpointed <= running["steps"] < 1500
        assert controller.poll() is None, "the controller must still be running after `mdflow status`"
    finally:
        os.killpg(controller.pid, signal.SIGKILL)  # the controller and every job it started
        controller.wait()
    time.sleep(0.5)  # let the killed simulate process go away before reading its last checkpoint

    killed = status_json(project)
    at_kill = json.loads(progress.read_text())["steps"]
    assert not killed["controller"]["running"] and killed["controller"]["pid"] is None
    assert states(killed) == [(0, "000", "interrupted"), (0, "001", "missing")]
    interrupted = killed["segments"][0]
    assert interrupted["steps"] == at_kill and interrupted["progress"] == round(at_kill / 1500, 4)
    assert interrupted["detail"] == f"resumes from step {at_kill} of 1500"
    assert killed["systems"]["villin"]["setup"] == "done"
    assert killed["totals"]["interrupted"] == 1 and killed["totals"]["missing"] == 1
    assert "mdflow: segments 0/2 done, 0 running, 0 queued, 0 failed; 0% of all steps" in stderr.read_text()

    table = run_mdflow(project, "status", "--profile", "ci", check=True).stdout
    assert "mdflow controller not running" in table
    row = next(line.split() for line in table.splitlines() if line.startswith("villin") and " 000 " in line)
    assert row[:7] == ["villin", "0", "000", "interrupted", f"{100 * at_kill // 1500}%", "ci", "-"]

    finished = run_mdflow(project, "--profile", "ci", check=True, env_extra={"MDFLOW_PROGRESS": "1"})
    assert "mdflow: segments 2/2 done, 0 running, 0 queued, 0 failed; 100% of all steps" in finished.stderr
    done = status_json(project)
    assert states(done) == [(0, "000", "done"), (0, "001", "done")]
    villin = done["systems"]["villin"]
    assert (villin["setup"], villin["analysis"], villin["progress"]) == ("done", "done", 1.0)
    assert done["totals"]["done"] == 2 and done["totals"]["progress"] == 1.0


def test_status_refuses_bad_input_in_one_line(tmp_path):
    project = make_project(tmp_path / "project")
    for args, message in [
        (("status", "--profile", "nope"), "unknown profile 'nope'"),
        (("status", "--configfile", "config/missing.yaml"), "config/missing.yaml: file not found"),
        (("status", "--frobnicate"), "status: unexpected argument '--frobnicate'"),
    ]:
        result = run_mdflow(project, *args, timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
