"""The ci campaign through a real Slurm with mdflow's executor, and the faults it must survive."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MDFLOW, add_profile, assert_job_ids_in_provenance, make_project, run_mdflow, shim_calls, shim_env, slurm_jobs
from mdflow.ledger import Ledger

pytestmark = pytest.mark.campaign
FAST = "seconds-between-status-checks: 1\nretries: 1\n"
ONE_SYSTEM = ("name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
              "ala\tresources/alanine-dipeptide.pdb\tamber99sbildn\timplicit\t300\t1\t0.4\t0.2\t3\n")
LONG_VILLIN = ("name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
               "villin\tresources/villin.pdb\tamber99sbildn\timplicit\t300\t1\t4.0\t4.0\t5\n")
# A segment that outlasts the time from SIGINT to scancel on any machine (4 ps took ~10 s and, on a
# faster CPU, finished first); it is cancelled long before its end.
ENDLESS_VILLIN = LONG_VILLIN.replace("\t4.0\t4.0\t", "\t100.0\t100.0\t")


def slurm_project(tmp_path, sheet=ONE_SYSTEM, options=FAST, site="extends: slurm\nqueue: debug\n") -> Path:
    project = make_project(tmp_path / "project")
    (project / "config/ci_systems.tsv").write_text(sheet)
    add_profile(project, "testslurm", site, options)
    return project


def start_controller(project: Path, *args, env_extra=None) -> subprocess.Popen:
    env = {**os.environ, "OPENMM_CPU_THREADS": "1", **(env_extra or {})}
    return subprocess.Popen([*MDFLOW, "--profile", "testslurm", "--configfile", "config/ci.yaml", *args],
                            cwd=project, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, timeout=240, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def running(project: Path, name: str):
    return [j for j in slurm_jobs(project) if j.get("JobName") == name and j.get("JobState") == "RUNNING"]


def test_ci_campaign_through_slurm_with_a_two_line_profile(slurm, tmp_path):
    project = make_project(tmp_path / "project")
    add_profile(project, "mycluster", "extends: slurm\nqueue: debug\n")
    run_mdflow(project, "--profile", "mycluster", "--configfile", "config/ci.yaml", check=True)
    assert (project / "results-ci/report.html").exists()
    entries = Ledger(project / ".mdflow/ledger.sqlite").all()
    names = [e.name for e in entries]
    assert sorted(names) == sorted(set(names))  # nothing submitted twice
    assert {e.rule for e in entries} == {"setup", "simulate"}  # push/pull/analyze/report stay local
    assert len(entries) == 3 + 8 and all(e.state == "success" and e.exit_code == 0 for e in entries)
    ran = {j["JobName"]: j for j in slurm_jobs(project)}
    assert set(ran) == set(names) and all(j["Partition"] == "debug" for j in ran.values())
    script = (project / ".mdflow/jobs/simulate.villin.0.001.a1.sh").read_text()
    assert "#SBATCH --partition=debug" in script and "--target-jobs 'simulate:system=villin,replica=0,segment=001'" in script
    assert_job_ids_in_provenance(project, entries, "slurm")


def test_killed_controller_reattaches_instead_of_resubmitting(slurm, tmp_path):
    project = slurm_project(tmp_path, sheet=LONG_VILLIN)
    controller = start_controller(project)
    progress = project / "scratch/ci/villin/rep0/seg000.partial/progress.json"
    wait_for(lambda: progress.exists() and running(project, "simulate.villin.0.000"), what="a running segment")
    os.killpg(controller.pid, signal.SIGKILL)
    controller.wait()
    assert running(project, "simulate.villin.0.000")  # the batch job outlives its controller

    result = run_mdflow(project, "--profile", "testslurm", "--configfile", "config/ci.yaml", check=True)
    assert "Re-attached to simulate.villin.0.000" in result.stdout + result.stderr
    simulate_jobs = [j for j in slurm_jobs(project) if j["JobName"] == "simulate.villin.0.000"]
    assert len(simulate_jobs) == 1 and simulate_jobs[0]["JobState"] == "COMPLETED"
    steps = [int(r.split(",")[0]) for r in (project / "results-ci/villin/rep0/seg000.csv").read_text().splitlines()[1:]]
    assert steps == list(range(10, 2001, 10))


def test_job_that_finished_while_the_controller_was_dead_is_not_rerun(slurm, tmp_path):
    project = slurm_project(tmp_path, sheet=ONE_SYSTEM.replace("\t0.4\t0.2\t", "\t1.0\t1.0\t"))
    controller = start_controller(project)
    wait_for(lambda: running(project, "simulate.ala.0.000"), what="a running segment")
    os.killpg(controller.pid, signal.SIGKILL)
    controller.wait()
    wait_for(lambda: [j for j in slurm_jobs(project) if j["JobName"] == "simulate.ala.0.000"
                      and j["JobState"] == "COMPLETED"], what="the orphaned job to finish")
    run_mdflow(project, "--profile", "testslurm", "--configfile", "config/ci.yaml", check=True)
    assert [j["JobName"] for j in slurm_jobs(project)].count("simulate.ala.0.000") == 1
    assert len((project / "results-ci/ala/rep0/seg000.csv").read_text().splitlines()) == 1 + 50


def test_job_that_finishes_after_the_rerun_planned_it_is_adopted_not_rerun(slurm, tmp_path):
    """The race a fast segment loses: the rerun's Snakemake plans while the orphaned job still runs
    (its outputs missing), and the job finishes before the executor re-attaches. The rerun's first
    squeue (the executor's start-up look at the ledger) is held until the job has finished."""
    project = slurm_project(tmp_path, sheet=LONG_VILLIN)
    controller = start_controller(project)
    wait_for(lambda: running(project, "simulate.villin.0.000"), what="a running segment")
    os.killpg(controller.pid, signal.SIGKILL)
    controller.wait()

    go = tmp_path / "go"
    env = shim_env(tmp_path, ["squeue"], {"squeue": {"hold_calls": [1], "hold_until": str(go)}})
    rerun = start_controller(project, env_extra=env)
    wait_for(lambda: shim_calls(tmp_path, "squeue"), what="the rerun's first status query")
    assert running(project, "simulate.villin.0.000")  # the rerun planned it while it still ran
    wait_for(lambda: [j for j in slurm_jobs(project) if j["JobName"] == "simulate.villin.0.000"
                      and j["JobState"] == "COMPLETED"], what="the orphaned job to finish")
    go.touch()
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert "wildcards: system=villin, replica=0, segment=000" in output  # planned: its outputs were missing
    assert "Re-attached to simulate.villin.0.000: slurm job" in output and "finished while no controller ran" in output
    assert [j["JobName"] for j in slurm_jobs(project)].count("simulate.villin.0.000") == 1
    entries = [e for e in Ledger(project / ".mdflow/ledger.sqlite").all() if e.name == "simulate.villin.0.000"]
    assert [(e.state, e.exit_code) for e in entries] == [("success", 0)]
    steps = [int(r.split(",")[0]) for r in (project / "results-ci/villin/rep0/seg000.csv").read_text().splitlines()[1:]]
    assert steps == list(range(10, 2001, 10))


def test_job_no_longer_needed_is_named_with_the_command_to_cancel_it(slurm, tmp_path):
    """A killed run leaves villin's segment running; the user drops villin from the sheet and reruns.
    The rerun does not need that job: it says so and how to cancel it, but leaves it alone (a later
    run with other targets may want it)."""
    villin = LONG_VILLIN.splitlines()[1].replace("\t4.0\t4.0\t", "\t40.0\t40.0\t")
    project = slurm_project(tmp_path, sheet=f"{ONE_SYSTEM}{villin}\n")
    controller = start_controller(project)
    progress = project / "scratch/ci/villin/rep0/seg000.partial/progress.json"  # past the job's own planning
    job = wait_for(lambda: progress.exists() and running(project, "simulate.villin.0.000"),
                   what="villin's segment running")[0]
    os.killpg(controller.pid, signal.SIGKILL)
    controller.wait()
    (project / "config/ci_systems.tsv").write_text(ONE_SYSTEM)
    try:
        result = run_mdflow(project, "--profile", "testslurm", "--configfile", "config/ci.yaml", check=True)
        output = result.stdout + result.stderr
        assert (f"1 batch job(s) left by an earlier mdflow run still queue or run, but this run did not need them: "
                f"simulate.villin.0.000 (slurm job {job['JobId']})") in output
        assert f"if no later run needs them: scancel {job['JobId']}" in output
        assert running(project, "simulate.villin.0.000")  # named, not cancelled
        assert (project / "results-ci/ala/rep0/seg001.csv").exists()
    finally:
        subprocess.run(["scancel", job["JobId"]])


def test_jobs_queued_before_the_sheet_was_edited_run_the_campaign_their_run_planned(slurm, tmp_path):
    """villin's jobs wait in the queue (a blocker holds the node) while the user drops villin from
    the sheet: they still run, because their Snakemake reads the run's copy of the sheet (without
    it, each died in Snakemake's rule matching with a traceback), and the run completes."""
    villin = ONE_SYSTEM.splitlines()[1].replace("ala\tresources/alanine-dipeptide.pdb", "villin\tresources/villin.pdb")
    project = slurm_project(tmp_path, sheet=f"{ONE_SYSTEM}{villin}\n")
    blocker = subprocess.run(["sbatch", "--parsable", "--partition=debug", "--exclusive", "--job-name=blocker",
                              "--output=/dev/null", "--wrap=sleep 300"], cwd=tmp_path, capture_output=True,
                             text=True, check=True).stdout.strip().split(";")[0]
    try:
        controller = start_controller(project)
        wait_for(lambda: [j for j in slurm_jobs(project) if j.get("JobName") == "setup.villin"
                          and j.get("JobState") == "PENDING"], what="villin's setup waiting behind the blocker")
        (project / "config/ci_systems.tsv").write_text(ONE_SYSTEM)
    finally:
        subprocess.run(["scancel", blocker])
    output, _ = controller.communicate(timeout=600)
    assert controller.returncode == 0, output
    assert "Traceback" not in output and "Error in rule" not in output
    assert (project / "results-ci/villin/rep0/seg001.csv").exists() and (project / "results-ci/ala/rep0/seg001.csv").exists()
    entries = Ledger(project / ".mdflow/ledger.sqlite").all()
    assert all(e.state == "success" and e.attempt == 1 for e in entries) and len(entries) == 2 * 3
    script = (project / ".mdflow/jobs/simulate.villin.0.001.a1.sh").read_text()
    copy = next((project / ".mdflow/sheets").glob("*.tsv"))
    assert f"systems={copy.relative_to(project).as_posix()}" in script and "villin" in copy.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_cancels_this_runs_jobs(slurm, tmp_path, sig):
    project = slurm_project(tmp_path, sheet=ENDLESS_VILLIN)
    controller = start_controller(project)
    wait_for(lambda: running(project, "simulate.villin.0.000"), what="a running segment")
    os.kill(controller.pid, sig)
    controller.wait(timeout=120)
    wait_for(lambda: all(j["JobState"] in ("CANCELLED", "COMPLETED") for j in slurm_jobs(project)), timeout=30,
             what="the job to be cancelled")
    states = {j["JobName"]: j["JobState"] for j in slurm_jobs(project)}
    assert states["simulate.villin.0.000"] == "CANCELLED"
    ledger = {e.name: e.state for e in Ledger(project / ".mdflow/ledger.sqlite").all()}
    assert ledger["simulate.villin.0.000"] == "cancelled"


def test_interrupt_during_a_status_query_still_cancels(slurm, tmp_path):
    """Snakemake takes its list of active jobs away while a status check runs; a Ctrl-C in that window
    once cancelled nothing and left the segment running (CI, 2026-12-05). The status query is held
    open while the signal arrives."""
    go, plan = tmp_path / "go", tmp_path / "plan.json"
    env = shim_env(tmp_path, ["squeue"], {"squeue": {"hold_calls": []}})
    project = slurm_project(tmp_path, sheet=ENDLESS_VILLIN)
    controller = start_controller(project, env_extra=env)
    wait_for(lambda: running(project, "simulate.villin.0.000"), what="a running segment")
    calls = len(shim_calls(tmp_path, "squeue"))
    plan.write_text(json.dumps({"squeue": {"hold_calls": list(range(calls + 1, calls + 1000)),
                                           "hold_until": str(go)}}))
    wait_for(lambda: len(shim_calls(tmp_path, "squeue")) > calls + 1, what="a status query held open")
    os.kill(controller.pid, signal.SIGINT)
    try:
        wait_for(lambda: [j for j in slurm_jobs(project) if j["JobName"] == "simulate.villin.0.000"
                          and j["JobState"] == "CANCELLED"], timeout=60, what="the job to be cancelled")
    finally:
        go.touch()
        output, _ = controller.communicate(timeout=120)
    assert "Cancelled 1 slurm job(s)." in output, output
    ledger = {e.name: e.state for e in Ledger(project / ".mdflow/ledger.sqlite").all()}
    assert ledger["simulate.villin.0.000"] == "cancelled"


def test_job_killed_by_scheduler_is_retried_and_resumes(slurm, tmp_path):
    project = slurm_project(tmp_path, sheet=LONG_VILLIN)
    controller = start_controller(project)
    progress = project / "scratch/ci/villin/rep0/seg000.partial/progress.json"
    job = wait_for(lambda: progress.exists() and running(project, "simulate.villin.0.000"), what="a running segment")
    subprocess.run(["scancel", job[0]["JobId"]], check=True)
    output, _ = controller.communicate(timeout=400)
    assert controller.returncode == 0, output
    attempts = [e for e in Ledger(project / ".mdflow/ledger.sqlite").all() if e.name == "simulate.villin.0.000"]
    assert [(e.attempt, e.state) for e in attempts] == [(1, "failed"), (2, "success")]
    log = (project / "logs/ci/simulate/villin/rep0/seg000.log").read_text()
    assert "from checkpoint at step" in log
    steps = [int(r.split(",")[0]) for r in (project / "results-ci/villin/rep0/seg000.csv").read_text().splitlines()[1:]]
    assert steps == list(range(10, 2001, 10))


def test_transient_submit_failure_is_retried(slurm, tmp_path):
    project = slurm_project(tmp_path)
    env = shim_env(tmp_path, ["sbatch"], {"sbatch": {"fail_calls": [1, 3],
                                                      "stderr": "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"}})
    run_mdflow(project, "--profile", "testslurm", "--configfile", "config/ci.yaml", env_extra=env, check=True)
    entries = Ledger(project / ".mdflow/ledger.sqlite").all()
    assert len(entries) == 3 and all(e.state == "success" for e in entries)
    assert len(shim_calls(tmp_path, "sbatch")) == 3 + 2


def test_failed_or_garbled_status_queries_never_fail_a_job(slurm, tmp_path):
    project = slurm_project(tmp_path)
    plan = {"squeue": {"garble_calls": list(range(1, 200, 3)), "fail_calls": list(range(2, 200, 3)),
                       "stderr": "squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation"}}
    env = shim_env(tmp_path, ["squeue"], plan)
    result = run_mdflow(project, "--profile", "testslurm", "--configfile", "config/ci.yaml", env_extra=env, check=True)
    assert "status query failed" in result.stdout + result.stderr
    assert all(e.state == "success" for e in Ledger(project / ".mdflow/ledger.sqlite").all())


def test_walltime_over_every_queue_is_refused_before_submission(slurm, tmp_path):
    site = "extends: slurm\nqueue: debug\nqueues:\n  debug: {max_walltime: 10}\n  long: {max_walltime: '00:20:00'}\n"
    options = FAST + "default-resources:\n  - runtime=5\nset-resources:\n  simulate:\n    runtime: 45\n"
    project = slurm_project(tmp_path, site=site, options=options)
    env = shim_env(tmp_path, ["sbatch"])
    dry = run_mdflow(project, "--profile", "testslurm", "--configfile", "config/ci.yaml", "--dry-run", env_extra=env)
    lines = [line for line in dry.stderr.splitlines() if line.startswith("mdflow: error")]
    assert dry.returncode == 2 and len(lines) == 1
    assert "simulate.ala.0.000: 45 min on 1 node(s) fits no queue of site testslurm" in lines[0]
    assert "debug: max 00:10:00" in lines[0] and "long: max 00:20:00" in lines[0]
    real = run_mdflow(project, "--profile", "testslurm", "--configfile", "config/ci.yaml", env_extra=env)
    assert real.returncode != 0 and "fits no queue" in real.stdout + real.stderr
    assert not [c for c in shim_calls(tmp_path, "sbatch") if "simulate" in c]
