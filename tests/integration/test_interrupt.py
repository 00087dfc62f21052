"""Ctrl-C (SIGINT), SIGTERM and SIGHUP on the controller (issue 15): every local job stops (SIGTERM,
SIGKILL after MDFLOW_STOP_GRACE_S), this run's batch jobs are cancelled, stderr gets ONE mdflow line
and no traceback, the exit code is 128 + the signal, nothing is left running, and a rerun finishes
the campaign without a second setup.

The signal goes to the controller's process group, as a terminal sends it (the controller is started
in its own session and `os.killpg`ed). A rule is caught mid-way either by waiting for its log to show
it working (setup's minimization: one long C++ call; a stage's or segment's steps) or by freezing
it at an atomic write with tests/faults/hold (push, pull, pull_stage, analyze, report, and a segment
frozen inside a checkpoint write, where SIGTERM only sets a flag: the grace period and a second
Ctrl-C are tested there).
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from conftest import MDFLOW, add_profile, make_project, slurm_jobs
from tests.faults import faultlib

pytestmark = pytest.mark.campaign

HOLD_DIR = Path(__file__).resolve().parents[1] / "faults/hold"
SYSTEM = "ala-water"  # explicit solvent: an unlimited minimization takes seconds, one C++ call
SHEET = ("name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
         f"{SYSTEM}\tresources/alanine-dipeptide.pdb\tamber14\texplicit\t300\t1\t2.0\t1.0\t12\n")
STAGE = "[{name: heat, ps: 0.4, heat_from_k: 50, restraint_kj_mol_nm2: 1000}]"
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
NOISE = ("Traceback", "RuleException", "WorkflowError", "Error in rule", "KeyboardInterrupt")


def interrupt_project(path: Path, minimize_iterations=0, stage=STAGE, segment_ps=None) -> Path:
    project = make_project(path)
    sheet = SHEET if segment_ps is None else SHEET.replace("\t2.0\t1.0\t", f"\t{2 * segment_ps}\t{segment_ps}\t")
    (project / "config/ci_systems.tsv").write_text(sheet)
    ci = (project / "config/ci.yaml").read_text()
    ci = re.sub(r"(?m)^minimize_iterations: \d+", f"minimize_iterations: {minimize_iterations}", ci)
    ci = re.sub(r"(?m)^equilibration: \[\]", f"equilibration: {stage}", ci)
    (project / "config/ci.yaml").write_text(ci)
    return project


def start(project: Path, args=("--profile", "ci"), hold=None, grace_s=15, env_extra=None) -> subprocess.Popen:
    """The controller in its own session, like a shell's foreground job; stdout/stderr to files."""
    env = {**os.environ, "OPENMM_CPU_THREADS": "1", "PYTHONUNBUFFERED": "1", "MDFLOW_STOP_GRACE_S": str(grace_s),
           **(env_extra or {})}
    if hold:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOLD_DIR), env.get("PYTHONPATH", "")) if p)
        env["MDFLOW_FAULT_HOLD"] = hold
        env["MDFLOW_FAULT_HOLD_MARK"] = str(project / f"hold-{time.time_ns()}.json")
    n = len(list(project.glob("controller-*.err")))
    out, err = open(project / f"controller-{n}.out", "w"), open(project / f"controller-{n}.err", "w")
    process = subprocess.Popen([*MDFLOW, *args], cwd=project, env=env, start_new_session=True, stdout=out,
                               stderr=err)
    process.err_path, process.hold_mark = Path(err.name), env.get("MDFLOW_FAULT_HOLD_MARK")
    STARTED.append(process)
    return process


STARTED: list = []


@pytest.fixture(autouse=True)
def _nothing_left_behind():
    """A failed test must not leave controllers, jobs or batch jobs behind for the next one."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(predicate, what: str, process=None, timeout=180):
    return faultlib.wait_for(predicate, timeout, what, process)


def log_shows(project: Path, pattern: str, text: str):
    """A predicate: `text` appears in a log matching `pattern`, in what was appended after this call
    (logs are appended to by every attempt)."""
    seen = {p: (p.stat().st_ino, p.stat().st_size) for p in project.glob(pattern)}

    def new_text(p: Path) -> str:
        try:
            inode, data = p.stat().st_ino, p.read_bytes()
        except OSError:
            return ""
        old_inode, old_size = seen.get(p, (None, 0))  # Snakemake may also remove a job's old log first
        return data[old_size if inode == old_inode else 0:].decode(errors="replace")

    return lambda: any(text in new_text(p) for p in project.glob(pattern))


def held(process):
    return lambda: Path(process.hold_mark).exists() and Path(process.hold_mark).stat().st_size > 0


def left_running(project: Path) -> list[str]:
    """Processes (other than this one) whose command line names the project or that work in it."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid():
                continue
            cmdline = " ".join(proc.cmdline())
            if str(project) in cmdline or proc.cwd() == str(project):
                found.append(f"{proc.pid}: {cmdline}")
        except psutil.Error:
            continue
    return found


def send(process, sig, then=None) -> tuple[str, float]:
    """`sig` to the controller's process group (as a terminal does); (its stderr, seconds it took to stop)."""
    started = time.monotonic()
    os.killpg(process.pid, sig)
    if then:
        then(process)
    process.wait(timeout=120)
    return process.err_path.read_text(), time.monotonic() - started


def assert_one_clean_line(stderr: str, sig, returncode: int, *words) -> str:
    """Exit 128 + sig; after the signal, one `mdflow: interrupted (...)` line and nothing like a traceback."""
    assert returncode == EXIT[sig], stderr[-3000:]
    for noise in NOISE:
        assert noise not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("mdflow: interrupted")]
    assert len(lines) == 1, stderr[-3000:]
    assert stderr.rstrip("\n").splitlines()[-1] == lines[0]  # the last word, no Snakemake report after it
    name = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}[sig]
    assert f"({name}" in lines[0] and "Rerun mdflow to continue." in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def assert_nothing_left(project: Path, within_s=5.0):
    deadline = time.time() + within_s
    while left_running(project) and time.time() < deadline:
        time.sleep(0.1)
    assert left_running(project) == []


# -- local: every rule, one project carried through the campaign ---------------------------------------------

# (rule, signal, how the rule is caught mid-way, extra checks); each run after the first resumes the campaign
CHAIN = [
    ("setup", signal.SIGINT, {"log": ("logs/ci/setup/*.log", "minimizing: iteration 1 ")}),
    ("push", signal.SIGTERM, {"hold": "push:1"}),
    ("equilibrate", signal.SIGHUP, {"log": ("logs/ci/equilibrate/*/*/eq*.log", ": step 50 of")}),
    ("pull_stage", signal.SIGINT, {"hold": "pull:1"}),
    ("simulate", signal.SIGINT, {"hold": "simulate:1", "grace_s": 120, "second": True}),
    ("simulate", signal.SIGTERM, {"hold": "simulate:1", "grace_s": 2}),
    ("pull", signal.SIGHUP, {"hold": "pull:1"}),
    ("analyze", signal.SIGINT, {"hold": "analyze:1"}),
    ("report", signal.SIGTERM, {"hold": "report:1"}),
]


def test_controller_killed_leaves_no_job_then_every_rule_interrupted_and_rerun_finishes(tmp_path):
    project = interrupt_project(tmp_path / "project")

    # a controller that dies without a word (SIGKILL) takes its setup job with it (PR_SET_PDEATHSIG)
    controller = start(project)
    wait_for(log_shows(project, "logs/ci/setup/*.log", "minimizing: iteration 1 "), "setup minimizing", controller)
    os.kill(controller.pid, signal.SIGKILL)
    controller.wait()
    assert_nothing_left(project)

    for rule, sig, how in CHAIN:
        controller = start(project, hold=how.get("hold"), grace_s=how.get("grace_s", 15))
        if "hold" in how:
            wait_for(held(controller), f"{rule} frozen at {how['hold']}", controller)
        else:
            wait_for(log_shows(project, *how["log"]), f"{rule} working", controller)

        def second_signal(process):  # the job ignores SIGTERM while frozen: still stopping after a second
            time.sleep(1.5)
            assert process.poll() is None, "stopped without waiting for the job"
            os.killpg(process.pid, sig)

        stderr, took = send(controller, sig, then=second_signal if how.get("second") else None)
        assert_one_clean_line(stderr, sig, controller.returncode, "stopped ")  # 1 or 2: two cores
        assert took < (10 if how.get("second") else how.get("grace_s", 15) + 10), (rule, took)
        if how.get("grace_s") == 2:
            assert took >= 2, took  # waited for the grace period, then SIGKILL
        assert_nothing_left(project)
        if rule == "equilibrate":  # the stage checkpointed on the controller's SIGTERM
            stage_log = next(project.glob("logs/ci/equilibrate/*/*/eq*.log")).read_text()
            assert "SIGTERM: checkpointed segment 0" in stage_log

    controller = start(project)
    assert controller.wait(timeout=400) == 0, controller.err_path.read_text()[-3000:]
    assert (project / "results-ci/report.html").exists()
    setup_log = next(project.glob("logs/ci/setup/*.log")).read_text()
    assert setup_log.count("setup finished in") == 1, setup_log  # one setup ran to its end: no duplicate
    status = subprocess.run([*MDFLOW, "status", "--profile", "ci", "--json"], cwd=project, capture_output=True,
                            text=True, check=True)
    assert all(row["state"] == "done" for row in json.loads(status.stdout)["segments"])


# -- real Slurm: batch jobs queued or running -----------------------------------------------------------------

SLURM_ARGS = ("--profile", "testslurm", "--configfile", "config/ci.yaml")


def squeue_ids() -> set:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize("rule,state,sig", [
    ("setup", "RUNNING", signal.SIGINT),
    ("setup", "PENDING", signal.SIGTERM),
    ("equilibrate", "RUNNING", signal.SIGHUP),
    ("simulate", "RUNNING", signal.SIGTERM),
], ids=["setup-running-SIGINT", "setup-queued-SIGTERM", "equilibrate-running-SIGHUP", "simulate-running-SIGTERM"])
def test_interrupt_cancels_batch_jobs(slurm, tmp_path, rule, state, sig):
    options = {"setup": {}, "equilibrate": {"minimize_iterations": 100, "stage": STAGE.replace("0.4", "8")},
               "simulate": {"minimize_iterations": 100, "stage": "[]", "segment_ps": 20.0}}[rule]
    project = interrupt_project(tmp_path / "project", **options)
    add_profile(project, "testslurm", "extends: slurm\nqueue: debug\n",
                "seconds-between-status-checks: 1\nretries: 1\n")
    blocker = None
    if state == "PENDING":  # a job holding the whole node keeps setup in the queue
        blocker = subprocess.run(["sbatch", "--parsable", "--partition=debug", "--exclusive", "--job-name=blocker",
                                  "--output=/dev/null", "--wrap=sleep 300"], cwd=tmp_path, capture_output=True,
                                 text=True, check=True).stdout.strip().split(";")[0]
    try:
        controller = start(project, SLURM_ARGS, grace_s=5)

        def ours_in_state():
            jobs = [j for j in slurm_jobs(project) if j.get("JobName", "").startswith(f"{rule}.")]
            return [j for j in jobs if j.get("JobState") == state]

        jobs = wait_for(ours_in_state, f"{rule} {state.lower()} in Slurm", controller)
        if state == "RUNNING":  # the job's script is at work (not just its batch shell)
            pattern = {"setup": "logs/ci/setup/*.log", "equilibrate": "logs/ci/equilibrate/*/*/eq*.log",
                       "simulate": "logs/ci/simulate/*/*/seg*.log"}[rule]
            wait_for(log_shows(project, pattern, "minimizing: iteration 1 " if rule == "setup" else ": step 50 of"),
                     f"{rule} working in its batch job", controller)
        stderr, took = send(controller, sig)
        assert_one_clean_line(stderr, sig, controller.returncode, "Cancelled 1 slurm job(s).")
        assert took < 30, took
        ids = {j["JobId"] for j in slurm_jobs(project)}
        assert {j["JobId"] for j in jobs} <= ids
        wait_for(lambda: not (ids & squeue_ids()), "this run's jobs to leave squeue", timeout=30)
        assert all(j["JobState"] == "CANCELLED" for j in slurm_jobs(project) if j["JobName"].startswith(f"{rule}."))
        assert_nothing_left(project)
    finally:
        if blocker:
            subprocess.run(["scancel", blocker])
