"""Issue 6, fault case 4: 30% of submit and status calls fail, print garbage, or (submit) lose the
reply of a submission that did happen — seeded, through tests/shims/shim.py. The campaign completes,
no job is failed or submitted twice because of it, and the results equal the reference."""

import os

import pytest

from conftest import REFERENCE_HERE, add_profile, emulator_env, make_project, run_mdflow, shim_env
from faults.faultlib import (assert_identical_to_undisturbed, expect, fault_project, slurm_jobs,
                             undisturbed_reference)
from faults.faultlib import _no_leftovers  # noqa: F401 (autouse fixture: kills leftover controllers and jobs)
from mdflow.ledger import Ledger

pytestmark = pytest.mark.campaign
SUBMIT = {"fail": 0.1, "garble": 0.1, "lost_reply": 0.1}
STATUS = {"fail": 0.15, "garble": 0.15}
COMMANDS = {  # scheduler: (submit command, status and lookup commands)
    "slurm": ("sbatch", ["squeue", "scontrol"]),
    "pbs": ("qsub", ["qstat", "qselect"]),
    "cobalt": ("qsub", ["qstat"]),
}
QUEUE = {"slurm": "debug", "pbs": "debug", "cobalt": "default"}


def flaky_plan(scheduler: str, seed: int) -> dict:
    submit, status = COMMANDS[scheduler]
    errors = {"slurm": "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation",
              "pbs": "qsub: cannot connect to server pbs01 (errno=15031)",
              "cobalt": "Failed to connect to the Cobalt server: connection refused"}
    plan = {submit: {"random": {"seed": seed, **SUBMIT}, "stderr": errors[scheduler]}}
    for command in status:
        plan[command] = {"random": {"seed": seed, **STATUS}, "stderr": f"{command}: error: Socket timed out"}
    return plan


def injected(tmp_path, command: str) -> list[str]:
    faults = tmp_path / "shim.log.faults"
    return [line for line in faults.read_text().splitlines() if line.split()[0] == command] if faults.exists() else []


@pytest.mark.parametrize("scheduler", ["slurm", "pbs", "cobalt"])
@expect('case 4: 30% of submit/status calls fail, garble or lose the reply -> completes; no job failed, retried or submitted twice; verify identical')
def test_flaky_submit_and_status_never_fail_a_job(slurm, tmp_path, tmp_path_factory, scheduler, request):
    if scheduler == "slurm":  # the whole ci campaign (11 batch jobs), checked against an undisturbed local run
        project = make_project(tmp_path / "project")
        reference = request.getfixturevalue("ci_run_here") / REFERENCE_HERE
    else:  # the emulators are slower per job: the one-system fault campaign
        project = fault_project(tmp_path / "project")
        reference = undisturbed_reference(tmp_path_factory.getbasetemp())
    add_profile(project, "flaky", f"extends: {scheduler}\nqueue: {QUEUE[scheduler]}\naccount: PROJ\n",
                "seconds-between-status-checks: 1\nretries: 1\n")
    env = shim_env(tmp_path, [COMMANDS[scheduler][0], *COMMANDS[scheduler][1]], flaky_plan(scheduler, seed=6))
    if scheduler != "slurm":  # the shims first (they wrap whatever is next on PATH), then the emulator
        shims, rest = env["PATH"].split(os.pathsep, 1)
        env.update(emulator_env(tmp_path, scheduler, rest))
        env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    args = ("--profile", "flaky", "--configfile", "config/ci.yaml")

    result = run_mdflow(project, *args, env_extra=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    submit, status = COMMANDS[scheduler]
    assert injected(tmp_path, submit) and sum(len(injected(tmp_path, c)) for c in status) >= 2  # faults did happen
    assert "Error in rule" not in output and "Traceback" not in output

    entries = Ledger(project / ".mdflow/ledger.sqlite").all()
    names = [e.name for e in entries]
    assert len(names) == len(set(names))  # nothing submitted twice, nothing retried
    assert all(e.state == "success" and e.attempt == 1 for e in entries)
    ran = slurm_jobs(project)  # the emulators run every job on the real Slurm
    assert len(ran) == len(entries)  # a lost reply did not make a second job
    assert_identical_to_undisturbed(project, reference, args)
