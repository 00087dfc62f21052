"""Issue 6, fault cases 1–3: the controller or a segment is killed, or a segment hits its walltime;
the rerun (or the retry) completes and the results are bit-identical to an undisturbed run.

Kill points are exact: tests/faults/hold/sitecustomize.py freezes a step right before one of its
atomic renames (temp file written, final name not yet there) and the test SIGKILLs there; a
running segment is caught by polling its checkpoint progress (seg<k>.partial/progress.json).
"""

import json
import os
import re
import signal
import subprocess

import pytest

from conftest import EMULATED_QUEUE, add_profile, emulator_env, run_mdflow
from faults.faultlib import (SEGMENTS, STEPS_PER_SEGMENT, assert_identical_to_undisturbed, expect, fault_project,
                             held, kill_group, no_mdflow_left, segment_steps, slurm_jobs, start_controller,
                             stray_temp_files, undisturbed_reference, wait_for)
from faults.faultlib import _no_leftovers  # noqa: F401 (autouse fixture: kills leftover controllers and jobs)
from mdflow.ledger import Ledger

pytestmark = pytest.mark.campaign
CI = ("--profile", "ci")
SLURM = ("--profile", "faultsite", "--configfile", "config/ci.yaml")
SLURM_OPTIONS = "seconds-between-status-checks: 1\nretries: 1\n"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return undisturbed_reference(tmp_path_factory.getbasetemp())


def slurm_fault_project(tmp_path, options=SLURM_OPTIONS):
    project = fault_project(tmp_path / "project")
    add_profile(project, "faultsite", "extends: slurm\nqueue: debug\n", options)
    return project


def status_of(project, args=CI) -> dict:
    result = run_mdflow(project, "status", *args, "--json", check=True)
    return {row["segment"]: row for row in json.loads(result.stdout)["segments"]}


def kill_at_hold(project, args, hold, what, env=None):
    """Run `mdflow ARGS` until `hold` freezes its step, then SIGKILL the controller's process group."""
    mark = project / f"hold-{hold.replace(':', '-')}.json"
    controller = start_controller(project, *args, hold=hold, mark=mark, env_extra=env)
    point = wait_for(lambda: held(mark), what=what, process=controller)
    kill_group(controller)
    return point


def kill_mid_segment(project, args, segment="000"):
    controller = start_controller(project, *args)
    wait_for(lambda: segment_steps(project, segment) >= 100, what=f"segment {segment} at step 100",
             process=controller)
    kill_group(controller)
    return segment_steps(project, segment)


def resumed_steps(project, segment="000") -> list[int]:
    log = (project / f"logs/ci/simulate/villin/rep0/seg{segment}.log").read_text()
    return [int(s) for s in re.findall(r"from checkpoint at step (\d+)", log)]


def assert_rows_continuous(project):
    rows = [line for k in SEGMENTS
            for line in (project / f"results-ci/villin/rep0/seg{k}.csv").read_text().splitlines()[1:]]
    assert [int(r.split(",")[0]) for r in rows] == list(range(10, 2 * STEPS_PER_SEGMENT + 1, 10))


def assert_clean_finish(project):
    """No half-written file anywhere (temp files of killed writers included), nothing left running."""
    assert stray_temp_files(project / "results-ci") == [] and stray_temp_files(project / "scratch") == []
    assert no_mdflow_left(project) == []


# -- case 1: SIGKILL the controller at 5 points --------------------------------------------------------

@expect('case 1 (local): controller SIGKILLed in setup, push, a segment, pull, analyze -> rerun completes, verify identical, no temp file left')
def test_controller_killed_at_five_points_then_rerun_is_identical(tmp_path, reference):
    project = fault_project(tmp_path / "project")

    point = kill_at_hold(project, CI, "setup:1", "setup to write its first output")
    assert point["final"].endswith("results-ci/villin/setup/system.xml")
    assert not (project / "results-ci/villin/setup/system.xml").exists()  # never under its final name

    point = kill_at_hold(project, CI, "push:2", "push to stage its second file")
    assert (project / "scratch/ci/villin/input/system.xml").exists()
    assert not (project / "scratch/ci/villin/input/manifest.json").exists()  # the push is incomplete

    checkpointed = kill_mid_segment(project, CI)
    assert status_of(project)["000"]["state"] == "interrupted"

    point = kill_at_hold(project, CI, "pull:1", "pull to copy its first file")
    assert resumed_steps(project) and resumed_steps(project)[-1] >= checkpointed
    assert point["final"].endswith("results-ci/villin/rep0/seg000.dcd")
    assert not (project / "results-ci/villin/rep0/seg000.dcd").exists()

    kill_at_hold(project, CI, "analyze:1", "analyze to write its first output")
    assert not (project / "results-ci/villin/analysis/summary.json").exists()

    result = run_mdflow(project, *CI, check=True)
    assert "Traceback" not in result.stdout + result.stderr
    assert all(row["state"] == "done" for row in status_of(project).values())
    assert_rows_continuous(project)
    assert_identical_to_undisturbed(project, reference)
    assert_clean_finish(project)


@pytest.mark.parametrize("scheduler", ["slurm", "pbs", "cobalt"])
@expect('case 1 (Slurm, PBS and Cobalt emulators): controller SIGKILLed in setup, push, a segment, pull, analyze -> '
        'reruns re-attach; each job submitted once, none orphaned; verify identical')
def test_controller_killed_at_five_points_under_a_scheduler(slurm, tmp_path, reference, scheduler):
    """Only the controller dies (its process group: the local push/pull/analyze jobs with it); the
    batch jobs live on under the scheduler, and the reruns re-attach to them instead of submitting
    again. The PBS Pro and Cobalt emulators run every job on the real Slurm, so Slurm's job list
    counts what was really run under all three."""
    if scheduler == "slurm":
        project, env = slurm_fault_project(tmp_path), {}
    else:
        project = fault_project(tmp_path / "project")
        add_profile(project, "faultsite", f"extends: {scheduler}\nqueue: {EMULATED_QUEUE[scheduler]}\naccount: PROJ\n",
                    SLURM_OPTIONS)
        env = emulator_env(tmp_path, scheduler)
    alive_at_kill = []

    def ledger_names(*states):
        return [e.name for e in Ledger(project / ".mdflow/ledger.sqlite").all() if e.state in states]

    def running(name):
        return name in ledger_names("running") and any(j["JobState"] == "RUNNING" for j in slurm_jobs(project))

    controller = start_controller(project, *SLURM, env_extra=env)
    wait_for(lambda: running("setup.villin") and (project / "logs/ci/setup/villin.log").exists(), process=controller,
             what="setup running in its batch job")
    kill_group(controller)
    alive_at_kill.append("setup.villin")

    kill_at_hold(project, SLURM, "push:2", "push to stage its second file", env)

    controller = start_controller(project, *SLURM, env_extra=env)
    wait_for(lambda: segment_steps(project, "000") >= 100 and running("simulate.villin.0.000"), process=controller,
             what="segment 000 at step 100 in its batch job")
    kill_group(controller)
    alive_at_kill.append("simulate.villin.0.000")

    point = kill_at_hold(project, SLURM, "pull:1", "pull to copy its first file", env)
    assert point["final"].endswith("results-ci/villin/rep0/seg000.dcd")
    alive_at_kill += ledger_names("queued", "running")
    kill_at_hold(project, SLURM, "analyze:1", "analyze to write its first output", env)
    result = run_mdflow(project, *SLURM, check=True, env_extra=env)

    entries = Ledger(project / ".mdflow/ledger.sqlite").all()
    assert sorted(e.name for e in entries) == ["setup.villin", "simulate.villin.0.000", "simulate.villin.0.001"]
    assert all(e.state == "success" for e in entries)  # none twice, none failed
    jobs = slurm_jobs(project)
    assert len(jobs) == len(entries)  # each submitted once: no second job after a kill
    assert all(j["JobState"] == "COMPLETED" for j in jobs)  # no orphan still running or queued
    logs = "".join(p.read_text() for p in project.glob("controller-*.log"))
    reattached = [name for name in alive_at_kill if f"Re-attached to {name}:" in logs]
    assert reattached  # the others finished while no controller ran: adopted from their outputs, not rerun
    assert "Traceback" not in result.stdout + result.stderr
    assert_rows_continuous(project)
    assert_identical_to_undisturbed(project, reference, SLURM)
    assert_clean_finish(project)


# -- case 2: SIGKILL a running segment ---------------------------------------------------------------

def segment_process(project, segment="000") -> int | None:
    """Pid of the Python process running the simulate script of `segment` in `project`."""
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            argv = open(f"/proc/{proc}/cmdline", "rb").read().decode(errors="replace").split("\0")
            if os.readlink(f"/proc/{proc}/cwd") == str(project) and os.path.basename(argv[0]).startswith("python") \
                    and any(a.endswith(".simulate.py") for a in argv[1:]):  # not the shell that started it
                return int(proc)
        except OSError:
            continue
    return None


def kill_segment_process(project, controller):
    wait_for(lambda: segment_steps(project, "000") >= 100 and segment_process(project), process=controller,
             what="segment 000 at step 100")
    os.kill(segment_process(project), signal.SIGKILL)
    return segment_steps(project, "000")


@expect('case 2 (local): segment SIGKILLed -> retried (simulate always retries once), resumes from its checkpoint; '
        'verify identical')
def test_sigkilled_segment_is_retried_and_resumes_locally(tmp_path, reference):
    project = fault_project(tmp_path / "project")
    controller = start_controller(project, *CI)  # the local profile retries nothing; simulate does
    checkpointed = kill_segment_process(project, controller)
    assert controller.wait(timeout=300) == 0
    assert resumed_steps(project) == [resumed_steps(project)[0]] and resumed_steps(project)[0] >= checkpointed
    assert_rows_continuous(project)
    assert_identical_to_undisturbed(project, reference)
    assert_clean_finish(project)


@expect('case 2 (Slurm): segment SIGKILLed inside its batch job -> attempt 2 resumes from checkpoint; verify identical')
def test_sigkilled_segment_in_a_slurm_job_is_retried_and_resumes(slurm, tmp_path, reference):
    project = slurm_fault_project(tmp_path)
    controller = start_controller(project, *SLURM)
    checkpointed = kill_segment_process(project, controller)
    assert controller.wait(timeout=300) == 0
    attempts = [(e.attempt, e.state) for e in Ledger(project / ".mdflow/ledger.sqlite").all()
                if e.name == "simulate.villin.0.000"]
    assert attempts == [(1, "failed"), (2, "success")]
    assert resumed_steps(project)[0] >= checkpointed
    assert_rows_continuous(project)
    assert_identical_to_undisturbed(project, reference, SLURM)
    assert_clean_finish(project)


# -- case 3: a segment hits its walltime ----------------------------------------------------------------

@expect('case 3 (Slurm): walltime SIGTERM -> checkpoint at that step, exit 143, attempt 2 resumes there; verify identical')
def test_segment_at_its_walltime_resumes_in_the_next_attempt(slurm, tmp_path, reference):
    """simulate gets a 1-minute walltime (Slurm's smallest); at the limit Slurm sends SIGTERM to every
    process of the job and SIGKILL KillWait (5 s) later. Slurm enforces limits only every ~30 s, so
    instead of waiting for that the test sends the same SIGTERM (`scancel --full --signal=TERM`):
    the segment checkpoints at the step it reached, the attempt fails with 143, and the next attempt
    continues from exactly that step."""
    options = SLURM_OPTIONS + "set-resources:\n  simulate:\n    runtime: 1\n"
    project = slurm_fault_project(tmp_path, options)
    controller = start_controller(project, *SLURM)
    wait_for(lambda: segment_steps(project, "000") >= 100, process=controller, what="segment 000 at step 100")
    job = next(j for j in slurm_jobs(project) if j["JobName"] == "simulate.villin.0.000")
    assert job["TimeLimit"] == "00:01:00"
    subprocess.run(["scancel", "--full", "--signal=TERM", job["JobId"]], check=True)
    assert controller.wait(timeout=300) == 0

    first_attempt = (project / "logs/batch/ci/simulate.villin.0.000.a1.log").read_text()  # the rule log is the retry's
    stopped_at = int(re.search(r"mdflow: simulate: SIGTERM: checkpointed segment 0 at step (\d+); exiting "
                               r"\(the next attempt resumes there\)", first_attempt).group(1))
    assert 100 <= stopped_at < STEPS_PER_SEGMENT
    assert resumed_steps(project) == [stopped_at]  # not one step redone or skipped
    attempts = [(e.attempt, e.state, e.exit_code) for e in Ledger(project / ".mdflow/ledger.sqlite").all()
                if e.name == "simulate.villin.0.000"]
    assert attempts == [(1, "failed", 143), (2, "success", 0)]
    assert_rows_continuous(project)
    assert_identical_to_undisturbed(project, reference, SLURM)
    assert_clean_finish(project)
