"""`--dry-run` that shows the submissions (Snakemake's dry-run never calls an executor, #312).

Snakemake's dry-run "runs" the DAG in rounds of jobs that are ready together. mdflow hooks that:
under each job it prints the site, queue, walltime and resources it would be submitted with (or
that it goes into an ensemble); after each round it prints the ensembles the round's short jobs
would be packed into (assuming an empty queue: up to max_queued of them). With `--scripts DIR`
every batch script is written into DIR. A job that fits no queue is reported here, before
anything is submitted. Jobs are listed one by one only when asked (`--list-jobs`, `--system`);
otherwise each is counted in a summary (mdflow/dryrun_summary.py) printed at the end, and
ensembles of the same shape share one line of a round's plan.
"""

from pathlib import Path

from snakemake.executors import dryrun
from snakemake.logging import logger

from mdflow.dryrun_summary import Summary, ensemble_shape_lines, shows
from mdflow.errors import MdflowError
from mdflow.executors import adapters, ensembles, plugin
from mdflow.executors.batch import Executor, job_rule, job_system, job_wildcards, request_of, warn_unknown_resources
from mdflow.executors.submission import scheduler_queue_limits
from mdflow.executors.packing import Packer
from mdflow.executors.sitelink import batch_log_dir, sheet_sites, sites_of
from mdflow.executors.render import choose_queue, queue_limits, render_script

_original = {}


class _CommandOnly(Executor):
    """mdflow's executor reduced to building command lines and scripts: no status thread, no ledger."""

    def __init__(self, workflow, logger_, site, project):  # noqa: super().__init__ would start the status thread
        self.workflow, self.dag, self.logger = workflow, workflow.dag, logger_
        self.executor_settings = workflow.executor_settings
        self.snakefile = workflow.main_snakefile
        self._tmpdir = ".snakemake/tmp.dry-run"
        self.site, self.adapter, self.project = site, adapters.get(site["scheduler"]), project
        self.name, self.remote, self.workdir = site["name"], None, str(project)
        self.policy = ensembles.policy_from_site(site)
        self.log_dir = batch_log_dir(site, self.campaign_config())
        self.packer = Packer(site, self.policy, self.adapter, self.log_dir, project)
        # a dry-run on the cluster refuses what the scheduler would leave pending; elsewhere (and for
        # a remote site, which a dry-run does not contact): {}
        self.scheduler_limits = {} if site.get("host") else scheduler_queue_limits(self.adapter, site)

    def link_of(self, job):
        return self  # one site: its own link

    @property
    def common_settings(self):
        return plugin.common_settings

    @property
    def cores(self):
        return "all"


def is_local_rule(job) -> bool:
    """Snakemake's job.is_local is True for everything in a dry-run (it runs no executor). A group
    job runs on this host only if one of its members must (as GroupJob.is_local says in a real run)."""
    if job.is_group():
        return any(is_local_rule(member) for member in job.jobs)
    return job.rule.norun or job.rule.name in getattr(job.rule.workflow, "_localrules", set())


def install(site: dict, scripts_dir: str | None, project: Path, summary: Summary | None = None,
            list_all: bool = True, systems: frozenset | None = None) -> list:
    """Hook Snakemake's dry-run executor; returns the list that collects problems found. Jobs are
    listed in full (Snakemake's block plus the submission) when `list_all`, or when their system is
    in `systems`; every job is counted in `summary`. A site whose scheduler is `local` submits
    nothing: its jobs run on this host."""
    problems = []
    summary = summary if summary is not None else Summary()
    batch = site.get("scheduler", "local") != "local"
    if scripts_dir:
        Path(scripts_dir).mkdir(parents=True, exist_ok=True)
    original_printjob = _original.setdefault("printjob", dryrun.Executor.printjob)
    original_run_jobs = _original.setdefault("run_jobs", dryrun.Executor.run_jobs)
    shared, requests, warned = {}, {}, set()

    members = {one["name"]: one for one in sites_of(site)} if batch else {}

    def planner(executor, job) -> _CommandOnly:
        """The planner of the site `job` goes to (a multi-site profile: by the sheet's `site` column)."""
        if "assignment" not in shared:
            config = executor.workflow.config if "systems" in (executor.workflow.config or {}) else None
            shared["assignment"] = sheet_sites(config, project) if len(members) > 1 else {}
        one = members.get(shared["assignment"].get(job_system(job)), next(iter(members.values())))
        if one["name"] not in shared:
            shared[one["name"]] = _CommandOnly(executor.workflow, executor.logger, one, project)
        return shared[one["name"]]

    def request_or_problem(job, plan, listed):
        if job in requests:
            return requests.pop(job)
        warn_unknown_resources(job, plan.adapter.NAME, warned, logger.warning)
        try:
            return request_of(job, plan.site, 1, plan.log_dir, str(project), plan.scheduler_limits, plan.adapter.NAME)
        except MdflowError as error:
            problems.append(str(error))
            if listed:
                logger.info(f"    submission: IMPOSSIBLE: {error}")
            return None

    def destination(self, job, listed) -> str:
        """Where `job` would run, in a few words for the summary (and logged in full when listed)."""
        if not batch:
            return "this host"
        if is_local_rule(job):
            if listed:
                logger.info("    submission: none (local rule, runs on this host)")
            return "this host (local rule)"
        plan = planner(self, job)
        request = request_or_problem(job, plan, listed)
        if request is None:
            return "IMPOSSIBLE (see the error at the end)"
        if not job.is_group() and ensembles.is_short(plan.policy, job_rule(job), request.walltime_min,
                                                     request.cpus_per_task, request.gpus):
            requests[job] = request  # run_jobs packs it after this round
            if listed:
                logger.info("    submission: short job, packed into an ensemble (see the plan after this round)")
            return "short jobs, packed into ensembles (plan per round above)"
        where = (f"site {plan.site['name']} ({plan.adapter.NAME}), queue {request.queue or 'default'}, "
                 f"walltime {request.walltime_min} min, nodes {request.nodes}, cpus {request.cpus_per_task}, "
                 f"mem {request.mem_mb or '-'} MB")
        if listed:
            logger.info(f"    submission: {where}, job name {request.name}")
        if scripts_dir:
            path = Path(scripts_dir) / f"{request.name}.sh"
            path.write_text(render_script(plan.adapter, request, plan.site, plan.single_exec(job, request), plan.template_dir()))
            if listed:
                logger.info(f"    batch script: {path}")
        return f"one batch job each: {where}"

    def printjob(self, job):
        listed = shows(list_all, systems, job_wildcards(job))
        if listed:
            original_printjob(self, job)
        summary.add(job_rule(job), list(job.dag.reason(job).get_names()), destination(self, job, listed))

    def run_jobs(self, jobs):
        original_run_jobs(self, jobs)
        if not batch:
            return
        by_site = {}
        for job in jobs:
            if is_local_rule(job):
                continue
            plan = planner(self, job)
            if plan.policy is None:
                continue
            request = request_or_problem(job, plan, False)
            if request and not job.is_group() and ensembles.is_short(
                    plan.policy, job_rule(job), request.walltime_min, request.cpus_per_task, request.gpus):
                by_site.setdefault(plan.name, (plan, []))[1].append(
                    ensembles.Member(job, job_rule(job), request.cpus_per_task, request.walltime_min, request.gpus))
        requests.clear()
        for plan, members_here in by_site.values():
            print_ensembles(plan, members_here)

    def print_ensembles(plan: _CommandOnly, members: list):
        try:
            queue = choose_queue(plan.site, plan.policy.max_walltime_min, plan.policy.nodes, None, "ensemble")
        except MdflowError as error:
            problems.append(f"ensemble policy: {error}")
            return
        limits = queue_limits(plan.site).get(queue, {})
        slots = limits.get("max_queued") or plan.site.get("max_queued") or len(members)
        planned = ensembles.plan(members, slots, plan.policy, limits.get("max_walltime_min"))
        waiting = len(members) - sum(len(e.members) for e in planned)
        summary.add_round(len(members), len(planned))
        logger.info(f"Ensemble plan for {len(members)} short job(s) ready together: {len(planned)} ensemble(s)"
                    + (f"; {waiting} wait for free queue slots" if waiting else ""))
        shapes = []
        for ensemble in planned:
            try:
                shape = plan.ensemble_shape(ensemble)
            except MdflowError as error:
                problems.append(f"ensemble policy: {error}")
                continue
            request = plan.ensemble_request(ensemble, shape)
            jobs = [m.key for m in ensemble.members]
            described = (f"{len(jobs)} members, {request.nodes} node(s), {request.tasks * request.cpus_per_task} cores, "
                         f"{request.gpus} GPU(s), walltime {request.walltime_min} min (honest), queue "
                         f"{shape[0] or 'default'} ({shape[2]})")
            if any(shows(list_all, systems, job_wildcards(j)) for j in jobs):
                logger.info(f"    {request.name}: {described}: "
                            + ", ".join(f"{job_rule(j)}[{','.join(map(str, job_wildcards(j).values()))}]" for j in jobs))
            else:
                shapes.append(f"{job_rule(jobs[0])} ensemble: {described}")
            if scripts_dir:
                path = Path(scripts_dir) / f"{request.name}.sh"
                path.write_text(render_script(plan.adapter, request, plan.site, "", plan.template_dir(),
                                              launches=plan.ensemble_launches(ensemble, request)))
                if any(shows(list_all, systems, job_wildcards(j)) for j in jobs):
                    logger.info(f"    batch script: {path}")
        for line in ensemble_shape_lines(shapes):
            logger.info(line)

    dryrun.Executor.printjob = printjob
    dryrun.Executor.run_jobs = run_jobs
    return problems
