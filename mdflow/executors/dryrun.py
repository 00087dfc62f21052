"""`--dry-run` that shows the submissions (Snakemake's dry-run never calls an executor, #312).

Snakemake's dry-run executor prints each job; for a batch profile mdflow adds, under each job, the
site, queue, walltime and resources it would be submitted with, and with `--scripts DIR` writes
the batch script it would get into DIR. A job that fits no queue is reported here, before anything
is submitted.
"""

from pathlib import Path

from snakemake.executors import dryrun
from snakemake.logging import logger

from mdflow.errors import MdflowError
from mdflow.executors import adapters
from mdflow.executors import plugin
from mdflow.executors.batch import Executor, job_rule, job_wildcards
from mdflow.executors.render import build_request, render_script

_installed = {}


def install(site: dict, scripts_dir: str | None, project: Path) -> list:
    """Hook Snakemake's dry-run job printer; returns the list that collects problems found."""
    adapter = adapters.get(site["scheduler"])
    problems = []
    if scripts_dir:
        Path(scripts_dir).mkdir(parents=True, exist_ok=True)
    original = _installed.setdefault("printjob", dryrun.Executor.printjob)

    def printjob(self, job):
        original(self, job)
        jobs = list(job.jobs) if job.is_group() else [job]
        for member in jobs:
            try:
                request = build_request(site, job_rule(member), job_wildcards(member), dict(member.resources.items()),
                                        member.threads, 1, site.get("logdir", "logs/batch"), str(project))
            except MdflowError as error:
                problems.append(str(error))
                logger.info(f"    submission: IMPOSSIBLE: {error}")
                continue
            if is_local_rule(member):
                logger.info(f"    submission: none (local rule, runs on this host)")
                continue
            logger.info(
                f"    submission: site {site['name']} ({adapter.NAME}), queue {request.queue or 'default'}, "
                f"walltime {request.walltime_min} min, nodes {request.nodes}, cpus {request.cpus_per_task}, "
                f"mem {request.mem_mb or '-'} MB, job name {request.name}"
            )
            if scripts_dir:
                path = Path(scripts_dir) / f"{request.name}.sh"
                path.write_text(render_script(adapter, request, site, remote_command(self, member),
                                              site.get("profile_dir") and Path(site["profile_dir"])))
                logger.info(f"    batch script: {path}")

    dryrun.Executor.printjob = printjob
    return problems


def is_local_rule(job) -> bool:
    """Snakemake's job.is_local is True for everything in a dry-run (it runs no executor)."""
    return job.rule.norun or job.rule.name in getattr(job.rule.workflow, "_localrules", set())


class _CommandOnly(Executor):
    """mdflow's executor reduced to building the inner command line: no status thread, no ledger."""

    def __init__(self, workflow, logger):  # noqa: super().__init__ would start the status thread
        self.workflow, self.dag, self.logger = workflow, workflow.dag, logger
        self.executor_settings = workflow.executor_settings
        self.snakefile = workflow.main_snakefile
        self._tmpdir = ".snakemake/tmp.dry-run"

    @property
    def common_settings(self):
        return plugin.common_settings

    @property
    def cores(self):
        return "all"


def remote_command(dryrun_executor, job) -> str:
    """The inner Snakemake call the real executor would put in this job's script (only the
    --wait-for-files temp directory differs from run to run)."""
    return _CommandOnly(dryrun_executor.workflow, dryrun_executor.logger).format_job_exec(job)
