"""The stock Slurm plugin's resource names in a batch request (issue 18): mapped on Slurm, memory per
CPU folded elsewhere, what mdflow sets itself refused in slurm_extra, unknown names reported."""

import pytest

from mdflow.errors import MdflowError
from mdflow.executors import pbs, slurm
from mdflow.executors.render import build_request
from mdflow.executors.resource_names import batch_resources, slurm_extra_options, unknown_names

STOCK = {"slurm_partition": "long", "slurm_account": "chem42", "constraint": "skylake", "qos": "high",
         "gres": "gpu:a100:1", "clusters": "c2", "slurm_extra": "--mail-type=END --licenses 'sim:2'",
         "mem_mb_per_cpu": 500, "mem_mb": 1000, "runtime": 10}


def test_slurm_site_asks_for_every_stock_name_as_its_sbatch_option():
    site = {"name": "s", "scheduler": "slurm", "account": "site-acct", "cluster": "c1"}
    request = build_request(site, "r", {}, STOCK, 4, 1, "logs", "/p")
    assert slurm.directives(request) == [
        "--job-name=r", "--time=00:10:00", "--nodes=1", "--ntasks=1", "--cpus-per-task=4", "--output=logs/r.a1.log",
        "--chdir=/p", "--partition=long", "--account=chem42", "--mem-per-cpu=500M", "--clusters=c2",
        "--constraint=skylake", "--qos=high", "--gres=gpu:a100:1", "--mail-type=END", "--licenses sim:2"]


def test_other_schedulers_fold_memory_per_cpu_and_leave_slurm_names_out():
    site = {"name": "p", "scheduler": "pbs", "account": "site-acct"}
    request = build_request(site, "r", {}, {**STOCK, "tasks": 2}, 3, 1, "logs", "/p")
    assert request.queue is None and request.account == "site-acct" and request.extra == ()
    assert request.mem_mb == 500 * 2 * 3 and request.mem_mb_per_cpu is None
    assert "-l select=1:ncpus=6:mpiprocs=2:mem=3000mb" in pbs.directives(request)
    assert [name for name, _ in unknown_names(STOCK, "pbs")] == [
        "clusters", "constraint", "gres", "qos", "slurm_account", "slurm_extra", "slurm_partition"]


def test_names_known_to_snakemake_or_mdflow_are_not_reported():
    known = {"_cores": 1, "_nodes": 1, "mem_mb": 1, "mem_mib": 1, "disk_mb": 1, "disk_mib": 1, "tmpdir": "/t",
             "runtime": 1, "queue": "q", "partition": "q", "nodes": 1, "tasks": 1, "cpus_per_task": 1, "gpus": 1,
             "gpu": 1, "mem_mb_per_cpu": 1}
    assert unknown_names(known, "slurm") == [] and unknown_names(known, "cobalt") == []
    assert [n for n, _ in unknown_names({**known, **STOCK, "licence": 1}, "slurm")] == ["licence"]


def test_mdflow_names_win_over_the_stock_ones():
    assert batch_resources({"queue": "q", "slurm_partition": "p"}, "slurm", 1, "j").queue == "q"
    assert batch_resources({"mem_mb": 800}, "slurm", 4, "j").mem_mb == 800


@pytest.mark.parametrize("extra, managed", [
    ("--time=5", "--time"), ("-t 5", "--time"), ("--job-name x", "--job-name"), ("-Jx", "--job-name"),
    ("--mem=4G", "--mem"), ("--mem-per-cpu 4", "--mem-per-cpu"), ("--partition=a", "--partition"),
    ("-A acct", "--account"), ("--chdir=/x", "--chdir"), ("--output=%j", "--output"), ("--nodes=2", "--nodes"),
])
def test_slurm_extra_refuses_what_mdflow_sets_itself(extra, managed):
    with pytest.raises(MdflowError, match=f"job j: resource slurm_extra=.* sets {managed}, which mdflow sets itself"):
        slurm_extra_options(extra, "j")


def test_slurm_extra_keeps_options_mdflow_does_not_set():
    assert slurm_extra_options("--time-min=5 --mem-bind=local --ntasks-per-node 2 --exclusive", "j") == [
        "--time-min=5", "--mem-bind=local", "--ntasks-per-node 2", "--exclusive"]
    with pytest.raises(MdflowError, match="cannot be split into options"):
        slurm_extra_options("--comment='open", "j")


@pytest.mark.parametrize("value", ["lots", -5, "1.5G"])
def test_memory_that_is_not_megabytes_is_refused_in_one_line(value):
    with pytest.raises(MdflowError, match=f"job j: resource mem_mb_per_cpu={value!r} is not a positive whole number"):
        batch_resources({"mem_mb_per_cpu": value}, "slurm", 1, "j")


def test_memory_a_dry_run_cannot_know_yet_is_left_out():
    from snakemake.common.tbdstring import TBDString

    assert batch_resources({"mem_mb": TBDString(), "mem_mb_per_cpu": TBDString()}, "slurm", 1, "j").mem_mb is None
