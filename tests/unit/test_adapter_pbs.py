"""mdflow.executors.pbs: pure render/parse functions on real PBS Pro (and Torque) output shapes.

Fixtures under tests/golden/pbs/: qsub outputs (a Polaris id, one after a site banner), the two
per-user limit refusals, `qstat -x -f -F json` for Q, H, R and F jobs (Exit_status 0, 3, -29 and
271, one deleted before it ran), header-only JSON (server unreachable, exit 255; finished job
without -x, exit 35), JSON that qstat prints invalid, plain `qstat -f` with wrapped values, and
Torque's `qstat -f` (job_state C, exit_status).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mdflow.executors import pbs
from mdflow.executors.adapter import GONE, FAILED, FATAL, LIMIT, QUEUED, RUNNING, SUCCESS, TRANSIENT, UNKNOWN, JobRequest
from tests.golden import GOLDEN_DIR, assert_golden

FIXTURES = GOLDEN_DIR / "pbs"
SERVER = "polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov"
EMULATOR_DIR = Path(__file__).resolve().parents[1] / "emulators" / "pbs"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def pid(seq: int) -> str:
    return f"{seq}.{SERVER}"


# ------------------------------------------------------------------------------ submission


def test_parse_submit_full_polaris_id():
    assert pbs.parse_submit(fixture("qsub_polaris.out")) == pid(308834)


def test_parse_submit_tolerates_lines_before_the_id():
    assert pbs.parse_submit(fixture("qsub_banner.out")) == pid(7425428)


def test_parse_submit_emulator_id():
    assert pbs.parse_submit(fixture("qsub_emulator.out")) == "17.pbs-emu.mdflow.test"


@pytest.mark.parametrize("text", ["", "qsub: Job violates queue and/or server resource limits\n", "job queued\n"])
def test_parse_submit_without_an_id_raises(text):
    with pytest.raises(ValueError):
        pbs.parse_submit(text)


@pytest.mark.parametrize("name, expected", [
    ("qsub_max_queued.err", LIMIT),          # max_queued: queued + running
    ("qsub_queued_threshold.err", LIMIT),    # queued_jobs_threshold (ALCF debug queues)
    ("qsub_walltime.err", FATAL),
    ("qsub_unknown_queue.err", FATAL),
    ("qsub_connect.err", TRANSIENT),
])
def test_classify_submit_error(name, expected):
    assert pbs.classify_submit_error(fixture(name)) == expected


def test_submit_and_cancel_argv():
    assert pbs.submit_argv("/w/job.pbs") == ["qsub", "/w/job.pbs"]
    assert pbs.cancel_argv(["1.s", "2.s"]) == ["qdel", "1.s", "2.s"]
    assert pbs.status_argv(["1.s", "2.s"]) == ["qstat", "-x", "-f", "-F", "json", "1.s", "2.s"]


# ------------------------------------------------------------------------------ directives


def polaris_request(**changes) -> JobRequest:
    values = dict(name="simulate_sys1_r0", queue="debug", walltime_min=30, nodes=2, tasks=8, cpus_per_task=8,
                  gpus=8, account="MDflow", log_path="logs/simulate_sys1_r0.log",
                  workdir="/eagle/MDflow/jdoe/campaign", select_extra="system=polaris",
                  extra=("-l place=scatter", "-l filesystems=home:eagle", "-k doe"))
    values.update(changes)
    return JobRequest(**values)


def test_directives_polaris_golden():
    assert_golden("pbs/directives_polaris.txt", "".join(f"#PBS {line}\n" for line in pbs.directives(polaris_request())))


def test_directives_minimal_request():
    request = JobRequest(name="setup_sys1", queue=None, walltime_min=90, log_path="setup.log")
    assert pbs.directives(request) == ["-N setup_sys1", "-l select=1:ncpus=1", "-l walltime=01:30:00",
                                       "-o setup.log", "-j oe"]


def test_directives_select_extras_from_extra_items_too():
    request = JobRequest(name="a", queue=None, walltime_min=5, select_extra=":system=polaris", extra=(":ngpus=4", "-k doe"))
    assert pbs.directives(request)[1:2] == ["-l select=1:ncpus=1:system=polaris:ngpus=4"]
    assert pbs.directives(request)[-1] == "-k doe"


def test_directives_memory_per_chunk():
    request = JobRequest(name="a", queue=None, walltime_min=5, nodes=2, mem_mb=4000)
    assert "-l select=2:ncpus=1:mem=4000mb" in pbs.directives(request)


@pytest.mark.parametrize("name, expected", [("1abc", "j1abc"), ("_x", "j_x"), ("a" * 300, "a" * 236),
                                            ("ok.name-1", "ok.name-1"), ("bad/name", "bad_name")])
def test_job_name_is_one_qsub_accepts(name, expected):
    assert pbs.job_name(name) == expected


@pytest.mark.parametrize("path", ["logs/a:b.log", "/w/with space.log"])
def test_directives_refuse_paths_pbs_would_mangle(path):
    with pytest.raises(ValueError):
        pbs.directives(polaris_request(log_path=path))


# ------------------------------------------------------------------------------ qstat JSON


@pytest.mark.parametrize("name, seq, state, code, reason_part", [
    ("qstat_queued.json", 308834, QUEUED, None, "Insufficient amount of resource: ngpus"),
    ("qstat_running.json", 308836, RUNNING, None, "Job run at"),
    ("qstat_finished_ok.json", 308837, SUCCESS, 0, "and finished"),
    ("qstat_finished_exit3.json", 308838, FAILED, 3, "exit 3"),
    ("qstat_walltime.json", 308839, FAILED, -29, "JOB_EXEC_KILL_WALLTIME"),
    ("qstat_qdel.json", 308840, FAILED, 143, "SIGTERM"),
])
def test_parse_qstat_one_job(name, seq, state, code, reason_part):
    statuses = pbs.parse_qstat(0, fixture(name), "", [pid(seq)])
    assert list(statuses) == [pid(seq)]
    assert statuses[pid(seq)].state == state
    assert statuses[pid(seq)].exit_code == code
    assert reason_part in statuses[pid(seq)].reason


def test_parse_qstat_mixed_answer_with_an_unknown_id():
    """Exit 153 with one `Unknown Job Id` line is still a real answer for the others; the unknown
    id itself is GONE (the job's own outcome record decides), one simply absent is undecided."""
    ids = [pid(n) for n in (308834, 308835, 308836, 308837, 308841, 308700, 308999)]
    statuses = pbs.parse_qstat(153, fixture("qstat_mixed.json"), fixture("qstat_mixed.err"), ids)
    assert {i: s.state for i, s in statuses.items()} == {
        pid(308834): QUEUED, pid(308835): QUEUED, pid(308836): RUNNING, pid(308837): SUCCESS,
        pid(308841): FAILED, pid(308700): GONE,
    }
    assert statuses[pid(308841)].exit_code is None            # deleted before it ran: no Exit_status
    assert "deleted before it ran" in statuses[pid(308841)].reason


def test_parse_qstat_matches_short_ids():
    statuses = pbs.parse_qstat(0, fixture("qstat_mixed.json"), "", ["308834", "308836.polaris-pbs-01"])
    assert statuses["308834"].state == QUEUED
    assert statuses["308836.polaris-pbs-01"].state == RUNNING


def test_parse_qstat_torque_completed_json():
    ids = ["4711.torque01.cluster.example", "4713.torque01.cluster.example"]
    statuses = pbs.parse_qstat(0, fixture("qstat_torque_completed.json"), "", ids)
    assert (statuses[ids[0]].state, statuses[ids[0]].exit_code) == (FAILED, 1)
    assert (statuses[ids[1]].state, statuses[ids[1]].exit_code) == (SUCCESS, 0)


def test_parse_qstat_header_only_unreachable_server_raises():
    with pytest.raises(RuntimeError, match="255"):
        pbs.parse_qstat(255, fixture("qstat_header_only.json"), fixture("qstat_connect.err"), [pid(308834)])


def test_parse_qstat_header_only_without_explanation_raises():
    with pytest.raises(RuntimeError, match="header-only"):
        pbs.parse_qstat(0, fixture("qstat_header_only.json"), "", [pid(308834)])


def test_parse_qstat_finished_without_history_option():
    """`qstat -f` without -x on a finished job: exit 35, JSON without 'Jobs'."""
    statuses = pbs.parse_qstat(35, fixture("qstat_finished_without_x.json"), fixture("qstat_finished_without_x.err"),
                               [pid(308837)])
    assert {i: s.state for i, s in statuses.items()} == {pid(308837): GONE}


@pytest.mark.parametrize("returncode, stdout, stderr", [
    (0, "", ""),
    (2, "", "qstat: invalid option -- 'F'\nusage: \nqstat [-f] ...\n"),
    (0, "Job id  Name  User  Time Use S Queue\n", ""),
    (1, '{\n    "timestamp":1,\n', "qstat: Error 15031\n"),
])
def test_parse_qstat_unusable_answers_raise(returncode, stdout, stderr):
    with pytest.raises(RuntimeError):
        pbs.parse_qstat(returncode, stdout, stderr, [pid(1)])


def test_parse_qstat_json_repairs_what_qstat_prints_invalid():
    text = fixture("qstat_invalid_values.json")
    with pytest.raises(ValueError):
        json.loads(text)                                        # as qstat printed it
    document = pbs.parse_qstat_json(text)
    job = document["Jobs"][pid(308842)]
    assert job["Job_Name"] == "nan"
    assert job["Variable_List"]["PS1"] == "\\u@\\h:\\w \\$"
    statuses = pbs.parse_qstat(0, text, "", [pid(308842)])
    assert (statuses[pid(308842)].state, statuses[pid(308842)].exit_code) == (FAILED, 1)


@pytest.mark.parametrize("attributes, state, code", [
    ({"job_state": "E"}, RUNNING, None),
    ({"job_state": "S"}, RUNNING, None),
    ({"job_state": "B"}, RUNNING, None),
    ({"job_state": "W"}, QUEUED, None),
    ({"job_state": "T"}, QUEUED, None),
    ({"job_state": "X", "Exit_status": 0}, SUCCESS, 0),
    ({"job_state": "F", "Exit_status": "265"}, FAILED, 137),  # 256 + SIGKILL: a shell says 128 + 9
    ({"job_state": "F", "Exit_status": -3}, FAILED, -3),
    ({"job_state": "C", "exit_status": "0"}, SUCCESS, 0),
    ({"job_state": "M"}, UNKNOWN, None),
])
def test_status_from_attributes(attributes, state, code):
    status = pbs.status_from_attributes(attributes)
    assert (status.state, status.exit_code) == (state, code)


def test_parse_qstat_leaves_moved_jobs_out():
    text = fixture("qstat_queued.json").replace('"job_state":"Q"', '"job_state":"M"')
    assert pbs.parse_qstat(0, text, "", [pid(308834)])[pid(308834)].state == UNKNOWN


def test_status_from_attributes_unknown_state_concerns_that_job():
    assert pbs.status_from_attributes({"job_state": "Z"}).state == UNKNOWN
    assert pbs.status_from_attributes({"job_state": "F", "Exit_status": "x"}).state == UNKNOWN


def test_describe_exit():
    assert "SIGKILL" in pbs.describe_exit(265)
    assert "128 + SIGTERM" in pbs.describe_exit(143)
    assert pbs.describe_exit(2) == "exit 2"


# ------------------------------------------------------------------------------ plain qstat -f


def test_join_continuation_lines_restores_wrapped_values():
    joined = pbs.join_continuation_lines(fixture("qstat_f_wrapped.txt"))
    assert "\t" not in joined
    assert ("    Variable_List = PBS_O_HOME=/home/jdoe,PBS_O_LANG=en_US.UTF-8,PBS_O_LOGNAME=jdoe,"
            "PBS_O_PATH=/home/jdoe/.venv/mdflow/bin:/opt/cray/pe/bin:/usr/local/bin:/usr/bin:/bin,") in joined
    assert ("    Output_Path = polaris-login-02.hsn.cm.polaris.alcf.anl.gov:"
            "/eagle/MDflow/jdoe/campaign/logs/simulate_sys3_r0.log\n") in joined


def test_parse_qstat_full_tab_and_space_continuations_agree():
    tabs = pbs.parse_qstat_full(fixture("qstat_f_wrapped.txt"))
    spaces = pbs.parse_qstat_full(fixture("qstat_f_wrapped_spaces.txt"))
    assert tabs == spaces
    job = tabs[pid(308839)]
    assert (job["job_state"], job["Exit_status"], job["Resource_List.select"]) == \
        ("F", "-29", "1:ncpus=64:ngpus=4:system=polaris")
    assert job["Variable_List"].endswith(",PBS_O_HOST=polaris-login-02.hsn.cm.polaris.alcf.anl.gov")


def test_parse_qstat_text_torque():
    ids = ["4711.torque01.cluster.example", "4712"]
    statuses = pbs.parse_qstat(0, fixture("torque_qstat_f.txt"), "", ids, text=True)
    assert (statuses[ids[0]].state, statuses[ids[0]].exit_code) == (FAILED, 1)
    assert statuses["4712"].state == RUNNING
    assert pbs.parse_qstat_full(fixture("torque_qstat_f.txt"))[ids[0]]["Error_Path"].endswith("/setup_sys1.log")


def test_emulator_wrapping_round_trips_through_join():
    """The emulator wraps like qstat.c's prt_attr(); joining gives the value back."""
    sys.path.insert(0, str(EMULATOR_DIR))
    try:
        from pbs_emulator import prt_attr
    finally:
        sys.path.remove(str(EMULATOR_DIR))
    values = ["short", "x" * 200, ",".join(f"VAR{i}=" + "v" * (i * 7) for i in range(12)),
              "a" * 57 + "," + "b" * 70, "host:/" + "/deep" * 30]
    for value in values:
        line = prt_attr("Variable_List", None, value)
        assert pbs.join_continuation_lines(line) == "    Variable_List = " + value
        line = prt_attr("Resource_List", "select", value)
        assert pbs.join_continuation_lines(line) == "    Resource_List.select = " + value


# ------------------------------------------------------------------------------ poll


class FakeRun:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        returncode, stdout, stderr = self.answers.pop(0)
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)


def test_poll_is_one_qstat_for_all_ids():
    ids = [pid(308834), pid(308837)]
    run = FakeRun((0, fixture("qstat_mixed.json"), ""))
    statuses = pbs.poll(ids, run, {}, {})
    assert run.calls == [["qstat", "-x", "-f", "-F", "json", *ids]]
    assert statuses[pid(308834)].state == QUEUED and statuses[pid(308837)].state == SUCCESS


def test_poll_nothing_runs_nothing():
    run = FakeRun()
    assert pbs.poll([], run, {}, {}) == {}
    assert run.calls == []


def test_poll_falls_back_to_text_when_qstat_lacks_json():
    """PBS Pro before 18 has no -F json: plain `qstat -x -f` from then on."""
    usage = (2, "", "qstat: invalid option -- 'F'\nusage: \nqstat [-f] [-J] [-p] [-t] [-x] ...\n")
    run = FakeRun(usage, (0, fixture("qstat_f_wrapped.txt"), ""), (0, fixture("qstat_f_wrapped.txt"), ""))
    state = {}
    statuses = pbs.poll([pid(308839)], run, {}, state)
    assert (statuses[pid(308839)].state, statuses[pid(308839)].exit_code) == (FAILED, -29)
    assert state["format"] == "text"
    statuses = pbs.poll([pid(308836)], run, {}, state)
    assert statuses[pid(308836)].state == RUNNING
    assert run.calls[1:] == [["qstat", "-x", "-f", pid(308839)], ["qstat", "-x", "-f", pid(308836)]]


def test_poll_torque_without_history_option():
    """Torque: no -F json, and -x asks for XML; plain `qstat -f` lists completed jobs (C)."""
    usage = (2, "", "qstat: invalid option -- 'F'\nusage: qstat [-f [-1]] [-W site_specific] [-x] ...\n")
    xml = (0, "<Data><Job><Job_Id>4711.torque01.cluster.example</Job_Id></Job></Data>", "")
    run = FakeRun(usage, xml, (0, fixture("torque_qstat_f.txt"), ""))
    state = {}
    statuses = pbs.poll(["4711.torque01.cluster.example"], run, {}, state)
    assert (statuses["4711.torque01.cluster.example"].state, state["format"]) == (FAILED, "torque")
    assert run.calls[-1] == ["qstat", "-f", "4711.torque01.cluster.example"]


def test_poll_unreachable_server_raises():
    run = FakeRun((255, fixture("qstat_header_only.json"), fixture("qstat_connect.err")))
    with pytest.raises(RuntimeError):
        pbs.poll([pid(308834)], run, {}, {})


# ------------------------------------------------------------------------------ user job counts


def test_count_user_jobs():
    assert pbs.count_user_jobs_argv("jdoe", "debug") == ["qstat", "-u", "jdoe", "debug"]
    assert pbs.count_user_jobs_argv("jdoe", None) == ["qstat", "-u", "jdoe"]
    text = fixture("qstat_u.txt")
    assert pbs.parse_count(text) == 3
    assert pbs.parse_count(text, states="Q") == 1
    assert pbs.parse_count("") == 0


def test_find_by_name_sees_finished_jobs_and_keeps_only_this_projects():
    argv = pbs.find_by_name_argv("setup.sys1", "jdoe")
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["qselect-full", "jdoe", "setup.sys1"]
    assert "qselect -x" in argv[2] and "qstat -x -f -F json" in argv[2]

    def job(workdir):
        return {"Job_Name": "setup.sys1", "job_state": "F",
                "Variable_List": {"PBS_O_HOME": "/home/jdoe", "PBS_O_WORKDIR": workdir}}
    answer = json.dumps({"timestamp": 1, "pbs_version": "2022.1.1", "pbs_server": "pbs01", "Jobs": {
        "1002.pbs01": job("/home/jdoe/campaign"), "988.pbs01": job("/home/jdoe/other"),
        "1003.pbs01": job("/home/jdoe/campaign"), "997.pbs01": job("/home/jdoe/campaign")}})
    assert pbs.parse_find_by_name(answer, "/home/jdoe/campaign") == ["997.pbs01", "1002.pbs01", "1003.pbs01"]
    assert pbs.parse_find_by_name("", "/home/jdoe/campaign") == []  # qselect found none
    for garbage in ("\x00garbage \ufffd|||", '{"Jobs": ["1.pbs01"]}', json.dumps(
            {"Jobs": {"x; rm -rf ~": job("/home/jdoe/campaign")}})):
        with pytest.raises(ValueError):
            pbs.parse_find_by_name(garbage, "/home/jdoe/campaign")


def test_queue_limits_from_qstat_Qf():
    text = ("Queue: debug\n    queue_type = Execution\n    resources_max.walltime = 01:00:00\n    enabled = True\n\n"
            "Queue: long\n    resources_max.walltime = 72:00:30\n    resources_default.walltime = 24:00:00\n\n"
            "Queue: open\n    queue_type = Execution\n")
    assert pbs.parse_queue_status(0, text) == {
        "debug": {"max_walltime_min": 60, "default": False},
        "long": {"max_walltime_min": 4320, "default": False},  # whole minutes within the limit
        "open": {"max_walltime_min": None, "default": False}}
    assert pbs.parse_queue_status(2, "", "qstat: -Q not supported") == {}
    assert pbs.ADAPTER().queue_limits_argv({}) == ["qstat", "-Q", "-f"]


def test_emulator_prints_qstat_Qf_that_the_parser_reads(tmp_path):
    env = {**os.environ, "PBS_EMULATOR_STATE": str(tmp_path)}
    answer = subprocess.run([sys.executable, str(EMULATOR_DIR / "bin/qstat"), "-Q", "-f"], capture_output=True,
                            text=True, env=env)
    assert answer.returncode == 0, answer.stderr
    limits = pbs.parse_queue_status(answer.returncode, answer.stdout, answer.stderr)
    assert limits["debug"]["max_walltime_min"] == 60 and limits["prod"]["max_walltime_min"] == 1440
