"""Slurm adapter: pure parsers on real output shapes, and poll() with a scripted runner."""

import subprocess

import pytest

from golden import assert_golden
from mdflow.executors import slurm
from mdflow.executors.adapter import AMBIGUOUS, FAILED, FATAL, LIMIT, QUEUED, RUNNING, SUCCESS, TRANSIENT, UNKNOWN, JobRequest

SQUEUE = """101|PENDING|Priority|0|
102|RUNNING|None|0|
103|COMPLETED|None|0|
104|FAILED|NonZeroExitCode|768|
105|CANCELLED|None|15|
106|TIMEOUT|TimeLimit|36608|
107|COMPLETING|None|0|
"""


def test_squeue_states_and_exit_codes():
    statuses = slurm.parse_squeue(0, SQUEUE, "")
    assert statuses["101"].state == QUEUED and statuses["102"].state == RUNNING
    assert (statuses["103"].state, statuses["103"].exit_code) == (SUCCESS, 0)
    assert (statuses["104"].state, statuses["104"].exit_code) == (FAILED, 3)
    assert (statuses["105"].state, statuses["105"].exit_code, statuses["105"].reason) == (FAILED, 143, "CANCELLED")
    assert (statuses["106"].state, statuses["106"].exit_code) == (FAILED, 143)
    assert statuses["107"].state == RUNNING


def test_squeue_invalid_job_id_is_an_answer_and_garbage_is_not():
    assert slurm.parse_squeue(1, "", "slurm_load_jobs error: Invalid job id specified") == {}
    with pytest.raises(RuntimeError):
        slurm.parse_squeue(1, "", "squeue: error: Socket timed out on send/recv operation")
    # garbage decides nothing; an unknown state or garbled line concerns its own job only
    assert slurm.parse_squeue(0, "\x00garbage \ufffd|||\n", "") == {}
    statuses = slurm.parse_squeue(0, "12|WEIRD|None|0|\n13|COMPLETED|None|0:0|\n14|RUNNING|None\n", "")
    assert statuses["12"].state == UNKNOWN and statuses["14"].state == UNKNOWN
    assert (statuses["13"].state, statuses["13"].exit_code) == (SUCCESS, 0)


def test_sacct_and_scontrol_shapes():
    sacct = "201|COMPLETED|0:0\n201.batch|COMPLETED|0:0\n202|CANCELLED by 1000|0:15\n203|TIMEOUT|0:0\n204|FAILED|2:0\n"
    parsed = slurm.parse_sacct(sacct)
    assert parsed["201"].state == SUCCESS and "201.batch" not in parsed
    assert (parsed["202"].state, parsed["202"].exit_code) == (FAILED, 143)
    assert (parsed["204"].state, parsed["204"].exit_code) == (FAILED, 2)
    line = ("JobId=301 JobName=simulate.villin.0.000 UserId=root(0) JobState=COMPLETED Reason=None "
            "Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:0 RunTime=00:00:03\n"
            "JobId=302 JobName=x JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0\n")
    parsed = slurm.parse_scontrol(line)
    assert parsed["301"].state == SUCCESS and (parsed["302"].state, parsed["302"].exit_code) == (FAILED, 1)


def test_submit_output_and_error_classes():
    assert slurm.parse_submit("12345\n") == "12345"
    assert slurm.parse_submit("sbatch: warning: can't honor --ntasks-per-node\n777;cluster\n") == "777;cluster"
    with pytest.raises(ValueError):
        slurm.parse_submit("Submitted batch job\n")
    assert slurm.classify_submit_error("sbatch: error: QOSMaxSubmitJobPerUserLimit") == LIMIT
    assert slurm.classify_submit_error("sbatch: error: AssocMaxSubmitJobLimit") == AMBIGUOUS  # also a missing account (LUMI)
    assert slurm.classify_submit_error("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation") == TRANSIENT
    assert slurm.classify_submit_error("sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying") == TRANSIENT
    assert slurm.classify_submit_error("sbatch: error: invalid partition specified: nope") == FATAL


def test_directives_golden():
    request = JobRequest(name="simulate.villin.0.001", queue="skx", walltime_min=90, nodes=1, tasks=1,
                         cpus_per_task=4, mem_mb=2000, gpus=1, account="CHE12345", log_path="logs/batch/x.log",
                         workdir="/scratch/p", extra=("--constraint=gpu",))
    assert_golden("slurm_directives.txt", "\n".join(slurm.directives(request)) + "\n")


def test_poll_uses_one_squeue_while_jobs_are_listed():
    calls = []

    def run(argv):
        calls.append(argv[0])
        return subprocess.CompletedProcess(argv, 0, "1|RUNNING|None|0|\n2|COMPLETED|None|0|\n", "")

    statuses = slurm.poll(["1", "2"], run, {}, {})
    assert calls == ["squeue"] and statuses["2"].state == SUCCESS


def test_poll_falls_back_to_scontrol_for_jobs_slurm_forgot():
    calls = []

    def run(argv):
        calls.append(argv[0])
        if argv[0] == "squeue":
            return subprocess.CompletedProcess(argv, 0, "1|RUNNING|None|0|\n", "")
        return subprocess.CompletedProcess(argv, 0, "JobId=2 JobState=FAILED ExitCode=7:0\n", "")

    statuses = slurm.poll(["1", "2"], run, {}, {"accounting": False})
    assert calls == ["squeue", "scontrol"] and statuses["2"].exit_code == 7


def test_find_by_name_sees_finished_jobs_and_keeps_only_this_projects():
    argv = slurm.find_by_name_argv("setup.villin", "jdoe")
    assert "--states=all" in argv and "--format=%i|%Z" in argv and "--name=setup.villin" in argv
    out = "702|/home/jdoe/campaign\n688|/home/jdoe/other\n703|/home/jdoe/campaign\n"
    assert slurm.parse_find_by_name(out, "/home/jdoe/campaign") == ["702", "703"]
    assert slurm.parse_find_by_name("", "/home/jdoe/campaign") == []
    with pytest.raises(ValueError):
        slurm.parse_find_by_name("\x00garbage \ufffd|||\n%%%\n", "/home/jdoe/campaign")


def test_federated_ids_are_polled_and_cancelled_on_their_cluster():
    calls = []

    def run(argv):
        calls.append(argv)
        cluster = next((a.split("=")[1] for a in argv if a.startswith("--clusters=")), None)
        lines = {"a": "CLUSTER: a\n11|RUNNING|None|0:0|\n", "b": "CLUSTER: b\n11|COMPLETED|None|0:0|\n",
                 None: "12|PENDING|Priority|0:0|\n"}[cluster]
        return subprocess.CompletedProcess(argv, 0, lines, "")

    statuses = slurm.poll(["11;a", "11;b", "12"], run, {}, {})
    assert {k: v.state for k, v in statuses.items()} == {"11;a": RUNNING, "11;b": SUCCESS, "12": QUEUED}
    assert len(calls) == 3 and {"--clusters=a", "--clusters=b"} <= {a for c in calls for a in c}
    assert slurm.cancel_argvs(["11;a", "12", "13"]) == [["scancel", "--clusters=a", "11"], ["scancel", "12", "13"]]
    assert slurm.parse_submit("75168975;clustername\n") == "75168975;clustername"
    assert slurm.parse_submit("Submitted batch job 3969755 on cluster nautilus\n") == "3969755;nautilus"


def test_ambiguous_policy_refusal_is_decided_by_the_users_own_job_count():
    from mdflow.executors.submission import max_queued, near_limit

    site = {"max_queued": 100, "queues": {"q": {"max_queued": 10}}}
    assert near_limit(max_queued(site, "q"), 9) and not near_limit(max_queued(site, "q"), 2)
    assert not near_limit(max_queued(site, "q"), None)
    assert near_limit(max_queued(site, "other"), 95)