"""Cobalt adapter, pure: real output shapes stored in tests/golden/cobalt/.

The shapes follow Cobalt's own code (qstat/qsub/qdel clients, Cobalt.Util.print_tabular and
print_vertical, cqm's cobaltlog messages and queue restriction texts) and transcripts from Theta
(qsub's routing / memory-mode / filesystems notes before the job id).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from mdflow.executors import cobalt, slurm
from mdflow.executors.adapter import FAILED, FATAL, GONE, LIMIT, QUEUED, RUNNING, SUCCESS, TRANSIENT, UNKNOWN, JobRequest
from golden import GOLDEN_DIR, assert_golden

SHAPES = GOLDEN_DIR / "cobalt"


def shape(name: str) -> str:
    return (SHAPES / name).read_text()


def answer(returncode=0, stdout="", stderr=""):
    return subprocess.CompletedProcess(["qstat"], returncode, stdout, stderr)


def test_same_module_api_as_slurm():
    assert cobalt.NAME == "cobalt" and cobalt.TEMPLATE == "cobalt.sh.j2"
    for name in ("directives", "submit_argv", "parse_submit", "classify_submit_error", "poll", "cancel_argv",
                 "count_user_jobs_argv", "find_by_name_argv", "parse_find_by_name"):
        assert callable(getattr(cobalt, name)) and callable(getattr(slurm, name))


# ------------------------------------------------------------------------------------- directives

THETA_REQUEST = JobRequest(
    name="md_sys1.seg0", queue="debug-flat-quad", walltime_min=60, nodes=2, tasks=128, cpus_per_task=1,
    mem_mb=4000, account="MDproj", log_path="/lus/theta-fs0/projects/MDproj/run/logs/md_sys1.seg0.log",
    workdir="/lus/theta-fs0/projects/MDproj/run", extra=("--attrs filesystems=home,theta-fs0:mcdram=flat:numa=quad",),
)


def test_directives_golden_for_theta_request():
    lines = "".join(f"#COBALT {d}\n" for d in cobalt.directives(THETA_REQUEST))
    assert_golden("cobalt/directives_theta.txt", lines)
    assert "-O /lus/theta-fs0/projects/MDproj/run/logs/md_sys1.seg0" in cobalt.directives(THETA_REQUEST)


def test_directives_default_queue_no_account():
    request = JobRequest(name="prep.a", queue=None, walltime_min=15, log_path="logs/prep.a.log", workdir="/w")
    assert cobalt.directives(request) == ["-n 1", "-t 15", "--cwd /w", "-O logs/prep.a", "--jobname prep.a"]


def test_directives_refuse_whitespace_cobalt_cannot_quote():
    request = JobRequest(name="x", queue=None, walltime_min=5, log_path="/my runs/x.log", workdir="/w")
    with pytest.raises(ValueError, match="whitespace"):
        cobalt.directives(request)


def test_log_paths():
    assert cobalt.cobalt_prefix("logs/a.b.log") == "logs/a.b"
    assert cobalt.cobaltlog_path("logs/a.b.log") == "logs/a.b.cobaltlog"
    assert cobalt.cobaltlog_path("logs/a.out") == "logs/a.out.cobaltlog"
    assert cobalt.submit_argv("/r/job.sh") == ["qsub", "/r/job.sh"]
    assert cobalt.cancel_argv(["1", "2"]) == ["qdel", "1", "2"]


# ----------------------------------------------------------------------------------------- submit

@pytest.mark.parametrize("name, job_id", [("qsub_flat_quad.txt", "603441"), ("qsub_cache_quad.txt", "547797")])
def test_parse_submit_after_routing_lines(name, job_id):
    assert cobalt.parse_submit(shape(name)) == job_id


def test_parse_submit_plain_and_garbage():
    assert cobalt.parse_submit("600001\n") == "600001"
    with pytest.raises(ValueError):
        cobalt.parse_submit(shape("qsub_limit.txt"))
    with pytest.raises(ValueError):
        cobalt.parse_submit("")


@pytest.mark.parametrize("name, expected", [
    ("qsub_limit.txt", LIMIT),
    ("qsub_walltime.txt", FATAL),
    ("qsub_no_queue.txt", FATAL),
    ("qsub_connect.txt", TRANSIENT),
    ("qsub_refused.txt", TRANSIENT),
])
def test_classify_submit_error(name, expected):
    assert cobalt.classify_submit_error(shape(name)) == expected


def test_classify_other_texts():
    assert cobalt.classify_submit_error("Failed to connect to queue manager\n") == TRANSIENT  # older clients
    assert cobalt.classify_submit_error("command /r/job.sh is not executable\n") == FATAL
    assert cobalt.classify_submit_error("'time' not provided\n") == FATAL


# ------------------------------------------------------------------------------------------ qstat

def test_parse_qstat_user_table():
    rows = cobalt.parse_qstat(shape("qstat_user.txt"))
    assert rows == {"10076391": {"JobID": "10076391", "User": "arsho", "WallTime": "00:05:00", "Nodes": "1",
                                 "State": "queued", "Location": "None"}}


def test_parse_qstat_states_table():
    rows = cobalt.parse_qstat(shape("qstat_states.txt"))
    assert {k: v["State"] for k, v in rows.items()} == {
        "602991": "queued", "602992": "starting", "602993": "running", "602994": "exiting",
        "602996": "killing", "602997": "user_hold", "602998": "dep_hold"}
    assert rows["602993"]["Location"] == "3836-3839"


def test_parse_qstat_attrs_dict_with_spaces_stays_whole():
    rows = cobalt.parse_qstat(shape("qstat_attrs.txt"))
    assert rows["603441"]["attrs"] == "{'numa': 'quad', 'mcdram': 'flat', 'filesystems': 'home,grand,eagle,theta-fs0'}"
    assert rows["603441"]["Queue"] == "debug-flat-quad"
    assert rows["603450"] == {"JobID": "603450", "User": "mdflow", "State": "queued",
                              "attrs": "{'filesystems': 'home,theta-fs0', 'ssds': 'required'}", "Queue": "default"}


def test_parse_qstat_trailing_blanks_stripped_still_reads():
    text = "\n".join(line.rstrip() for line in shape("qstat_attrs.txt").splitlines())
    assert cobalt.parse_qstat(text) == cobalt.parse_qstat(shape("qstat_attrs.txt"))


def test_parse_qstat_full_long_vertical():
    rows = cobalt.parse_qstat(shape("qstat_full_long.txt"))
    assert set(rows) == {"603441", "603442"}
    assert rows["603441"]["State"] == "running" and rows["603442"]["State"] == "queued"
    assert rows["603441"]["StartTime"] == "Thu Nov 05 17:25:30 2020 +0000 (UTC)"
    assert rows["603441"]["attrs"] == "{'numa': 'quad', 'mcdram': 'flat', 'filesystems': 'home,theta-fs0'}"


def test_parse_qstat_header_only_and_garbage():
    assert cobalt.parse_qstat("JobID  State  \n=============\n") == {}
    assert cobalt.parse_qstat("") == {}
    with pytest.raises(ValueError):
        cobalt.parse_qstat("Traceback (most recent call last):\n  File \"qstat.py\"\n")
    # a row whose id cannot be read decides nothing; one whose id can concerns that job only
    assert cobalt.parse_qstat("JobID  State\n======\nabc  running\n") == {}
    assert cobalt.parse_qstat("JobID  State\n=============\n603441running xx\n") == {}
    rows = cobalt.parse_qstat("JobID   State    Queue\n=====================\n603441  runningxxxxdefault\n"
                              "603442  queued   default\n")
    assert cobalt.GARBLED in rows["603441"] and rows["603442"]["State"] == "queued"


def test_parse_qstat_answer():
    assert cobalt.parse_qstat_answer(1, "", "") == {}  # ids given, none in the queue: silent exit 1
    with pytest.raises(RuntimeError, match="Failed to connect"):
        cobalt.parse_qstat_answer(1, "", shape("qsub_connect.txt"))
    with pytest.raises(RuntimeError):
        cobalt.parse_qstat_answer(0, "<html>502 Bad Gateway</html>\n", "")
    assert set(cobalt.parse_qstat_answer(0, shape("qstat_header_state.txt"), "")) == {"603441", "603442"}


def run_with_fake_qstat(tmp_path, argv, golden=None, fail=False):
    """Run an id-listing argv against a stub `qstat` that prints a stored real answer."""
    stub = tmp_path / "bin" / "qstat"
    stub.parent.mkdir(exist_ok=True)
    body = (f"cat {SHAPES / 'qsub_connect.txt'} >&2; exit 1" if fail else f"cat {SHAPES / golden}")
    stub.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\n{body}\n")
    stub.chmod(0o755)
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)


def test_find_by_name_keeps_this_projects_jobs_of_that_name(tmp_path):
    run_dir = "/lus/theta-fs0/projects/MDproj/run"
    result = run_with_fake_qstat(tmp_path, cobalt.find_by_name_argv("md_sys2.seg0", "mdflow"), "qstat_job_dirs.txt")
    assert (tmp_path / "args").read_text().split() == ["-u", "mdflow", "--header", "JobID:JobName:OutputDir"]
    assert result.returncode == 0
    assert cobalt.parse_find_by_name(result.stdout, run_dir) == ["603445", "603447"]
    assert cobalt.parse_find_by_name(result.stdout, run_dir + " copy") == ["603442"]  # a blank in the path
    nothing = run_with_fake_qstat(tmp_path, cobalt.find_by_name_argv("nope", "mdflow"), "qstat_job_dirs.txt")
    assert cobalt.parse_find_by_name(nothing.stdout, run_dir) == []
    assert cobalt.parse_find_by_name("", run_dir) == []
    failed = run_with_fake_qstat(tmp_path, cobalt.find_by_name_argv("md_sys2.seg0", "mdflow"), fail=True)
    assert failed.returncode == 1 and failed.stdout == "" and "Failed to connect" in failed.stderr
    with pytest.raises(ValueError):
        cobalt.parse_find_by_name("<html>502 Bad Gateway</html>\n", run_dir)


def test_submitted_ids_in_log(tmp_path):
    log = tmp_path / "logs" / "md_sys1.seg0.log"
    assert cobalt.submitted_ids_in_log(str(log)) == []  # nothing submitted under this prefix
    log.parent.mkdir()
    (tmp_path / "logs" / "md_sys1.seg0.cobaltlog").write_text(shape("cobaltlog_exit0.txt"))
    first = cobalt.submitted_ids_in_log(str(log))
    assert first == ["603441"]


def test_count_user_jobs(tmp_path):
    for queue, expected in ((None, 3), ("debug-flat-quad", 2), ("default", 1), ("backfill", 0)):
        result = run_with_fake_qstat(tmp_path, cobalt.count_user_jobs_argv("mdflow", queue), "qstat_job_queues.txt")
        assert cobalt.count_user_jobs(result.returncode, result.stdout, result.stderr) == expected
    failed = run_with_fake_qstat(tmp_path, cobalt.count_user_jobs_argv("mdflow", None), fail=True)
    with pytest.raises(RuntimeError):
        cobalt.count_user_jobs(failed.returncode, failed.stdout, failed.stderr)


# -------------------------------------------------------------------------------------- cobaltlog

@pytest.mark.parametrize("name, state, code", [
    ("cobaltlog_exit0.txt", SUCCESS, 0),
    ("cobaltlog_exit3.txt", FAILED, 3),
    ("cobaltlog_killed.txt", FAILED, 143),
    ("cobaltlog_deleted_queued.txt", FAILED, 143),
    ("cobaltlog_walltime.txt", FAILED, 143),
])
def test_status_from_cobaltlog(name, state, code):
    status = cobalt.status_from_cobaltlog(shape(name))
    assert (status.state, status.exit_code) == (state, code)
    assert cobalt.exit_code_from_cobaltlog(shape(name)) == code


@pytest.mark.parametrize("name", ["cobaltlog_running.txt", "cobaltlog_queued.txt"])
def test_cobaltlog_without_end_is_undecided(name):
    assert cobalt.status_from_cobaltlog(shape(name)) is None
    assert cobalt.exit_code_from_cobaltlog(shape(name)) is None


def test_cobaltlog_reasons_and_last_event_wins():
    assert "deleted with SIGTERM by user mdflow" in cobalt.status_from_cobaltlog(shape("cobaltlog_killed.txt")).reason
    assert cobalt.status_from_cobaltlog(shape("cobaltlog_walltime.txt")).reason == "walltime exceeded"
    sigkill = shape("cobaltlog_running.txt") + "Thu Nov 05 17:27:11 2020 +0000 (UTC) Info: user delete requested with signal SIGKILL by user mdflow\n"
    assert cobalt.exit_code_from_cobaltlog(sigkill) == 137
    # a delete that came too late: the task had already completed
    late = shape("cobaltlog_exit0.txt") + "Thu Nov 05 17:29:31 2020 +0000 (UTC) Info: job is in the process of exiting; user delete request ignored\n"
    assert cobalt.status_from_cobaltlog(late).state == SUCCESS
    unknown = shape("cobaltlog_running.txt") + "Thu Nov 05 17:29:30 2020 +0000 (UTC) Info: task completed normally with an exit code of None; initiating job cleanup and removal\n"
    status = cobalt.status_from_cobaltlog(unknown)
    assert status.state == FAILED and status.exit_code is None


# ------------------------------------------------------------------------------------------- poll

class FakeRun:
    def __init__(self, result):
        self.result, self.calls = result, []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.result


def make_jobs(tmp_path: Path, logs: dict) -> dict:
    jobs = {}
    for job_id, golden in logs.items():
        log_path = tmp_path / f"job{job_id}.log"
        if golden:
            shutil.copy(SHAPES / golden, tmp_path / f"job{job_id}.cobaltlog")
        jobs[job_id] = {"log_path": str(log_path)}
    return jobs


def test_poll_one_qstat_then_cobaltlogs(tmp_path):
    table = shape("qstat_header_state.txt")  # 603441 running, 603442 queued
    jobs = make_jobs(tmp_path, {"603441": None, "603442": None, "700001": "cobaltlog_exit0.txt",
                                "700002": "cobaltlog_exit3.txt", "700003": "cobaltlog_killed.txt",
                                "700004": "cobaltlog_running.txt", "700005": None})
    run = FakeRun(answer(0, table))
    result = cobalt.poll(list(jobs), run, jobs, {})
    assert run.calls == [["qstat", "--header", "JobID:State", *jobs]]
    assert {k: (v.state, v.exit_code) for k, v in result.items()} == {
        "603441": (RUNNING, None), "603442": (QUEUED, None), "700001": (SUCCESS, 0), "700002": (FAILED, 3),
        "700003": (FAILED, 143), "700004": (GONE, None), "700005": (GONE, None)}
    # 700004: gone without an end line yet; 700005: no cobaltlog at all: their outcome records decide


def test_poll_all_gone_is_an_answer(tmp_path):
    jobs = make_jobs(tmp_path, {"700001": "cobaltlog_exit0.txt"})
    assert cobalt.poll(["700001"], FakeRun(answer(1)), jobs, {})["700001"].state == SUCCESS


def test_poll_in_queue_wins_over_cobaltlog(tmp_path):
    jobs = make_jobs(tmp_path, {"603441": "cobaltlog_killed.txt"})  # killing: still listed
    result = cobalt.poll(["603441"], FakeRun(answer(0, shape("qstat_header_state.txt"))), jobs, {})
    assert result["603441"].state == RUNNING


@pytest.mark.parametrize("bad", [answer(1, "", shape("qsub_connect.txt")), answer(0, "garbage line\n"),
                                 answer(2, "", "Usage: qstat")])
def test_poll_unusable_answer_raises(tmp_path, bad):
    jobs = make_jobs(tmp_path, {"700001": "cobaltlog_exit0.txt"})
    with pytest.raises(RuntimeError):
        cobalt.poll(["700001"], FakeRun(bad), jobs, {})


def test_poll_unknown_state_concerns_that_job_only(tmp_path):
    text = "JobID   State    \n=================\n603441  weird    \n603442  dep_fail \n603443  running  \n"
    result = cobalt.poll(["603441", "603442", "603443"], FakeRun(answer(0, text)), {}, {})
    assert result["603441"].state == UNKNOWN and "weird" in result["603441"].reason
    assert result["603442"].state == QUEUED and result["603442"].never_runs
    assert result["603443"].state == RUNNING


def test_poll_nothing_to_do():
    run = FakeRun(answer(0))
    assert cobalt.poll([], run, {}, {}) == {} and run.calls == []
