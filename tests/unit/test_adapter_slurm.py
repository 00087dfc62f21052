"""Slurm adapter: pure parsers on real output shapes, and poll() with a scripted runner."""

import dataclasses
import subprocess

import pytest

from golden import assert_golden
from mdflow.executors import slurm
from mdflow.executors.adapter import AMBIGUOUS, FAILED, FATAL, LIMIT, QUEUED, RUNNING, SUCCESS, TRANSIENT, UNKNOWN, JobRequest
from mdflow.errors import MdflowError
from mdflow.executors.render import build_request, fit_scheduler_limits

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

# ---------------------------------------------------------------------------------- issue 18: jobs that never start

# `scontrol --all --oneliner show partition` of Slurm 22.05 (the test Slurm, tests/slurm/start_slurm.sh), cut
PARTITIONS = (
    "PartitionName=debug AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default=YES QoS=N/A "
    "DefaultTime=NONE DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO MaxNodes=UNLIMITED "
    "MaxTime=00:30:00 MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED Nodes=vm State=UP TotalCPUs=16 TotalNodes=1\n"
    "PartitionName=long AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default=NO QoS=N/A "
    "DefaultTime=NONE Hidden=NO MaxNodes=UNLIMITED MaxTime=2-00:00:00 MinNodes=0 Nodes=vm State=UP TotalNodes=1\n"
    "PartitionName=open Default=NO MaxTime=UNLIMITED Nodes=vm State=UP\n"
    # the same fields of a partition with node limits (MaxNodes=/MinNodes= as slurm.conf(5) sets them)
    "PartitionName=wide Default=NO MaxNodes=64 MaxTime=1-00:00:00 MinNodes=2 Nodes=c[001-128] State=UP "
    "TotalCPUs=6144 TotalNodes=128\n")


def test_partition_limits_from_scontrol():
    assert slurm.parse_partitions(0, PARTITIONS) == {
        "debug": {"max_walltime_min": 30, "default": True, "max_nodes": 1, "min_nodes": None},
        "long": {"max_walltime_min": 2880, "default": False, "max_nodes": 1, "min_nodes": None},
        "open": {"max_walltime_min": None, "default": False, "max_nodes": None, "min_nodes": None},
        "wide": {"max_walltime_min": 1440, "default": False, "max_nodes": 64, "min_nodes": 2}}
    assert slurm.parse_partitions(1, "", "slurm_load_partitions: Unable to contact slurm controller") == {}
    assert slurm.partitions_argv("c2") == ["scontrol", "--clusters=c2", "--all", "--oneliner", "show", "partition"]


@pytest.mark.parametrize("reason", [
    "PartitionTimeLimit", "PartitionNodeLimit", "QOSMaxWallDurationPerJobLimit", "AssocMaxWallDurationPerJobLimit",
    "InvalidAccount", "InvalidQOS", "QOSMaxNodePerJobLimit", "AssocMaxNodesPerJobLimit", "AssocMaxCpuPerJobLimit",
    "QOSMaxGRESPerJob", "AssocMaxMemPerJob", "QOSMinGRES", "QOSMinCpuNotSatisfied", "DependencyNeverSatisfied"])
def test_pending_reasons_that_never_clear(reason):
    out = f"3005|PENDING|{reason}|0|\n"
    status = slurm.parse_squeue(0, out, "")["3005"]
    assert status.state == QUEUED and status.never_runs and reason in status.reason


@pytest.mark.parametrize("reason", [
    "Priority", "Resources", "QOSMaxJobsPerUserLimit", "QOSMaxSubmitJobPerUserLimit", "AssocMaxJobsLimit",
    "QOSMaxCpuPerUserLimit", "AssocGrpCPURunMinutesLimit", "ReqNodeNotAvail", "JobHeldUser", "Dependency", "None"])
def test_pending_reasons_that_clear_by_themselves(reason):
    status = slurm.parse_squeue(0, f"3006|PENDING|{reason}|0|\n", "")["3006"]
    assert status.state == QUEUED and not status.never_runs


def test_walltime_over_the_schedulers_own_partition_limit_is_refused_in_one_line_or_fitted_when_the_rule_sets_none():
    limits = slurm.parse_partitions(0, PARTITIONS)
    site = {"name": "s"}
    request = build_request(site, "collide", {"v": "x"}, {"runtime": 45}, 1, 1, "logs", "/p")
    with pytest.raises(MdflowError) as refused:  # no queue named: Slurm's default partition (debug)
        fit_scheduler_limits(request, "collide", site, limits, "slurm")
    assert str(refused.value) == (
        "job collide.x (rule collide): runtime 45 min exceeds the 00:30:00 limit of slurm queue debug, where it "
        "would wait forever; lower the rule's runtime, or send it to a queue that allows it (long, open, wide: `queue:` "
        "in the profile, or resources: partition=NAME)")
    no_runtime = build_request(site, "r", {}, {}, 1, 1, "logs", "/p")  # the site's default: 60 min
    assert fit_scheduler_limits(no_runtime, "r", site, limits, "slurm", default_walltime=True).walltime_min == 30
    fit_scheduler_limits(build_request({"name": "s", "queue": "long"}, "r", {}, {"runtime": 45}, 1, 1, "l", "/p"),
                           "r", site, limits, "slurm")  # fits
    fit_scheduler_limits(request, "r", site, {}, "slurm")  # no answer from Slurm: nothing refused
    told = {"name": "s", "queues": {"debug": {"max_walltime": 60}}}  # the profile's word wins
    fit_scheduler_limits(build_request(told, "r", {}, {"runtime": 45}, 1, 1, "l", "/p"), "r", told, limits, "slurm")


def test_node_count_outside_the_schedulers_own_partition_limits_is_refused_in_one_line():
    limits = slurm.parse_partitions(0, PARTITIONS)
    site = {"name": "s"}
    two_nodes = build_request(site, "big", {"v": "x"}, {"runtime": 10, "nodes": 2}, 1, 1, "logs", "/p")
    with pytest.raises(MdflowError) as refused:  # debug has one node
        fit_scheduler_limits(two_nodes, "big", site, limits, "slurm")
    assert str(refused.value) == (
        "job big.x (rule big): 2 node(s) are outside the 1 to 1 node(s) allowed by slurm queue debug, where it would "
        "wait forever; lower the rule's nodes, or send it to a queue that allows it (open, wide: `queue:` in the "
        "profile, or resources: partition=NAME)")
    one_node = build_request({"name": "s", "queue": "wide"}, "r", {}, {"runtime": 10}, 1, 1, "logs", "/p")
    with pytest.raises(MdflowError, match=r"1 node\(s\) are outside the 2 to 64 node\(s\) allowed by slurm queue wide"):
        fit_scheduler_limits(one_node, "r", site, limits, "slurm")
    fit_scheduler_limits(dataclasses.replace(one_node, nodes=64), "r", site, limits, "slurm")  # fits
    told = {"name": "s", "queues": {"debug": {"max_nodes": 4}}}  # the profile's word wins
    fit_scheduler_limits(two_nodes, "big", told, limits, "slurm")
