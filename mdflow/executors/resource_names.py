"""What a job's Snakemake resources mean to its batch request. Pure.

Three vocabularies are understood: Snakemake's standard resources, mdflow's own, and the stock Slurm
executor plugin's (snakemake-executor-plugin-slurm: docs/further.md and submit_string.py), so that a
workflow or profile written for that plugin runs under `--executor mdflow` without edits. The
mapping (README "Resource names"):

  stock plugin      Slurm site                    PBS / Cobalt / SGE site
  slurm_partition   the partition (= `queue`)     ignored, warned (a Slurm name)
  slurm_account     --account (over the site's)   ignored, warned
  constraint        --constraint                  ignored, warned
  qos               --qos                         ignored, warned
  gres              --gres                        ignored, warned
  clusters          --clusters (= site cluster)   ignored, warned   (also `cluster`, `slurm_cluster`)
  slurm_extra       sbatch options as given       ignored, warned
  mem_mb_per_cpu    --mem-per-cpu                 memory = it x the job's CPUs (tasks x cpus_per_task)
  nodes, tasks, cpus_per_task, gpu, runtime, mem_mb: the same names as mdflow's.

Any other name means nothing to a batch request: it is named once as a warning (it still counts
for Snakemake's own `--resources` limits).
"""

import re
import shlex
from dataclasses import dataclass

from mdflow.errors import MdflowError

SNAKEMAKE_NAMES = frozenset({"_cores", "_nodes", "_job_count", "threads", "runtime", "mem", "mem_mb", "mem_mib",
                             "disk", "disk_mb", "disk_mib", "tmpdir"})
MDFLOW_NAMES = frozenset({"queue", "partition", "nodes", "tasks", "cpus_per_task", "gpus", "gpu"})
CLUSTER_NAMES = ("clusters", "cluster", "slurm_cluster")  # the stock plugin's order of preference
SLURM_ONLY_NAMES = frozenset({"slurm_partition", "slurm_account", "constraint", "qos", "gres", "slurm_extra",
                              *CLUSTER_NAMES})
STOCK_PLUGIN_NAMES = SLURM_ONLY_NAMES | {"mem_mb_per_cpu"}

# sbatch options mdflow sets itself (the batch script's name, log and directory; what the request
# says): in slurm_extra they would contradict it. As the stock plugin's validation.py forbids them.
MANAGED_SBATCH_OPTIONS = (  # (long option, its short form, the resource that sets it)
    ("job-name", "J", None), ("output", "o", None), ("error", "e", None), ("chdir", "D", None),
    ("workdir", None, None), ("parsable", None, None), ("account", "A", "slurm_account"),
    ("partition", "p", "slurm_partition"), ("mem", None, "mem_mb"), ("mem-per-cpu", None, "mem_mb_per_cpu"),
    ("ntasks", "n", "tasks"), ("cpus-per-task", "c", "threads"), ("time", "t", "runtime"), ("nodes", "N", "nodes"),
    ("clusters", "M", "clusters"), ("gpus", "G", "gpu"), ("constraint", "C", "constraint"), ("qos", "q", "qos"),
    ("gres", None, "gres"),
)


@dataclass(frozen=True)
class BatchResources:
    """The part of a request that the resources decide beyond mdflow's own names."""

    queue: str | None = None
    account: str | None = None
    cluster: str | None = None
    mem_mb: int | None = None
    mem_mb_per_cpu: int | None = None   # Slurm only: --mem-per-cpu instead of --mem
    directives: tuple = ()              # scheduler options (Slurm: --constraint=…, --qos=…, slurm_extra's)


def unknown_names(resources: dict, scheduler: str | None) -> list[tuple[str, str]]:
    """(name, why) for each resource the batch request cannot use on this scheduler, sorted."""
    ignored = []
    for name in sorted(resources):
        if name in SNAKEMAKE_NAMES or name in MDFLOW_NAMES or name == "mem_mb_per_cpu":
            continue
        if name in SLURM_ONLY_NAMES:
            if scheduler != "slurm":
                ignored.append((name, f"is the stock Slurm plugin's; this site's scheduler is {scheduler}"))
            continue
        ignored.append((name, "is no resource mdflow's executor knows (Snakemake's, mdflow's or the stock Slurm "
                              "plugin's); it only counts for Snakemake's --resources limits"))
    return ignored


def batch_resources(resources: dict, scheduler: str | None, cpus: int, job: str) -> BatchResources:
    """Queue, account, cluster, memory and extra scheduler options from `resources` (a job's, with
    mdflow's names, Snakemake's and the stock Slurm plugin's); MdflowError (one line) for a value it
    cannot use."""
    slurm = scheduler == "slurm"
    queue = resources.get("queue") or resources.get("partition") or (slurm and resources.get("slurm_partition")) or None
    per_cpu = _megabytes(resources, "mem_mb_per_cpu", job)
    mem = _megabytes(resources, "mem_mb", job)
    if per_cpu and not slurm:
        mem, per_cpu = per_cpu * cpus, None
    elif per_cpu:
        mem = None  # as the stock plugin: --mem-per-cpu wins over --mem
    if not slurm:
        return BatchResources(queue=queue, mem_mb=mem)
    directives = [f"--{option}={resources[name]}" for name, option in
                  (("constraint", "constraint"), ("qos", "qos"), ("gres", "gres")) if resources.get(name) is not None]
    directives += slurm_extra_options(resources.get("slurm_extra"), job)
    cluster = next((resources[name] for name in CLUSTER_NAMES if resources.get(name)), None)
    return BatchResources(queue=queue, account=resources.get("slurm_account") or None,
                          cluster=str(cluster) if cluster else None, mem_mb=mem, mem_mb_per_cpu=per_cpu,
                          directives=tuple(directives))


def slurm_extra_options(text, job: str) -> list[str]:
    """`slurm_extra` ("--mail-type=END --licenses foo") as one #SBATCH line per option; refused
    (MdflowError) where it sets what mdflow sets itself, or cannot be split as a shell would."""
    if not text:
        return []
    try:
        words = shlex.split(str(text))
    except ValueError as error:
        raise MdflowError(f"job {job}: resource slurm_extra={text!r} cannot be split into options ({error})") from None
    options = []
    for word in words:
        if word.startswith("-") or not options:
            options.append(word)
        else:
            options[-1] += " " + shlex.quote(word)
    for option in options:
        for long, short, resource in MANAGED_SBATCH_OPTIONS:
            if re.match(f"--{long}(?![\\w-])" + (f"|-{short}" if short else ""), option):
                instead = f"; use resource {resource} instead" if resource else ""
                raise MdflowError(f"job {job}: resource slurm_extra={text!r} sets --{long}, which mdflow sets itself"
                                  f"{instead}")
    return options


def _megabytes(resources: dict, name: str, job: str) -> int | None:
    value = resources.get(name)
    if value in (None, "", 0) or type(value).__name__ == "TBDString":  # a dry-run's "<TBD>": not known yet
        return None
    try:
        megabytes = int(value)
    except (TypeError, ValueError):
        megabytes = -1
    if megabytes <= 0:
        raise MdflowError(f"job {job}: resource {name}={value!r} is not a positive whole number of megabytes")
    return megabytes
