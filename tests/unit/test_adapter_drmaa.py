"""mdflow.executors.drmaa_adapter (Grid Engine through DRMAA): pure render/parse functions on real
outputs, and the helper process's logic on a stand-in drmaa session.

Fixtures under tests/golden/sge/ were captured from Son of Grid Engine 8.1.9 (Debian 12's
gridengine-* 8.1.9+dfsg-10) with the `drmaa` package 0.7.9, started by tests/sge/start_sge.sh:
- qacct_*.txt: `qacct -j ID` for a job that exited 0 (qacct_ok), exited 3 (qacct_exit3), was
  killed at h_rt (failed 37, exit_status 137), was deleted with qdel while running (failed 100
  "assumedly after job", exit_status 137), could not chdir to its -wd (failed 28, exit_status 0!)
  and could not open its -o file (failed 26, exit_status 0); qacct_not_found.err: qacct for a job
  deleted while pending (SGE writes no accounting record for it).
- qstat_u.xml: `qstat -u root -s prs -xml` with 2 running and 2 held jobs; qstat_j_held.xml:
  `qstat -xml -j held`; qstat_j_unknown.xml: `qstat -xml -j NAME` when no job has that name (exit 0).
- drmaa_errors.txt: the DRMAA exceptions (class: message) the drmaa package raised for an unknown
  queue, too many slots ("no suitable queues": DRMAA submits with -w e), an unknown PE, a bad h_rt,
  an unknown resource, max_u_jobs=2 reached (TryLaterException), a stopped qmaster, and
  jobStatus() of a finished job from another session (InvalidJobException).
Other sources: drmaa/const.py (JobState values), SGE source/libs/japi/japi.c
(japi_sge_state_to_drmaa_state: a finished job unknown to this session is DRMAA_ERRNO_INVALID_JOB,
a job in error state is DRMAA_PS_FAILED), source/common/execution_states.h (the `failed` codes),
drmaa_attributes(3) (DRMAA's default `-p 0 -b yes -shell no -w e`; -cwd ignored).
"""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from mdflow.executors import adapters, drmaa_adapter as sge
from mdflow.executors.adapter import (
    FAILED, FATAL, GONE, LIMIT, QUEUED, RUNNING, SUCCESS, TRANSIENT, UNKNOWN,
    GarbledAnswer, JobRequest, QueryFailed,
)
from mdflow.executors.render import render_script
from tests.golden import GOLDEN_DIR, assert_golden

FIXTURES = GOLDEN_DIR / "sge"
REPO = Path(__file__).resolve().parents[2]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def request(**changes) -> JobRequest:
    values = dict(name="simulate.villin.0.000", queue="all.q", walltime_min=90, cpus_per_task=4,
                  log_path="logs/batch/ci/simulate.villin.0.000.a1.log", workdir="/home/me/project")
    return JobRequest(**{**values, **changes})


# ------------------------------------------------------------------------------ rendering


def test_directives_name_shell_environment_workdir_log_walltime_slots_queue():
    assert sge.directives(request(account="chem42")) == [
        "-N simulate.villin.0.000", "-S /bin/bash", "-V", "-wd /home/me/project",
        "-o /home/me/project/logs/batch/ci/simulate.villin.0.000.a1.log", "-j y", "-l h_rt=01:30:00",
        "-l s_rt=5280", "-pe smp 4", "-q all.q", "-A chem42"]


def test_soft_walltime_warns_a_tenth_before_the_kill_between_10_s_and_2_min():
    assert [sge.soft_walltime_s(m) for m in (1, 10, 90, 600)] == [50, 540, 5280, 35880]


def test_one_slot_asks_for_no_parallel_environment_and_no_queue_means_the_default():
    lines = sge.directives(request(cpus_per_task=1, queue=None))
    assert not any(line.startswith(("-pe", "-q")) for line in lines)


def test_site_names_its_parallel_environment_and_adds_complexes():
    lines = sge.directives(request(tasks=2, extra=("-pe mpi", "-l h_vmem=4G", "-P chemistry")))
    assert "-pe mpi 8" in lines and "-pe mpi" not in lines
    assert lines[-2:] == ["-l h_vmem=4G", "-P chemistry"]


def test_job_name_never_starts_with_a_digit_nor_holds_what_sge_refuses():
    assert sge.job_name("1abc") == "j1abc"
    assert sge.job_name("a/b:c@d") == "a_b_c_d"


def test_paths_with_colon_or_blank_are_refused_not_mangled():
    with pytest.raises(ValueError, match="':' or blanks"):
        sge.directives(request(workdir="/home/me/my project"))
    with pytest.raises(ValueError, match="':' or blanks"):
        sge.directives(request(log_path="/scratch/a:b.log"))


def test_rendered_script_golden_and_its_native_specification():
    adapter = adapters.get("sge")
    script = render_script(adapter, request(), {"name": "sge"}, "python -m snakemake --target-jobs x")
    assert_golden("sge/script.sh", script)
    assert script.startswith("#!/bin/bash\n#$ -N simulate.villin.0.000\n")
    assert "${JOB_ID:-}" in script  # the outcome record names the job by SGE's JOB_ID
    assert sge.native_specification(script) == " ".join(sge.directives(request()))


def test_registry_and_contract():
    adapter = adapters.get("sge")
    assert type(adapter) is sge.SgeDrmaaAdapter and adapter.NAME == "sge" and adapter.JOB_ID_VAR == "JOB_ID"
    assert adapter.submit_argv("/p/job.sh")[1:] == ["-m", "mdflow.executors.drmaa_adapter", "submit", "/p/job.sh"]
    assert adapter.status_argv(["3", "4"])[-3:] == ["status", "3", "4"]
    assert adapter.cancel_argv(["3"])[-2:] == ["cancel", "3"]
    assert adapter.submit_argv("x")[0] == sys.executable  # the controller's own Python, which has drmaa


def test_shipped_profile_is_valid():
    from mdflow.profiles import load_profile

    profile = load_profile("sge", REPO)
    assert profile.site["scheduler"] == "sge" and profile.site["launcher"] == "local"


# ------------------------------------------------------------------------------ submission


def test_parse_submit_takes_the_last_id_line():
    assert sge.parse_submit("17\n") == "17"
    assert sge.parse_submit("some warning\n23\n") == "23"
    with pytest.raises(GarbledAnswer):
        sge.parse_submit("Your job 17 has been submitted\n")


@pytest.mark.parametrize("line,kind", [
    ('DeniedByDrmException: code 17: Job was rejected because job requests unknown queue "nosuch"', FATAL),
    ("DeniedByDrmException: code 17: error: no suitable queues", FATAL),
    ('DeniedByDrmException: code 17: job rejected: the requested parallel environment "nosuchpe" does not exist', FATAL),
    ('DeniedByDrmException: code 17: attribute "h_rt" is not a time value', FATAL),
    ('DeniedByDrmException: code 17: unknown resource "nosuchres"', FATAL),
    ("TryLaterException: code 16: job rejected: only 2 jobs are allowed per user (current job count: 2)", LIMIT),
    ('DrmCommunicationException: code 2: unable to contact qmaster using port 6444 on host "vm"', TRANSIENT),
])
def test_submit_errors_as_drmaa_raised_them(line, kind):
    assert line in fixture("drmaa_errors.txt")
    assert sge.classify_submit_error(f"mdflow drmaa helper: {line}\n") == kind


# ------------------------------------------------------------------------------ accounting


@pytest.mark.parametrize("name,state,code,words", [
    ("qacct_ok.txt", SUCCESS, 0, "exit_status 0 on vm"),
    ("qacct_exit3.txt", FAILED, 3, "exit_status 3"),
    ("qacct_walltime.txt", FAILED, 137, "killed at its walltime (h_rt)"),
    ("qacct_qdel_running.txt", FAILED, 137, "SGE failed 100: assumedly after job; killed while running (qdel"),
    ("qacct_badwd.txt", FAILED, None, "SGE failed 28: changing into working directory"),
    ("qacct_badout.txt", FAILED, None, "SGE failed 26: opening input/output file"),
])
def test_qacct_records(name, state, code, words):
    records = sge.parse_qacct(fixture(name))
    assert len(records) == 1
    status = sge.status_from_qacct(records[0])
    assert (status.state, status.exit_code) == (state, code)
    assert words in status.reason


def test_qacct_exit_status_zero_is_no_success_when_sge_reports_a_failure():
    record = sge.parse_qacct(fixture("qacct_badwd.txt"))[0]
    assert record["exit_status"] == "0" and record["failed"].startswith("28")
    assert sge.status_from_qacct(record).state == FAILED


def test_signal_named_and_rescheduled_job_last_record_wins():
    status = sge.status_from_qacct(sge.parse_qacct(fixture("qacct_qdel_running.txt"))[0])
    assert "137 (128 + SIGKILL)" in status.reason
    records = sge.parse_qacct(fixture("qacct_walltime.txt") + fixture("qacct_ok.txt"))
    assert [r["jobname"] for r in records] == ["walltime", "ok"]


def test_garbled_qacct_record_is_unknown():
    assert sge.status_from_qacct({"failed": "x", "exit_status": "0"}).state == UNKNOWN


# ------------------------------------------------------------------------------ status replies


def qacct(name=None, rc=0, err=""):
    return {"rc": rc, "out": fixture(name) if name else "", "err": err}


NOT_FOUND = {"rc": 1, "out": "", "err": fixture("qacct_not_found.err")}


@pytest.mark.parametrize("record,state", [
    ({"drmaa": "queued_active"}, QUEUED),
    ({"drmaa": "user_on_hold"}, QUEUED),
    ({"drmaa": "system_on_hold"}, QUEUED),
    ({"drmaa": "user_system_on_hold"}, QUEUED),
    ({"drmaa": "running"}, RUNNING),
    ({"drmaa": "user_suspended"}, RUNNING),
    ({"drmaa": "system_suspended"}, RUNNING),
    ({"drmaa": "user_system_suspended"}, RUNNING),
    ({"drmaa": "undetermined"}, UNKNOWN),
    ({"drmaa": "something_new"}, UNKNOWN),
    ({"error": 'InvalidArgumentException: code 4: Job id, "abc", is not a valid job id'}, UNKNOWN),
    ({"drmaa": "invalid_job", "qacct": qacct("qacct_ok.txt")}, SUCCESS),
    ({"drmaa": "invalid_job", "qacct": qacct("qacct_qdel_running.txt")}, FAILED),
    ({"drmaa": "invalid_job", "qacct": NOT_FOUND}, GONE),
    ({"drmaa": "invalid_job", "qacct": {"rc": 1, "out": "", "err": "error: can't open accounting file\n"}}, UNKNOWN),
    ({"drmaa": "done", "qacct": qacct("qacct_exit3.txt")}, FAILED),
])
def test_status_of_one_reply_line(record, state):
    assert sge.status_from_record({"id": "12", **record}).state == state


def test_done_without_an_exit_status_is_never_success():
    status = sge.status_from_record({"id": "12", "drmaa": "done", "qacct": NOT_FOUND})
    assert status.state == GONE and "no record of its exit status" in status.reason


def test_job_in_error_state_never_runs_and_says_why():
    qstat_j = ("job_number:                 31\nexec_file:                  job_scripts/31\n"
               "error reason    1:          12/05/2026 17:30:01 [0:4242]: error: can't chdir to /gone: No such file\n")
    status = sge.status_from_record({"id": "31", "drmaa": "failed", "qacct": NOT_FOUND, "qstat_j": qstat_j})
    assert status.state == QUEUED and status.never_runs
    assert "can't chdir to /gone" in status.reason and "qmod -cj" in status.reason


def test_parse_status_reads_json_lines_and_skips_garbage():
    stdout = "\n".join([json.dumps({"id": "2", "drmaa": "running"}), "garbage",
                        json.dumps({"id": "3", "drmaa": "invalid_job", "qacct": qacct("qacct_exit3.txt")}),
                        json.dumps({"id": "99", "drmaa": "running"})])
    statuses = sge.parse_status(0, stdout, "", ["2", "3", "4"])
    assert {i: s.state for i, s in statuses.items()} == {"2": RUNNING, "3": FAILED}  # 4 undecided, 99 not asked


def test_parse_status_without_an_answer_judges_no_job():
    with pytest.raises(QueryFailed, match="unable to send message to qmaster"):
        sge.parse_status(2, "", 'mdflow drmaa helper: no answer from the qmaster: DrmCommunicationException: code 2: '
                                'unable to send message to qmaster using port 6444 on host "vm": got send error\n', ["2"])
    with pytest.raises(QueryFailed):
        sge.parse_status(0, "Traceback (most recent call last):\n", "", ["2"])


def test_adapter_poll_runs_one_helper_call():
    calls = []

    def run(argv):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, json.dumps({"id": "5", "drmaa": "user_on_hold"}) + "\n", "")

    assert adapters.get("sge").poll(["5"], run)["5"].state == QUEUED
    assert len(calls) == 1 and calls[0][-2:] == ["status", "5"]


# ------------------------------------------------------------------------------ qstat


def test_count_user_jobs_counts_running_and_pending():
    assert sge.count_user_jobs(0, fixture("qstat_u.xml"), "") == 4
    assert sge.count_user_jobs(0, "<?xml version='1.0'?>\n<job_info>\n  <queue_info/>\n  <job_info/>\n</job_info>\n", "") == 0
    with pytest.raises(QueryFailed):
        sge.count_user_jobs(1, "", 'error: unable to send message to qmaster using port 6444 on host "vm": got send error\n')
    with pytest.raises(QueryFailed):
        sge.count_user_jobs(0, "not xml", "")


def test_find_by_name_matches_the_working_directory():
    assert sge.find_by_name_argv("1st.job", "root") == ["qstat", "-xml", "-j", "j1st.job"]
    assert sge.parse_find_by_name(fixture("qstat_j_held.xml"), "/tmp/sgecorpus") == ["5"]
    assert sge.parse_find_by_name(fixture("qstat_j_held.xml"), "/elsewhere") == []
    assert sge.parse_find_by_name(fixture("qstat_j_unknown.xml"), "/tmp/sgecorpus") == []
    with pytest.raises(ValueError):
        sge.parse_find_by_name("error: commlib error", "/x")


# ------------------------------------------------------------------------------ the helper


def test_environment_found_where_debian_puts_it():
    present = {"/var/lib/gridengine/default/common/act_qmaster", "/usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0"}
    env = sge.sge_environment({"PATH": "/usr/bin"}, exists=present.__contains__)
    assert env["SGE_ROOT"] == "/var/lib/gridengine" and env["SGE_CELL"] == "default"
    assert env["DRMAA_LIBRARY_PATH"] == "/usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0"
    mine = {"SGE_ROOT": "/opt/sge", "SGE_CELL": "c1", "DRMAA_LIBRARY_PATH": "/x/libdrmaa.so"}
    assert sge.sge_environment(mine, exists=lambda p: True) == mine  # the caller's values win


def test_static_tls_failure_is_retried_once_with_more_static_tls():
    error = "/lib/x86_64-linux-gnu/libjemalloc.so.2: cannot allocate memory in static TLS block"  # Debian 12
    env = sge.static_tls_fix({"GLIBC_TUNABLES": "glibc.malloc.check=0"}, error)
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.check=0:" + sge.STATIC_TLS
    assert env["LD_PRELOAD"] == "/lib/x86_64-linux-gnu/libjemalloc.so.2"
    assert json.loads(env[sge.SAVED]) == {"GLIBC_TUNABLES": "glibc.malloc.check=0", "LD_PRELOAD": None}
    assert sge.static_tls_fix(env, error) is None  # no second re-exec
    assert sge.static_tls_fix({}, "libdrmaa.so: cannot open shared object file") is None


def test_restore_caller_environment(monkeypatch):
    monkeypatch.setenv(sge.SAVED, json.dumps({"GLIBC_TUNABLES": None, "LD_PRELOAD": "/mine.so"}))
    monkeypatch.setenv("GLIBC_TUNABLES", sge.STATIC_TLS)
    monkeypatch.setenv("LD_PRELOAD", "/mine.so /jemalloc.so")
    sge.restore_caller_environment()
    import os

    assert "GLIBC_TUNABLES" not in os.environ and os.environ["LD_PRELOAD"] == "/mine.so" and sge.SAVED not in os.environ


def fake_drmaa():
    """A stand-in for the drmaa package: its exception classes and JobControlAction."""
    errors = types.SimpleNamespace()
    errors.DrmaaException = type("DrmaaException", (Exception,), {})
    for name in ("InvalidJobException", "DrmCommunicationException", "NoActiveSessionException",
                 "DrmsExitException", "InternalException", "InvalidArgumentException"):
        setattr(errors, name, type(name, (errors.DrmaaException,), {}))
    return types.SimpleNamespace(errors=errors, JobControlAction=types.SimpleNamespace(TERMINATE="terminate"))


class FakeSession:
    def __init__(self, drmaa, states):
        self.drmaa, self.states, self.controlled = drmaa, states, []

    def jobStatus(self, job_id):
        state = self.states[job_id]
        if isinstance(state, type):
            raise state("code 18: The job specified by the 'jobid' does not exist.")
        return state

    def control(self, job_id, action):
        self.jobStatus(job_id)
        self.controlled.append((job_id, action))


def test_helper_status_asks_qacct_only_for_jobs_the_qmaster_forgot(monkeypatch, capsys):
    drmaa = fake_drmaa()
    asked = []
    monkeypatch.setattr(sge, "_qacct", lambda job_id: asked.append(job_id) or qacct("qacct_ok.txt"))
    session = FakeSession(drmaa, {"1": "running", "2": drmaa.errors.InvalidJobException, "3": "user_on_hold"})
    assert sge._status(session, drmaa, ["1", "2", "3"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    statuses = sge.parse_status(0, "\n".join(map(json.dumps, lines)), "", ["1", "2", "3"])
    assert {i: s.state for i, s in statuses.items()} == {"1": RUNNING, "2": SUCCESS, "3": QUEUED}
    assert asked == ["2"]


def test_helper_status_without_a_qmaster_prints_nothing_and_exits_2(capsys):
    drmaa = fake_drmaa()
    session = FakeSession(drmaa, {"1": drmaa.errors.DrmCommunicationException})
    assert sge._status(session, drmaa, ["1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "no answer from the qmaster" in err


def test_helper_cancel_takes_gone_jobs_as_cancelled(capsys):
    drmaa = fake_drmaa()
    session = FakeSession(drmaa, {"1": "running", "2": drmaa.errors.InvalidJobException})
    assert sge._cancel(session, drmaa, ["1", "2"]) == 0
    assert session.controlled == [("1", "terminate")]
    assert capsys.readouterr().out.splitlines() == ["1 terminated", "2 already gone"]


def test_helper_usage():
    result = subprocess.run([sys.executable, "-m", sge.HELPER, "bogus"], capture_output=True, text=True)
    assert result.returncode == 64 and "usage:" in result.stderr
