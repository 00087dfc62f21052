"""The Cobalt adapter against the Cobalt emulator (tests/emulators/cobalt), which runs every job
for real on the test Slurm (tests/slurm/start_slurm.sh): submit, poll to an exit code, qdel,
queue limits, and injected queue-manager failures."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mdflow.executors import cobalt
from mdflow.executors.adapter import FAILED, FATAL, LIMIT, RUNNING, SUCCESS, TRANSIENT, JobRequest

EMULATOR_BIN = Path(__file__).resolve().parents[1] / "emulators" / "cobalt" / "bin"
CONFIG = {
    "queues": {
        "default": {"max_walltime_min": 1440, "max_queued": 20, "partition": "debug"},
        "debug-cache-quad": {"max_walltime_min": 60, "max_queued": 1, "partition": "debug",
                             "memory_mode": ["cache", "quad"]},
        "capped": {"max_walltime_min": 120, "max_node_hours": 1, "partition": "debug"},
    },
}


def slurm_node_up() -> str | None:
    """None when the test Slurm can run jobs, else why not."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no Slurm client (sinfo/sbatch) on this host; start it with tests/slurm/start_slurm.sh"
    try:
        answer = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld not answering"
    states = answer.stdout.split()
    if answer.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mix", "alloc") for s in states):
        return f"no Slurm node up (sinfo: {answer.stdout.strip() or answer.stderr.strip()!r}); run tests/slurm/start_slurm.sh"
    return None


pytestmark = pytest.mark.skipif(slurm_node_up() is not None, reason=str(slurm_node_up()))


class Cobalt:
    """A Cobalt 'site': the emulator on PATH, a fresh state dir and config, a run directory."""

    def __init__(self, root: Path):
        self.root = root
        self.workdir = root / "run"
        (self.workdir / "logs").mkdir(parents=True)
        (root / "cobalt.json").write_text(json.dumps(CONFIG))
        self.fail_file = root / "fail"
        self.env = {**os.environ, "PATH": f"{EMULATOR_BIN}:{os.environ['PATH']}",
                    "COBALT_EMULATOR_STATE": str(root / "state"), "COBALT_EMULATOR_CONFIG": str(root / "cobalt.json"),
                    "COBALT_EMULATOR_FAIL_FILE": str(self.fail_file)}
        self.jobs: dict[str, dict] = {}

    def run(self, argv) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=self.env, cwd=self.workdir)

    def script(self, name: str, body: str, queue=None, walltime_min=10, workdir=None) -> tuple[Path, JobRequest]:
        workdir = workdir or self.workdir
        request = JobRequest(name=name, queue=queue, walltime_min=walltime_min, account="MDproj",
                             log_path=str(workdir / "logs" / f"{name}.log"), workdir=str(workdir))
        path = workdir / f"{name}.sh"
        path.write_text("#!/bin/bash\n" + "".join(f"#COBALT {d}\n" for d in cobalt.directives(request)) + body)
        path.chmod(0o755)
        return path, request

    def submit(self, name: str, body: str, **kwargs) -> str:
        path, request = self.script(name, body, **kwargs)
        answer = self.run(cobalt.submit_argv(str(path)))
        assert answer.returncode == 0, answer.stderr
        job_id = cobalt.parse_submit(answer.stdout)
        self.jobs[job_id] = {"log_path": request.log_path}
        return job_id

    def poll(self, ids) -> dict:
        return cobalt.poll(list(ids), self.run, self.jobs, {})

    def wait(self, ids, until=lambda status: status.state in (SUCCESS, FAILED), timeout=40) -> dict:
        deadline, latest = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            latest = self.poll(ids)
            if all(i in latest and until(latest[i]) for i in ids):
                return latest
            time.sleep(0.3)
        raise AssertionError(f"jobs {ids} not there after {timeout}s: {latest}")

    def slurm_id(self, job_id: str) -> str:
        return json.loads((self.root / "state" / "jobs" / f"{job_id}.json").read_text())["slurm_id"]


@pytest.fixture
def site(tmp_path):
    cobalt_site = Cobalt(tmp_path)
    yield cobalt_site
    if cobalt_site.jobs:  # leave no sleeper behind on the shared Slurm when a test failed midway
        cobalt_site.fail_file.write_text("0\n")
        cobalt_site.run(["qdel", *cobalt_site.jobs])


def test_exit_codes_come_from_the_cobaltlog(site):
    failing = site.submit("md_fail", "echo to-stdout\necho to-stderr >&2\nexit 3\n")
    passing = site.submit("md_ok", 'echo "job $COBALT_JOBID in $COBALT_QUEUE"\n')
    result = site.wait([failing, passing])
    assert (result[failing].state, result[failing].exit_code) == (FAILED, 3)
    assert (result[passing].state, result[passing].exit_code) == (SUCCESS, 0)

    logs = site.workdir / "logs"
    assert (logs / "md_fail.output").read_text() == "to-stdout\n"
    assert (logs / "md_fail.error").read_text() == "to-stderr\n"
    assert (logs / "md_ok.output").read_text() == f"job {passing} in default\n"
    cobaltlog = (logs / "md_fail.cobaltlog").read_text().splitlines()
    assert cobaltlog[0] == f"Jobid: {failing}"
    assert cobaltlog[1].startswith("qsub --mode script -n 1 -t 10 -A MDproj --cwd ")
    assert cobaltlog[2].endswith(f"submitted with cwd set to: {site.workdir}")
    assert cobaltlog[-1].endswith("Info: task completed normally with an exit code of 3; initiating job cleanup and removal")

    # gone from qstat (silent exit 1 when none of the ids is left) while Slurm still has the job
    assert site.run(["qstat", failing, passing]).returncode == 1
    assert site.run(["qstat"]).stdout.splitlines()[2:] == []
    known = subprocess.run(["scontrol", "-o", "show", "job", site.slurm_id(failing)], capture_output=True, text=True)
    assert "JobState=FAILED" in known.stdout and "ExitCode=3:0" in known.stdout


def test_lookup_by_name_finds_this_projects_job_not_a_twins_and_a_done_one_by_its_cobaltlog(site):
    """What the executor asks when a qsub reply was lost: the user's other copy of the campaign
    (same job names, another directory) is not taken for ours; a job that is already done has
    left qstat, and its cobaltlog names it."""
    twin = site.root / "twin"
    (twin / "logs").mkdir(parents=True)
    theirs = site.submit("md_sys1.seg0", "sleep 60\n", workdir=twin)
    ours = site.submit("md_sys1.seg0", "sleep 60\n")
    named = site.run(cobalt.find_by_name_argv("md_sys1.seg0", _user(site)))
    assert named.returncode == 0, named.stderr
    assert cobalt.parse_find_by_name(named.stdout, str(site.workdir)) == [ours]
    assert cobalt.parse_find_by_name(named.stdout, str(twin)) == [theirs]

    done = site.submit("md_quick", "true\n")
    assert site.wait([done])[done].state == SUCCESS
    gone = site.run(cobalt.find_by_name_argv("md_quick", _user(site)))
    assert cobalt.parse_find_by_name(gone.stdout, str(site.workdir)) == []
    assert cobalt.submitted_ids_in_log(site.jobs[done]["log_path"]) == [done]
    assert cobalt.submitted_ids_in_log(str(twin / "logs" / "md_quick.log")) == []


def test_qstat_shapes_while_running_and_qdel(site):
    sleeper = site.submit("md_sleep", "sleep 60\n")
    held_path, _ = site.script("md_held", "true\n")
    held = cobalt.parse_submit(site.run(["qsub", "-h", "--attrs", "filesystems=home:ssds=required", str(held_path)]).stdout)
    site.jobs[held] = {"log_path": str(site.workdir / "logs" / "md_held.log")}
    assert site.wait([sleeper], until=lambda s: s.state == RUNNING and s.reason == "running")[sleeper].state == RUNNING

    table = site.run(["qstat", "-u", site.run(["id", "-un"]).stdout.strip(), "--header", "JobID:State:attrs:Queue"])
    rows = cobalt.parse_qstat(table.stdout)
    assert rows[sleeper]["State"] == "running" and rows[held]["State"] == "user_hold"
    assert rows[held]["attrs"] == "{'filesystems': 'home', 'ssds': 'required'}"
    assert table.stdout.splitlines()[0].split() == ["JobID", "State", "attrs", "Queue"]
    assert set(table.stdout.splitlines()[1]) == {"="}
    default = site.run(["qstat", sleeper]).stdout.splitlines()
    assert default[0].split() == ["JobID", "User", "WallTime", "Nodes", "State", "Location"]
    assert default[2].split()[2:5] == ["00:10:00", "1", "running"]
    long = cobalt.parse_qstat(site.run(["qstat", "-f", "-l", sleeper]).stdout)
    assert long[sleeper]["Queue"] == "default" and long[sleeper]["JobName"] == "md_sleep"
    named = site.run(cobalt.find_by_name_argv("md_sleep", _user(site)))
    assert cobalt.parse_find_by_name(named.stdout, str(site.workdir)) == [sleeper]
    assert cobalt.count_user_jobs(*_triple(site.run(cobalt.count_user_jobs_argv(_user(site), None)))) == 2

    deleted = site.run(cobalt.cancel_argv([sleeper, held]))
    assert deleted.returncode == 0 and deleted.stdout.splitlines()[0] == "      Deleted Jobs"
    result = site.wait([sleeper, held])
    assert result[sleeper].state == FAILED and result[sleeper].exit_code == 143
    assert result[held].state == FAILED and result[held].exit_code != 0
    last = (site.workdir / "logs" / "md_sleep.cobaltlog").read_text().splitlines()[-1]
    assert last.endswith("Info: user delete requested with signal SIGTERM by user " + site.run(["id", "-un"]).stdout.strip())
    assert (site.workdir / "logs" / "md_held.cobaltlog").read_text().splitlines()[-1].endswith(
        "Info: user delete requested; removing job from the queue")


def test_queue_limits_are_limit_and_fatal(site):
    first = site.submit("debug_a", "sleep 30\n", queue="debug-cache-quad")
    path, _ = site.script("debug_b", "true\n", queue="debug-cache-quad")
    second = site.run(cobalt.submit_argv(str(path)))
    assert second.returncode != 0 and second.stdout == ""
    assert "The limit of 1 jobs per user in the 'debug-cache-quad' queue has been reached" in second.stderr
    assert cobalt.classify_submit_error(second.stderr) == LIMIT
    assert second.stderr.startswith('Job routed to queue "debug-cache-quad".\n'
                                     "Memory mode set to cache quad for queue debug-cache-quad\n")
    assert cobalt.count_user_jobs(*_triple(site.run(cobalt.count_user_jobs_argv(_user(site), "debug-cache-quad")))) == 1

    path, _ = site.script("too_long", "true\n", queue="default", walltime_min=1441)
    too_long = site.run(cobalt.submit_argv(str(path)))
    assert too_long.returncode != 0
    assert "Walltime greater than the 'default' queue max walltime of 24:00:00" in too_long.stderr
    assert cobalt.classify_submit_error(too_long.stderr) == FATAL

    site.run(cobalt.cancel_argv([first]))
    assert site.wait([first])[first].state == FAILED
    assert site.run(cobalt.submit_argv(str(site.workdir / "debug_b.sh"))).returncode == 0  # room again


def test_node_hours_limit_is_waited_out(site):
    """cqm's maxnodehours counts the user's queued and running jobs: it clears as they end."""
    first = site.submit("capped_a", "sleep 30\n", queue="capped", walltime_min=40)
    path, _ = site.script("capped_b", "true\n", queue="capped", walltime_min=40)
    second = site.run(cobalt.submit_argv(str(path)))
    assert second.returncode != 0
    assert "The limit of 1 node hours per user in the 'capped' queue has been reached" in second.stderr
    assert cobalt.classify_submit_error(second.stderr) == LIMIT
    site.run(cobalt.cancel_argv([first]))
    assert site.wait([first])[first].state == FAILED
    assert site.run(cobalt.submit_argv(str(path))).returncode == 0


def test_injected_queue_manager_failures(site):
    path, request = site.script("flaky", "exit 0\n")
    site.fail_file.write_text("2\n")
    failed = site.run(cobalt.submit_argv(str(path)))
    assert failed.returncode == 1 and cobalt.classify_submit_error(failed.stderr) == TRANSIENT
    with pytest.raises(RuntimeError, match="Failed to connect to queue-manager"):
        site.poll(["600001"])
    assert site.fail_file.read_text().strip() == "0"
    job_id = site.submit("flaky", "exit 0\n")
    assert site.wait([job_id])[job_id].state == SUCCESS


def _user(site) -> str:
    return site.run(["id", "-un"]).stdout.strip()


def _triple(answer):
    return answer.returncode, answer.stdout, answer.stderr
