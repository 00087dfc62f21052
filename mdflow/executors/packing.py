"""Turning planned ensembles (executors/ensembles.py) into batch jobs: the request (queue, nodes,
cores, GPUs) and the launch lines of their members. Pure string building; the inner Snakemake
command line comes from the executor (`exec_for`), which builds it through Snakemake's own API.
"""

import math
import os

from mdflow.executors import ensembles
from mdflow.executors.adapter import JobRequest, SchedulerAdapter
from mdflow.executors.render import choose_ensemble_queue


class Packer:
    def __init__(self, site: dict, policy, adapter: SchedulerAdapter, log_dir: str, project):
        self.site, self.policy, self.adapter, self.log_dir, self.project = site, policy, adapter, log_dir, project
        self.launcher = adapter.launcher(site)
        self.count = 0

    def shape(self, ensemble: ensembles.Ensemble) -> tuple:
        """(queue, nodes, why): as many nodes as the members need at once (never more than the
        policy's), in the queue that charges the fewest node-hours for them. MdflowError if none fits."""
        needed = ensembles.nodes_needed(ensemble, self.policy)
        return choose_ensemble_queue(self.site, ensemble.walltime_min, needed)

    def request(self, ensemble: ensembles.Ensemble, shape: tuple, rule: str) -> JobRequest:
        """The batch job of `ensemble` (its first member of rule `rule`), named uniquely in this process."""
        queue, nodes, _ = shape
        self.count += 1
        name = f"ensemble.{os.getpid()}.{self.count}.{rule}.{len(ensemble.members)}"
        gpus_per_node = int(self.site.get("gpus_per_node") or 0)
        gpus = min(math.ceil(ensemble.slots / self.policy.members_per_gpu), nodes * gpus_per_node) if ensemble.slots else 0
        tasks, cpus = nodes, ensemble.cores if nodes == 1 else self.policy.cores_per_node
        if ensemble.slots:  # one task per GPU slot, each with its share of the cores (srun --exact steps fit)
            tasks, cpus = ensemble.slots, self.policy.slot_cores
        return JobRequest(
            name=name, queue=queue, walltime_min=ensemble.walltime_min, nodes=nodes, tasks=tasks,
            cpus_per_task=cpus, gpus=gpus,
            account=self.site.get("account"), log_path=f"{self.log_dir}/{name}.log", workdir=str(self.project),
            extra=tuple(self.site.get("directives") or ()), select_extra=self.site.get("select_extra", ""),
            cluster=self.site.get("cluster"), whole_nodes=bool(self.site.get("whole_nodes")),
        )

    def single(self, command: str, request: JobRequest) -> str:
        """One job's command line; where batch scripts run on a service node (Cray ALPS: aprun),
        started on the compute node through the launcher."""
        if self.launcher.service_node:
            return self.launcher.task(0, request.cpus_per_task, command)
        return command

    def launches(self, ensemble: ensembles.Ensemble, request: JobRequest, exec_for) -> list:
        """One inner Snakemake per node running that node's members concurrently; with several nodes
        each is started by the launcher. A GPU ensemble has one inner Snakemake per GPU slot instead:
        its own device and cores, its members one after another. `exec_for(jobs, cores, gpus=None)`
        builds the inner command line."""
        jobs = [m.key for m in ensemble.members]
        if ensemble.slots:
            return self.gpu_launches(ensemble, jobs, request, exec_for)
        nodes = request.nodes
        per_node = [jobs[i::nodes] for i in range(nodes)]
        cores = request.cpus_per_task
        commands = [exec_for(members, cores) for members in per_node if members]
        if nodes == 1 and not self.launcher.service_node:
            return commands
        return [self.launcher.task(index, cores, command) for index, command in enumerate(commands)]

    def gpu_launches(self, ensemble: ensembles.Ensemble, jobs: list, request: JobRequest, exec_for) -> list:
        placement = ensembles.gpu_slots(self.policy, request.nodes, reverse=self.site.get("gpu_order") == "reverse")
        placement = placement[:ensemble.slots]
        launches = []
        for index, (node, device, first, last) in enumerate(placement):
            members = jobs[index::len(placement)]
            if members:
                command = exec_for(members, self.policy.slot_cores, gpus=1)
                launches.append(self.launcher.gpu_task(node, device, first, last, self.policy.members_per_gpu, command))
        return launches
