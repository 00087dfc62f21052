"""The PBS adapter against the PBS Pro emulator (tests/emulators/pbs), which really runs the jobs on
the real Slurm of this host: exit codes through Exit_status, qdel (271), the queue's walltime
limit (refused, fatal) and per-user limits (refused, waited out), an unreachable server (transient).

Each test has its own emulator state directory and queue configuration. Skipped, with the reason,
when Slurm is not installed or its node is not up (tests/slurm/start_slurm.sh starts it).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mdflow.executors import pbs
from mdflow.executors.adapter import FAILED, FATAL, LIMIT, QUEUED, RUNNING, SUCCESS, TRANSIENT, JobRequest
from mdflow.executors.render import render_script

EMULATOR_BIN = Path(__file__).resolve().parents[1] / "emulators" / "pbs" / "bin"
QUEUES = {
    "debug": {"max_walltime_min": 30},
    "tiny": {"max_walltime_min": 10, "max_queued": 1},
    "debug-scaling": {"max_walltime_min": 60, "queued_jobs_threshold": 1},
}


def slurm_problem() -> str | None:
    if shutil.which("sinfo") is None:
        return "Slurm is not installed (no sinfo); the PBS emulator runs its jobs on Slurm"
    try:
        answer = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld is not answering (tests/slurm/start_slurm.sh starts it)"
    states = {s.strip().rstrip("*~#!%$@^-") for s in answer.stdout.split()}
    if answer.returncode != 0 or not states & {"idle", "mix", "alloc", "mixed", "allocated", "comp"}:
        return (f"the Slurm node is not up (sinfo: {answer.stdout.strip() or answer.stderr.strip()}); "
                "start it with tests/slurm/start_slurm.sh")
    return None


@pytest.fixture(scope="module")
def slurm():
    problem = slurm_problem()
    if problem:
        pytest.skip(problem)


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


class Pbs:
    """The emulator on PATH with this test's state directory and queues."""

    def __init__(self, root: Path):
        self.work = root / "work"
        self.work.mkdir()
        self.fail_file = root / "fail"
        self.submitted: list[str] = []
        self.calls: list[list[str]] = []

    def qsub(self, script_text: str, *options: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        script = self.work / f"job{len(self.submitted)}.sh"
        script.write_text(script_text)
        answer = subprocess.run(["qsub", *options, str(script)], capture_output=True, text=True,
                                cwd=cwd or self.work, timeout=60)
        if answer.returncode == 0:
            self.submitted.append(pbs.parse_submit(answer.stdout))
        return answer

    def run(self, argv):
        self.calls.append(argv)
        return run(argv)

    def poll(self, ids):
        return pbs.poll(ids, self.run, {}, {})

    def wait(self, ids, states, timeout=40.0):
        """Poll (as the executor does) until every id is in one of `states`."""
        deadline = time.time() + timeout
        while True:
            statuses = self.poll(ids)
            if all(i in statuses and statuses[i].state in states for i in ids):
                return statuses
            if time.time() > deadline:
                raise AssertionError(f"jobs not {states} after {timeout} s: {statuses}")
            time.sleep(0.5)


@pytest.fixture
def emulator(slurm, tmp_path, monkeypatch):
    config = tmp_path / "pbs-emulator.json"
    config.write_text(json.dumps({"queues": QUEUES}))
    # This interpreter's directory next: `#!/usr/bin/env python3` then skips version-manager shims.
    path = [str(EMULATOR_BIN), str(Path(sys.executable).parent), os.environ["PATH"]]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.setenv("PBS_EMULATOR_STATE", str(tmp_path / "pbs-state"))
    monkeypatch.setenv("PBS_EMULATOR_CONFIG", str(config))
    monkeypatch.setenv("PBS_EMULATOR_FAIL_FILE", str(tmp_path / "fail"))
    helper = Pbs(tmp_path)
    yield helper
    if helper.submitted:
        run(["qdel", *helper.submitted])


def script(body: str, *directives: str) -> str:
    return "#!/bin/bash\n" + "".join(f"#PBS {d}\n" for d in directives) + body


def test_exit_status_reaches_the_executor(emulator):
    """A job that writes a file and exits 3 is FAILED with exit 3; one that exits 0 is SUCCESS; each
    poll is one qstat for both."""
    failing = emulator.qsub(script('echo written > "$PBS_O_WORKDIR/marker.txt"\necho "id=$PBS_JOBID"\nexit 3\n',
                                   "-N exits3", "-l walltime=00:05:00", "-l select=1:ncpus=1", "-j oe",
                                   f"-o {emulator.work}/exits3.log"))
    passing = emulator.qsub(script("exit 0\n", "-N exits0", "-l walltime=00:05:00"), "-q", "debug")
    assert failing.returncode == 0 and passing.returncode == 0, failing.stderr + passing.stderr
    bad, good = emulator.submitted
    assert bad.endswith(".pbs-emu.mdflow.test")

    statuses = emulator.wait([bad, good], (SUCCESS, FAILED))
    assert (statuses[bad].state, statuses[bad].exit_code) == (FAILED, 3)
    assert (statuses[good].state, statuses[good].exit_code) == (SUCCESS, 0)
    assert all(call[:5] == ["qstat", "-x", "-f", "-F", "json"] and call[5:] == [bad, good]
               for call in emulator.calls)
    assert (emulator.work / "marker.txt").read_text() == "written\n"
    assert f"id={bad}" in (emulator.work / "exits3.log").read_text()


def test_qdel_of_a_running_job_is_failed_by_sigterm(emulator):
    assert emulator.qsub(script("sleep 60\n", "-N sleeper", "-l walltime=00:05:00")).returncode == 0
    job = emulator.submitted[0]
    emulator.wait([job], (RUNNING,))
    assert run(pbs.cancel_argv([job])).returncode == 0
    status = emulator.wait([job], (SUCCESS, FAILED))[job]
    assert (status.state, status.exit_code) == (FAILED, 143)  # Exit_status 271 = 256 + SIGTERM; reported as a shell would: 128 + 15
    assert "SIGTERM" in status.reason
    again = run(pbs.cancel_argv([job]))                          # qdel of a finished job: exit 35
    assert again.returncode == 35 and "Job has finished" in again.stderr


def test_lookup_by_name_finds_this_projects_jobs_finished_or_not_and_not_a_twins(emulator, tmp_path):
    """What the executor asks when a qsub reply was lost: the user's other copy of the campaign
    (same job names, submitted from another directory) is not taken for ours; a job of ours that is
    already done is still found (qselect -x)."""
    twin = tmp_path / "twin"
    twin.mkdir()
    named = ("-N", "md.sys1", "-l", "walltime=00:05:00")
    assert emulator.qsub(script("sleep 60\n"), *named, cwd=twin).returncode == 0
    assert emulator.qsub(script("exit 0\n"), *named).returncode == 0
    assert emulator.qsub(script("sleep 60\n"), *named).returncode == 0
    theirs, done, running = emulator.submitted
    assert emulator.wait([done], (SUCCESS,))[done].exit_code == 0

    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    answer = run(pbs.find_by_name_argv("md.sys1", user))
    assert answer.returncode == 0, answer.stderr
    assert pbs.parse_find_by_name(answer.stdout, str(emulator.work.resolve())) == [done, running]
    assert pbs.parse_find_by_name(answer.stdout, str(twin.resolve())) == [theirs]
    nothing = run(pbs.find_by_name_argv("md.sys2", user))
    assert (nothing.returncode, pbs.parse_find_by_name(nothing.stdout, str(emulator.work))) == (0, [])


def test_walltime_over_the_queue_maximum_is_fatal(emulator):
    answer = emulator.qsub(script("exit 0\n", "-l walltime=00:31:00"), "-q", "debug")
    assert answer.returncode == 188
    assert answer.stderr == "qsub: Job violates queue and/or server resource limits\n"
    assert pbs.classify_submit_error(answer.stderr) == FATAL
    unknown = emulator.qsub(script("exit 0\n"), "-q", "nosuchqueue")
    assert (unknown.returncode, unknown.stderr) == (170, "qsub: Unknown queue\n")
    assert pbs.classify_submit_error(unknown.stderr) == FATAL


def test_per_user_limits_are_waited_out(emulator):
    """max_queued counts queued + running; queued_jobs_threshold counts jobs not yet running."""
    assert emulator.qsub(script("sleep 30\n", "-l walltime=00:02:00"), "-q", "tiny").returncode == 0
    second = emulator.qsub(script("exit 0\n", "-l walltime=00:02:00"), "-q", "tiny")
    assert second.returncode == 38
    assert second.stderr == "qsub: would exceed queue generic's per-user limit\n"
    assert pbs.classify_submit_error(second.stderr) == LIMIT

    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    counted = run(pbs.count_user_jobs_argv(user, "tiny"))
    assert counted.returncode == 0 and pbs.parse_count(counted.stdout) == 1

    assert emulator.qsub(script("exit 0\n", "-l walltime=00:02:00"), "-h", "-q", "debug-scaling").returncode == 0
    held = emulator.submitted[-1]
    assert emulator.poll([held])[held].state == QUEUED           # H
    third = emulator.qsub(script("exit 0\n", "-l walltime=00:02:00"), "-q", "debug-scaling")
    assert third.returncode == 38
    assert third.stderr == "qsub: would exceed queue generic's per-user limit of jobs in 'Q' state\n"
    assert pbs.classify_submit_error(third.stderr) == LIMIT


def test_unreachable_server_is_transient(emulator):
    assert emulator.qsub(script("exit 0\n", "-l walltime=00:02:00"), "-h").returncode == 0
    held = emulator.submitted[0]
    emulator.fail_file.write_text("2\n")
    refused = emulator.qsub(script("exit 0\n"))
    assert refused.returncode == 162 and "cannot connect to server pbs-emu" in refused.stderr
    assert pbs.classify_submit_error(refused.stderr) == TRANSIENT
    with pytest.raises(RuntimeError, match="255"):
        emulator.poll([held])
    assert emulator.fail_file.read_text().strip() == "0"
    assert emulator.poll([held])[held].state == QUEUED


def test_rendered_polaris_script_runs(emulator):
    """What mdflow renders for a Polaris-like site (select_extra, place, filesystems, account,
    absolute log path) is accepted by qsub and runs; the log lands at request.log_path."""
    request = JobRequest(name="render_check", queue="debug", walltime_min=5, nodes=1, tasks=1, cpus_per_task=2,
                         account="MDflow", log_path="logs/render_check.a1.log", workdir=str(emulator.work),
                         extra=("-l place=scatter", "-l filesystems=home:eagle"), select_extra="system=polaris")
    (emulator.work / "logs").mkdir()
    site = {"name": "polaris-emu", "env": ["export MDFLOW_EMU=1"]}
    text = render_script(pbs, request, site, 'echo "hello from $PBS_JOBNAME in $(pwd) ncpus=$NCPUS emu=$MDFLOW_EMU"')
    answer = emulator.qsub(text)
    assert answer.returncode == 0, answer.stderr
    job = emulator.submitted[0]
    status = emulator.wait([job], (SUCCESS, FAILED))[job]
    assert status.state == SUCCESS, status
    log = (emulator.work / "logs" / "render_check.a1.log").read_text()
    assert f"hello from render_check in {emulator.work} ncpus=2 emu=1" in log
    full = json.loads(run(["qstat", "-x", "-f", "-F", "json", job]).stdout)["Jobs"][job]
    assert full["Resource_List"]["select"] == "1:ncpus=2:system=polaris"
    assert (full["Resource_List"]["place"], full["Account_Name"]) == ("scatter", "MDflow")
