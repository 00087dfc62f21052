"""`--dry-run` that shows the submissions (Snakemake's dry-run never calls an executor, #312).

Snakemake's dry-run "runs" the DAG in rounds of jobs that are ready together. mdflow hooks that:
under each job it prints the site, queue, walltime and resources it would be submitted with (or
that it goes into an ensemble); after each round it prints the ensembles the round's short jobs
would be packed into (assuming an empty queue: up to max_queued of them). With `--scripts DIR`
every batch script is written into DIR. A job that fits no queue is reported here, before
anything is submitted.
"""

from pathlib import Path

from snakemake.executors import dryrun
from snakemake.logging import logger

from mdflow.errors import MdflowError
from mdflow.executors import adapters, ensembles, plugin
from mdflow.executors.batch import Executor, job_rule, job_wildcards
from mdflow.executors.render import build_request, choose_queue, queue_limits, render_script

_original = {}


class _CommandOnly(Executor):
    """mdflow's executor reduced to building command lines and scripts: no status thread, no ledger."""

    def __init__(self, workflow, logger_, site, project):  # noqa: super().__init__ would start the status thread
        self.workflow, self.dag, self.logger = workflow, workflow.dag, logger_
        self.executor_settings = workflow.executor_settings
        self.snakefile = workflow.main_snakefile
        self._tmpdir = ".snakemake/tmp.dry-run"
        self.site, self.adapter, self.project = site, adapters.get(site["scheduler"]), project
        self.policy = ensembles.policy_from_site(site)
        self.log_dir = self.batch_log_dir()
        self.ensemble_count = 0

    @property
    def common_settings(self):
        return plugin.common_settings

    @property
    def cores(self):
        return "all"


def is_local_rule(job) -> bool:
    """Snakemake's job.is_local is True for everything in a dry-run (it runs no executor)."""
    return job.rule.norun or job.rule.name in getattr(job.rule.workflow, "_localrules", set())


def install(site: dict, scripts_dir: str | None, project: Path) -> list:
    """Hook Snakemake's dry-run executor; returns the list that collects problems found."""
    problems = []
    if scripts_dir:
        Path(scripts_dir).mkdir(parents=True, exist_ok=True)
    original_printjob = _original.setdefault("printjob", dryrun.Executor.printjob)
    original_run_jobs = _original.setdefault("run_jobs", dryrun.Executor.run_jobs)
    shared = {}

    def planner(executor) -> _CommandOnly:
        if "planner" not in shared:
            shared["planner"] = _CommandOnly(executor.workflow, executor.logger, site, project)
        return shared["planner"]

    def request_or_problem(job, log_dir):
        try:
            return build_request(site, job_rule(job), job_wildcards(job), dict(job.resources.items()),
                                 job.threads, 1, log_dir, str(project))
        except MdflowError as error:
            problems.append(str(error))
            logger.info(f"    submission: IMPOSSIBLE: {error}")
            return None

    def printjob(self, job):
        original_printjob(self, job)
        if is_local_rule(job):
            logger.info("    submission: none (local rule, runs on this host)")
            return
        request = request_or_problem(job, planner(self).log_dir)
        if request is None:
            return
        if ensembles.is_short(planner(self).policy, job_rule(job), request.walltime_min, request.cpus_per_task,
                              request.gpus):
            logger.info("    submission: short job, packed into an ensemble (see the plan after this round)")
            return
        logger.info(
            f"    submission: site {site['name']} ({planner(self).adapter.NAME}), queue {request.queue or 'default'}, "
            f"walltime {request.walltime_min} min, nodes {request.nodes}, cpus {request.cpus_per_task}, "
            f"mem {request.mem_mb or '-'} MB, job name {request.name}"
        )
        if scripts_dir:
            path = Path(scripts_dir) / f"{request.name}.sh"
            plan = planner(self)
            path.write_text(render_script(plan.adapter, request, site, plan.single_exec(job, request), plan.template_dir()))
            logger.info(f"    batch script: {path}")

    def run_jobs(self, jobs):
        original_run_jobs(self, jobs)
        plan = planner(self)
        if plan.policy is None:
            return
        members = []
        for job in jobs:
            if is_local_rule(job):
                continue
            request = request_or_problem(job, plan.log_dir)
            if request and ensembles.is_short(plan.policy, job_rule(job), request.walltime_min, request.cpus_per_task,
                                              request.gpus):
                members.append(ensembles.Member(job, job_rule(job), request.cpus_per_task, request.walltime_min,
                                                request.gpus))
        if members:
            print_ensembles(plan, members)

    def print_ensembles(plan: _CommandOnly, members: list):
        try:
            queue = choose_queue(site, plan.policy.max_walltime_min, plan.policy.nodes, None, "ensemble")
        except MdflowError as error:
            problems.append(f"ensemble policy: {error}")
            return
        limits = queue_limits(site).get(queue, {})
        slots = limits.get("max_queued") or site.get("max_queued") or len(members)
        planned = ensembles.plan(members, slots, plan.policy, limits.get("max_walltime_min"))
        waiting = len(members) - sum(len(e.members) for e in planned)
        logger.info(f"Ensemble plan for {len(members)} short job(s) ready together: {len(planned)} ensemble(s)"
                    + (f"; {waiting} wait for free queue slots" if waiting else ""))
        for ensemble in planned:
            try:
                shape = plan.ensemble_shape(ensemble)
            except MdflowError as error:
                problems.append(f"ensemble policy: {error}")
                continue
            request = plan.ensemble_request(ensemble, shape)
            jobs = [m.key for m in ensemble.members]
            logger.info(f"    {request.name}: {len(jobs)} members, {request.nodes} node(s), "
                        f"{request.tasks * request.cpus_per_task} cores, "
                        f"{request.gpus} GPU(s), walltime {request.walltime_min} min (honest), queue "
                        f"{shape[0] or 'default'} ({shape[2]}): "
                        + ", ".join(f"{job_rule(j)}[{','.join(map(str, job_wildcards(j).values()))}]" for j in jobs))
            if scripts_dir:
                path = Path(scripts_dir) / f"{request.name}.sh"
                path.write_text(render_script(plan.adapter, request, site, "", plan.template_dir(),
                                              launches=plan.ensemble_launches(ensemble, request)))
                logger.info(f"    batch script: {path}")

    dryrun.Executor.printjob = printjob
    dryrun.Executor.run_jobs = run_jobs
    return problems
