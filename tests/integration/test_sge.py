"""The ci campaign through a real Son of Grid Engine (tests/sge/start_sge.sh) with mdflow's DRMAA
adapter: a two-line profile runs it to the end and `mdflow verify` passes; short jobs are packed
into one batch job; a killed controller re-attaches instead of resubmitting; a job deleted with
qdel is reported failed with a clear line, retried, and resumes from its checkpoint."""

import os
import re
import signal
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from conftest import MDFLOW, add_profile, assert_job_ids_in_provenance, make_project, run_mdflow, run_short_tasks, task_times
from mdflow.executors import drmaa_adapter
from tests.faults import faultlib
from mdflow.ledger import Ledger

pytestmark = pytest.mark.campaign
FAST = "seconds-between-status-checks: 1\nretries: 1\n"
LONG_VILLIN = ("name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
               "villin\tresources/villin.pdb\tamber99sbildn\timplicit\t300\t1\t4.0\t4.0\t5\n")


def sge_project(tmp_path, sheet=LONG_VILLIN, options=FAST, site="extends: sge\nqueue: all.q\n") -> Path:
    project = make_project(tmp_path / "project")
    (project / "config/ci_systems.tsv").write_text(sheet)
    add_profile(project, "testsge", site, options)
    return project


def start_controller(project: Path, *args) -> subprocess.Popen:
    env = {**os.environ, "OPENMM_CPU_THREADS": "1"}
    return subprocess.Popen([*MDFLOW, "--profile", "testsge", "--configfile", "config/ci.yaml", *args],
                            cwd=project, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, timeout=240, what="condition"):
    return faultlib.wait_for(predicate, timeout, what, poll_s=0.5)


def sge_jobs(project: Path) -> list[dict]:
    """{'id', 'name', 'state'} of every job the qmaster holds whose working directory is `project`."""
    listing = ElementTree.fromstring(subprocess.run(["qstat", "-u", "*", "-xml"], capture_output=True, text=True,
                                                    check=True).stdout)
    jobs = {e.findtext("JB_job_number"): {"id": e.findtext("JB_job_number"), "name": e.findtext("JB_name"),
                                          "state": e.findtext("state")} for e in listing.iter("job_list")}
    if not jobs:
        return []
    details = ElementTree.fromstring(subprocess.run(["qstat", "-xml", "-j", ",".join(jobs)], capture_output=True,
                                                    text=True).stdout)
    here = {e.findtext("JB_job_number") for e in details.findall("./djob_info/element")
            if e.findtext("JB_cwd") == str(project)}
    return [job for job_id, job in jobs.items() if job_id in here]


def running(project: Path, name: str) -> list[dict]:
    return [j for j in sge_jobs(project) if j["name"] == name and j["state"] == "r"]


def accounting(job_id: str) -> list[dict]:
    """SGE's own accounting records of a job (qacct -j ID)."""
    answer = subprocess.run(["qacct", "-j", job_id], capture_output=True, text=True)
    return drmaa_adapter.parse_qacct(answer.stdout) if answer.returncode == 0 else []


def segment_steps(project: Path) -> list[int]:
    rows = (project / "results-ci/villin/rep0/seg000.csv").read_text().splitlines()[1:]
    return [int(r.split(",")[0]) for r in rows]


def test_ci_campaign_through_sge_with_a_two_line_profile(sge, tmp_path):
    project = make_project(tmp_path / "project")
    add_profile(project, "mycluster", f"extends: sge\nqueue: {sge}\n")
    run_mdflow(project, "--profile", "mycluster", "--configfile", "config/ci.yaml", check=True)
    assert (project / "results-ci/report.html").exists()
    entries = Ledger(project / ".mdflow/ledger.sqlite").all()
    names = [e.name for e in entries]
    assert sorted(names) == sorted(set(names))  # nothing submitted twice
    assert {e.rule for e in entries} == {"setup", "simulate"}  # push/pull/analyze/report stay local
    assert len(entries) == 3 + 8 and all(e.state == "success" and e.exit_code == 0 for e in entries)
    for entry in entries:  # SGE's accounting agrees: each ran once, in all.q, and exited 0
        records = accounting(entry.external_id)
        assert [(r["jobname"], r["qname"], r["failed"], r["exit_status"]) for r in records] == \
            [(entry.name, sge, "0", "0")]
    script = (project / ".mdflow/jobs/simulate.villin.0.001.a1.sh").read_text()
    assert f"#$ -q {sge}" in script and "--target-jobs 'simulate:system=villin,replica=0,segment=001'" in script
    assert_job_ids_in_provenance(project, entries, "sge")
    verify = run_mdflow(project, "verify", "--profile", "mycluster", "--configfile", "config/ci.yaml")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "quantities ok" in verify.stdout


def test_short_jobs_run_as_one_ensemble_batch_job(sge, tmp_path):
    site = (f"name: enssge\nscheduler: sge\nqueue: {sge}\nlogdir: logs\ncores_per_node: 6\nlauncher: local\n"
            f"queues:\n  {sge}: {{max_walltime: 30, max_queued: 20}}\n"
            "ensemble:\n  short_runtime: 5\n  max_walltime: 20\n  gather_s: 1\n")
    result = run_short_tasks(tmp_path, site, {"tasks": 6, "sleep": 3})
    assert result.returncode == 0, result.stderr[-3000:]
    entries = Ledger(tmp_path / ".mdflow/ledger.sqlite").all()
    assert len(entries) == 6 and all(e.state == "success" for e in entries)
    batch_ids = {e.external_id for e in entries}
    assert len(batch_ids) == 1  # all six in one SGE job
    (record,) = accounting(batch_ids.pop())
    assert record["granted_pe"] == "smp" and record["slots"] == "6" and record["exit_status"] == "0"
    times = task_times(tmp_path)
    assert len(times) == 6
    starts, ends = [s for s, _ in times.values()], [e for _, e in times.values()]
    assert max(starts) < min(ends)  # every member started before any finished: they ran side by side


def test_killed_controller_reattaches_instead_of_resubmitting(sge, tmp_path):
    project = sge_project(tmp_path)
    controller = start_controller(project)
    progress = project / "scratch/ci/villin/rep0/seg000.partial/progress.json"
    (job,) = wait_for(lambda: progress.exists() and running(project, "simulate.villin.0.000"), what="a running segment")
    os.killpg(controller.pid, signal.SIGKILL)
    controller.wait()
    assert running(project, "simulate.villin.0.000")  # the batch job outlives its controller

    result = run_mdflow(project, "--profile", "testsge", "--configfile", "config/ci.yaml", check=True)
    output = result.stdout + result.stderr
    assert f"Re-attached to simulate.villin.0.000: sge job {job['id']} is still running" in output
    assert "Submitted simulate.villin.0.000" not in output
    entries = [e for e in Ledger(project / ".mdflow/ledger.sqlite").all() if e.name == "simulate.villin.0.000"]
    assert [(e.external_id, e.state, e.exit_code) for e in entries] == [(job["id"], "success", 0)]
    assert [(r["failed"], r["exit_status"]) for r in accounting(job["id"])] == [("0", "0")]  # it ran once, to the end
    assert segment_steps(project) == list(range(10, 2001, 10))


def test_job_deleted_with_qdel_is_reported_failed_then_retried_and_resumes(sge, tmp_path):
    project = sge_project(tmp_path)
    controller = start_controller(project)
    progress = project / "scratch/ci/villin/rep0/seg000.partial/progress.json"
    (job,) = wait_for(lambda: progress.exists() and running(project, "simulate.villin.0.000"), what="a running segment")
    subprocess.run(["qdel", job["id"]], check=True, capture_output=True)
    output, _ = controller.communicate(timeout=400)
    assert controller.returncode == 0, output
    assert (f"sge job {job['id']} (simulate.villin.0.000) failed: exit code 137, qacct: exit_status 137 "
            f"(128 + SIGKILL); SGE failed 100: assumedly after job; killed while running (qdel, or by the site)") in output
    attempts = [e for e in Ledger(project / ".mdflow/ledger.sqlite").all() if e.name == "simulate.villin.0.000"]
    assert [(e.attempt, e.state) for e in attempts] == [(1, "failed"), (2, "success")]
    assert attempts[0].external_id == job["id"] and attempts[0].exit_code == 137
    assert "from checkpoint at step" in (project / "logs/ci/simulate/villin/rep0/seg000.log").read_text()
    assert segment_steps(project) == list(range(10, 2001, 10))


def test_interrupt_cancels_this_runs_jobs_through_drmaa(sge, tmp_path):
    project = sge_project(tmp_path, sheet=LONG_VILLIN.replace("\t4.0\t4.0\t", "\t100.0\t100.0\t"))
    controller = start_controller(project)
    (job,) = wait_for(lambda: running(project, "simulate.villin.0.000"), what="a running segment")
    os.kill(controller.pid, signal.SIGINT)
    output, _ = controller.communicate(timeout=120)
    assert "Cancelled 1 sge job(s)." in output, output
    wait_for(lambda: not sge_jobs(project), timeout=60, what="the job to leave the queue")
    (record,) = wait_for(lambda: accounting(job["id"]), timeout=30, what="its accounting record")
    assert record["exit_status"].split()[0] == "137" and record["failed"].startswith("100")  # killed, not finished
    ledger = {e.name: e.state for e in Ledger(project / ".mdflow/ledger.sqlite").all()}
    assert ledger["simulate.villin.0.000"] == "cancelled"


def test_segment_at_its_soft_walltime_checkpoints_and_the_next_attempt_resumes_there(sge, tmp_path):
    """A 1-minute walltime: h_rt=00:01:00 and s_rt=50 (drmaa_adapter.soft_walltime_s). At s_rt Grid
    Engine sends SIGUSR1 to every process of the job; the batch shell and Snakemake ignore it, the
    segment checkpoints and exits (before SIGKILL at h_rt, which nothing could answer), and the next
    attempt continues from exactly that step. The run is then interrupted: the segment is long."""
    options = FAST.replace("retries: 1", "retries: 3") + "set-resources:\n  simulate:\n    runtime: 1\n"
    project = sge_project(tmp_path, sheet=LONG_VILLIN.replace("\t4.0\t4.0\t", "\t100.0\t100.0\t"), options=options)
    controller = start_controller(project)
    first_attempt = project / "logs/batch/ci/simulate.villin.0.000.a1.log"
    warned = re.compile(r"mdflow: simulate: SIGUSR1: checkpointed segment 0 at step (\d+); exiting "
                        r"\(the next attempt resumes there\)")
    stopped = wait_for(lambda: first_attempt.exists() and warned.search(first_attempt.read_text()), timeout=180,
                       what="the first attempt's checkpoint at its soft walltime")
    stopped_at = int(stopped.group(1))
    rule_log = project / "logs/ci/simulate/villin/rep0/seg000.log"
    wait_for(lambda: rule_log.exists() and f"from checkpoint at step {stopped_at}" in rule_log.read_text(), timeout=120,
             what="the second attempt resuming at that step")
    os.kill(controller.pid, signal.SIGINT)
    output, _ = controller.communicate(timeout=120)
    first = next(e for e in Ledger(project / ".mdflow/ledger.sqlite").all()
                 if e.name == "simulate.villin.0.000" and e.attempt == 1)
    assert first.state == "failed", output
    (record,) = accounting(first.external_id)
    assert record["failed"].split()[0] == "0" and record["exit_status"].split()[0] != "137"  # ended, not killed
    assert 0 < stopped_at < 50000 and stopped_at % 10 == 0
