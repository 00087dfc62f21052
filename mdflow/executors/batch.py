"""mdflow's Snakemake executor for batch schedulers (Slurm, PBS Pro, Cobalt, …): the Snakemake glue.

One executor, one adapter per scheduler (executors/adapter.py: the contract). This module only
talks to Snakemake — takes jobs, reports submissions, successes and failures — and delegates:

- executors/submission.py  submitting one script, retries, finding a lost submission, counting the
                           user's jobs (throttling under max_queued: SlotCounter)
- executors/polling.py     ONE status query per poll cycle for all of this run's batch jobs, and the
                           decisions on its answers (a failed or garbled query never fails a job)
- executors/reattach.py    the ledger: settle what a killed controller left, re-attach, orphans
- executors/ensembles.py + packing.py  packing short jobs into ensembles and their launch lines
- executors/launchers.py   srun / mpiexec / aprun / ibrun
- executors/commands.py    running the scheduler's commands

Sites: one executors/sitelink.py SiteLink per site of the profile (a multi-site profile lists
several; a system goes to the site its sheet row names, else to the first); each has its own
commands (here or over SSH), ledger part, queries, throttling and back-off. A remote site's jobs
get their inputs staged before submission and their outputs fetched before they are reported.

Locks: jobs Snakemake hands over go to an inbox under a short lock (`inbox_lock`); `flush()`
submits under `submit_lock`, which run_job never takes, so a submission that waits to retry never
blocks Snakemake handing over more jobs. Ctrl-C/SIGTERM sets `stop` (a pending retry wait ends at
once, nothing more is submitted), waits for the one command under way, and cancels this run's
batch jobs in chunks.
"""

import threading
import time
from pathlib import Path
from typing import Generator, List

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.jobs import JobExecutorInterface
from snakemake_interface_executor_plugins.utils import encode_target_jobs_cli_args, format_cli_arg, join_cli_args

from mdflow.errors import MdflowError
from mdflow.interrupt import signals_deferred
from mdflow.executors import ensembles, outcome, polling
from mdflow.executors.adapter import (
    FAILED, SUCCESS, JobRequest, JobStatus, LimitReached, SubmitRefused, parse_walltime,
)
from mdflow.executors.commands import run_command  # noqa: F401 (tests and tools import it from here)
from mdflow.executors.sitelink import SiteLink, definition_files, sheet_sites, sites_of
from mdflow.executors.launchers import SERVICE_NODE_LAUNCHERS, gpu_launch, launched  # noqa: F401 (same)
from mdflow.executors.reattach import outputs_written_by
from mdflow.executors.resource_names import unknown_names
from mdflow.executors.render import (
    build_request, choose_queue, fit_scheduler_limits, layered_runtime, queue_limits, render_script,
)
from mdflow.executors.site import current_site
from mdflow.executors.submission import Cancelled, SlotCounter
from mdflow.layout import campaign_directories
from mdflow.ledger import Ledger
from mdflow.paths import SNAKEFILE
from mdflow.project_files import JOB_SCRIPTS_DIR

CANCEL_CHUNK = 50
LIMIT_BACKOFF_MAX_S = 300


class JobsFailed(Exception):
    """The scheduler refused a submission for good; its jobs were already reported failed."""


def job_wildcards(job) -> dict:
    """A job's wildcards; none for a group job (its members have theirs; its key covers their outputs)."""
    if job.is_group():
        return {}
    return dict(job.wildcards.items()) if hasattr(job.wildcards, "items") else {}


def job_rule(job) -> str:
    """The rule's name; a group job's Snakemake name (`<groupid>_<rule>_<rule>…`)."""
    return job.name if job.is_group() else job.rule.name


def job_outputs(job) -> list:
    """A job's outputs; a group job's: all its members', sorted (GroupJob.output leaves out those
    that other members consume)."""
    if job.is_group():
        return sorted(str(f) for member in job.jobs for f in member.output)
    return [str(f) for f in job.output]


def group_levels(job, runtime_of) -> list:
    """The runtimes (minutes, `runtime_of(member)`) of a group job's members by topological level."""
    return [[runtime_of(member) for member in level] for level in job.toposorted]


def job_resources(job, default_walltime) -> dict:
    """The resources a job's batch job asks for. A group job (Snakemake's GroupJob, run as ONE batch
    job by the inner Snakemake) asks for the group's resources (Snakemake's layered GroupResources:
    widths summed within a layer, the widest layer wins) with walltime the layered runtime
    (render.layered_runtime: per topological level the longest member, levels one after another)."""
    resources = dict(job.resources.items())
    if job.is_group():
        def runtime_of(member):
            runtime = member.resources.get("runtime") or default_walltime
            try:
                return parse_walltime(runtime)
            except ValueError:
                raise MdflowError(f"job {member.rule.name} of group {job.groupid}: resource runtime={runtime!r} is "
                                  f"not a positive number of minutes or HH:MM:SS") from None
        resources["runtime"] = layered_runtime(group_levels(job, runtime_of))
    return resources


def job_inputs(job) -> list:
    """The files a job (or group job: those no member writes) reads, which a remote site must have."""
    if job.is_group():
        written = {str(f) for member in job.jobs for f in member.output}
        return sorted({str(f) for member in job.jobs for f in member.input} - written)
    return [str(f) for f in job.input]


def job_logs(job) -> list:
    """The log files a job (or each member of a group job) writes."""
    members = job.jobs if job.is_group() else [job]
    return sorted({str(f) for member in members for f in member.log})


def job_system(job) -> str | None:
    """The `system` wildcard of a job, or of a group job's first member."""
    members = sorted(job.jobs, key=lambda j: str(j)) if job.is_group() else [job]
    return next((job_wildcards(m).get("system") for m in members if job_wildcards(m).get("system")), None)


def request_of(job, site: dict, attempt: int, log_dir: str, project: str, scheduler_limits: dict,
               scheduler: str) -> JobRequest:
    """The JobRequest of a job (or group job); MdflowError, one line, for a job that fits no queue
    (the profile's limits, or those the scheduler reports: render.fit_scheduler_limits)."""
    resources = job_resources(job, site.get("default_walltime", 60))
    request = build_request(site, job_rule(job), job_wildcards(job), resources, job.threads, attempt, log_dir,
                            project, job_outputs(job), job.is_group())
    own_runtime = any(m.resources.get("runtime") for m in job.jobs) if job.is_group() else job.resources.get("runtime")
    return fit_scheduler_limits(request, job_rule(job), site, scheduler_limits, scheduler,
                                default_walltime=not own_runtime)


def warn_unknown_resources(job, scheduler: str, warned: set, warn) -> None:
    """`warn` (one line) each resource name of `job` that its batch request cannot use, once per
    name (`warned` holds those already named): resource_names.unknown_names says which and why."""
    for name, why in unknown_names(dict(job.resources.items()), scheduler):
        if name not in warned:
            warned.add(name)
            warn(f"resource {name} (rule {job_rule(job)}) {why}: not part of the batch request")


class EnsembleTargets:
    """Several jobs run by one inner Snakemake (an ensemble's node or GPU slot): what
    `Executor.get_job_args` needs to build their command line through format_job_exec."""

    def __init__(self, jobs: list, cores: int, gpus: int | None = None):
        self.jobs, self.cores, self.gpus = jobs, cores, gpus


class Executor(RemoteExecutor):
    def __post_init__(self):
        try:
            site = current_site(getattr(self.workflow.executor_settings, "profile", None))
        except MdflowError as error:  # under plain `snakemake --executor mdflow`: Snakemake's one-paragraph error
            raise WorkflowError(str(error)) from None
        self.warned_resources = set()  # resource names already named as not part of any batch request
        self.project = Path.cwd()
        self.stop = threading.Event()  # set by cancel_jobs: nothing more is submitted
        self.inbox = []              # (job, when) handed over by Snakemake, not yet seen by flush
        self.inbox_lock = threading.Lock()
        self.pending = []            # jobs waiting to be submitted (flush's, under submit_lock)
        self.pending_since = {}      # job -> when it was handed over
        self.submit_lock = threading.RLock()
        self.script_dir = self.project / JOB_SCRIPTS_DIR
        self.script_dir.mkdir(parents=True, exist_ok=True)
        self.run_ids = set()  # batch jobs this run submitted or adopted
        # The ones among them not yet ended. Snakemake's active_jobs is empty while a status check
        # runs (it takes the list out and puts the running ones back), so a Ctrl-C then would cancel
        # nothing: cancellation uses this set as well.
        self.unfinished = set()
        self.links = self.connect(site)
        self.primary = next(iter(self.links.values()))
        self.site, self.adapter, self.policy = self.primary.site, self.primary.adapter, self.primary.policy
        self.assignment = self.site_assignment()
        for link in self.links.values():
            link.book.reconcile()

    def connect(self, site: dict) -> dict:
        """{site name: SiteLink} for every site of the profile; remote ones are checked and get the
        campaign's definition files now (one line, exit, when one cannot be used)."""
        sites = sites_of(site)
        config = self.campaign_config()
        remote = any(s.get("host") for s in sites)
        # the campaign's files, and a workflow of the user's own (mdflow's is installed on the site)
        sources = [*self.workflow.configfiles, str(self.workflow.main_snakefile)]
        for configfile in self.workflow.configfiles if remote else []:
            if not Path(configfile).resolve().is_relative_to(self.project.resolve()):
                raise WorkflowError(f"--configfile {configfile} lies outside the project {self.project}; a remote site "
                                    f"gets only the project's files: move it into the project")
        definition = definition_files(config, sources, self.project) if remote else []
        directories = [JOB_SCRIPTS_DIR, Path(self.tmpdir).relative_to(self.project).as_posix()] if remote else []
        ledger = Ledger.of_project(self.project)
        links = {}
        try:
            for one in sites:
                link = SiteLink(one, self.project, ledger, self.logger, self.stop, config, definition, directories)
                (self.project / link.log_dir).mkdir(parents=True, exist_ok=True)
                links[link.name] = link
        except MdflowError as error:
            raise WorkflowError(str(error)) from None
        return links

    def site_assignment(self) -> dict:
        """{system: site name} of a multi-site run (the sheet's `site` column); others go to the first site."""
        if len(self.links) == 1:
            return {}
        assignment = sheet_sites(self.campaign_config(), self.project)
        unknown = sorted({s for s in assignment.values() if s not in self.links})
        if unknown:
            raise WorkflowError(f"systems sheet, column site: {', '.join(unknown)} is not a site of this profile "
                                f"(its sites: {', '.join(self.links)})")
        return assignment

    def where(self, link: SiteLink) -> str:
        """' on SITE' in messages about a job, where a run has several sites or a remote one."""
        return f" on {link.name}" if len(self.links) > 1 or link.remote else ""

    def link_of(self, job) -> SiteLink:
        """The site a job goes to."""
        if len(self.links) == 1:
            return self.primary
        return self.links.get(self.assignment.get(job_system(job)), self.primary)

    @property
    def cancelling(self) -> bool:
        """After Ctrl-C nothing more is submitted, and a query under way judges no job."""
        return self.stop.is_set()

    @property
    def ledger(self) -> Ledger:
        return self.primary.book.ledger

    @property
    def book(self):
        return self.primary.book

    def report_orphans(self):
        """At the end of a run: batch jobs an earlier controller submitted that this run neither
        re-attached nor needed, and that still wait or run. They may be wanted by a later run (this
        one may have had other targets), so mdflow names them and the command to cancel them."""
        for link in self.links.values():
            orphans = link.book.orphans(self.run_ids, self.campaign_directories(), self.project)
            if not orphans:
                continue
            ids = sorted({e.external_id for e in orphans})
            where = self.where(link)
            self.logger.warning(
                f"{len(orphans)} batch job(s) left by an earlier mdflow run still queue or run, but this run did not "
                f"need them: {', '.join(f'{e.name} ({link.adapter.NAME} job {e.external_id}{where})' for e in orphans)}. "
                f"They keep using the allocation; if no later run needs them: "
                f"{'; '.join(' '.join(argv) for argv in link.adapter.cancel_argvs(ids))}"
                + (f" (on {link.remote.ssh.target.destination})" if link.remote else ""))

    def campaign_config(self) -> dict | None:
        """The config of the campaign this run works on; None outside an mdflow campaign."""
        config = getattr(self.workflow, "config", None) or {}
        return config if "systems" in config else None

    def campaign_directories(self):
        """(results, scratch) of the campaign this run works on; None outside an mdflow campaign."""
        config = self.campaign_config()
        return campaign_directories(config) if config else None

    def shutdown(self):
        try:
            self.report_orphans()
        except Exception as error:  # never let the report hide how the run ended
            self.logger.debug(f"could not check for jobs left by earlier runs: {error}")
        super().shutdown()

    # -- what a job needs ---------------------------------------------------------------------
    def request_for(self, job: JobExecutorInterface) -> JobRequest:
        link = self.link_of(job)
        try:
            request = request_of(job, link.site, job.attempt, link.log_dir, link.workdir,
                                 getattr(link, "scheduler_limits", {}), link.adapter.NAME)
        except MdflowError as error:
            raise WorkflowError(str(error)) from None
        warn_unknown_resources(job, link.adapter.NAME, self.warned_resources, self.logger.warning)
        return request

    def template_dir(self, link=None):
        site = (link or self).site
        return site.get("profile_dir") and Path(site["profile_dir"])

    # -- handing over -------------------------------------------------------------------------
    def run_job(self, job: JobExecutorInterface):
        request = self.request_for(job)  # refuses a job that fits no queue before anything is submitted
        if self.reattach(job, request):
            return
        with self.inbox_lock:
            self.inbox.append((job, time.time()))

    def run_jobs(self, jobs):
        for job in jobs:
            self.run_job_pre(job)
            self.run_job(job)
        self.flush()

    def reattach(self, job, request) -> bool:
        """A job of a killed controller that the scheduler still runs is adopted, not resubmitted;
        so is one that succeeded since (after Snakemake planned it), when all its outputs are there."""
        link = self.link_of(job)
        found = link.book.lookup(request.key, request.name, job_outputs(job))  # exact: by key
        if found is None:
            return False
        entry, finished, how = found
        self.logger.info(f"Re-attached to {request.name}: {link.adapter.NAME} job {entry.external_id}"
                         f"{self.where(link)} {how} (from the ledger)")
        self.adopt(job, entry, finished, link)
        return True

    def adopt(self, job, entry, finished: bool, link: SiteLink):
        """Take over `entry`'s batch job for `job`: watch it, or (finished) report its success now,
        since a scheduler may already have forgotten a job that ended long ago."""
        info = SubmittedJobInfo(job, external_jobid=entry.external_id, aux={
            "log_path": entry.log_path, "name": entry.name, "site": link.name})
        self.run_ids.add(entry.external_id)
        if not finished:
            self.unfinished.add(entry.external_id)
            self.report_job_submission(info)
            return
        link.book.update(entry.external_id, SUCCESS, 0, name=entry.name)
        self.report_job_success(info)

    @staticmethod
    def outputs_written_by(entry, job) -> bool:
        """Every output of `job` exists and is no older than the batch job `entry`'s submission."""
        return outputs_written_by(entry, job_outputs(job))

    # -- submission ---------------------------------------------------------------------------
    def take_inbox(self):
        with self.inbox_lock:
            handed, self.inbox = self.inbox, []
        for job, since in handed:
            self.pending.append(job)
            self.pending_since[job] = since

    def flush(self):
        """Submit pending jobs while their sites' queues have room; pack the short ones into
        ensembles. Each site on its own: one at its queue limit, or unreachable, holds only its jobs."""
        with self.submit_lock:
            self.take_inbox()
            if not self.pending or self.cancelling:
                return
            by_site = {}
            for job in self.pending:
                by_site.setdefault(self.link_of(job).name, []).append(job)
            for name, jobs in by_site.items():
                self.flush_site(self.links[name], jobs)

    def flush_site(self, link: SiteLink, jobs: list):
        if time.time() < link.hold_until:
            return
        slots = SlotCounter(link.site, link.submitter.count_user_jobs)
        singles, short = [], []
        for job in jobs:
            request = self.request_for(job)
            runtime = request.walltime_min
            if not job.is_group() and ensembles.is_short(link.policy, job_rule(job), runtime,
                                                         request.cpus_per_task, request.gpus):
                short.append(ensembles.Member(job, job_rule(job), request.cpus_per_task, runtime, request.gpus))
            else:
                singles.append((job, request))
        try:
            for job, request in singles:
                if self.cancelling:
                    return
                if slots.take(request.queue):
                    try:
                        self.submit_single(job, request, link)
                    except JobsFailed as refused:
                        self.logger.error(str(refused))
                        continue
                    self.pending.remove(job)
                    self.pending_since.pop(job, None)
            if short and self.gathered(short, link):
                self.submit_ensembles(short, slots, link)
        except LimitReached as reached:
            self.hold(link, f"queue limit reached ({reached})")
            return
        except MdflowError as unreachable:  # staging or placing the script failed after ssh.py's retries
            self.hold(link, f"site {link.name} cannot be reached ({unreachable})")
            return
        except Cancelled:
            return  # cancel_jobs clears what is pending
        link.limit_backoff = 10.0

    def hold(self, link: SiteLink, why: str):
        """Submit nothing more to `link` for a while (doubling up to LIMIT_BACKOFF_MAX_S); its jobs wait."""
        link.hold_until = time.time() + link.limit_backoff
        self.logger.info(f"{why}; waiting {link.limit_backoff:.0f} s")
        link.limit_backoff = min(link.limit_backoff * 2, LIMIT_BACKOFF_MAX_S)

    def gathered(self, short: list, link: SiteLink) -> bool:
        """Pack now, or wait up to gather_s for more short jobs to become ready (a full ensemble's worth
        never waits)."""
        if len(short) >= link.policy.max_members:
            return True
        oldest = min(self.pending_since.get(m.key, 0.0) for m in short)
        return time.time() - oldest >= link.policy.gather_s

    def submit_single(self, job, request: JobRequest, link: SiteLink):
        outcome.remove_stale(request.log_path, str(self.project))
        link.stage_in(job_inputs(job))
        script = self.write_script(f"{request.name}.a{job.attempt}.sh",
                                   self.render(request, self.single_exec(job, request), link=link))
        with signals_deferred():  # a Ctrl-C lands after the job id is in the ledger, never between
            external_id = self.submit_or_fail(script, request, [job], link)
            self.record([(job, request)], external_id, request.log_path, link)
        self.logger.info(f"Submitted {request.name} to {link.name} "
                         f"(queue {request.queue or 'default'}) as {link.adapter.NAME} job {external_id}")

    def submit_ensembles(self, short: list, slots: SlotCounter, link: SiteLink):
        policy = link.policy
        try:
            queue = choose_queue(link.site, policy.max_walltime_min, policy.nodes, None, "ensemble")
        except MdflowError as error:
            raise WorkflowError(f"ensemble policy: {error}") from None
        limit = queue_limits(link.site).get(queue, {}).get("max_walltime_min")
        planned = ensembles.plan(short, slots.free(queue), policy, limit)
        for ensemble in planned:
            if self.cancelling:
                return
            try:
                shape = self.ensemble_shape(ensemble)
            except MdflowError as error:
                raise WorkflowError(f"ensemble policy: {error}") from None
            if not slots.take(shape[0]):
                continue  # its queue is full: the members wait for the next round
            try:
                self.submit_ensemble(ensemble, shape, link)
            except JobsFailed as refused:
                self.logger.error(str(refused))
                continue
            for member in ensemble.members:
                self.pending.remove(member.key)
                self.pending_since.pop(member.key, None)

    def ensemble_link(self, ensemble: ensembles.Ensemble):
        return self.link_of(ensemble.members[0].key)

    def ensemble_shape(self, ensemble: ensembles.Ensemble) -> tuple:
        return self.ensemble_link(ensemble).packer.shape(ensemble)

    def ensemble_request(self, ensemble: ensembles.Ensemble, shape: tuple) -> JobRequest:
        return self.ensemble_link(ensemble).packer.request(ensemble, shape, job_rule(ensemble.members[0].key))

    def submit_ensemble(self, ensemble: ensembles.Ensemble, shape: tuple, link: SiteLink):
        queue = shape[0]
        request = self.ensemble_request(ensemble, shape)
        jobs = [m.key for m in ensemble.members]
        outcome.remove_stale(request.log_path, str(self.project))
        link.stage_in([f for job in jobs for f in job_inputs(job)])
        script = self.write_script(f"{request.name}.sh", self.render(
            request, "", launches=self.ensemble_launches(ensemble, request), link=link))
        with signals_deferred():
            external_id = self.submit_or_fail(script, request, jobs, link)
            self.record([(job, self.request_for(job)) for job in jobs], external_id, request.log_path, link,
                        ensemble=request.name)
        self.logger.info(f"Submitted ensemble {request.name} to {link.name}: {len(jobs)} jobs, {request.cpus_per_task} "
                         f"cores, {request.walltime_min} min, queue {queue or 'default'}, as {link.adapter.NAME} "
                         f"job {external_id}")

    def site_command(self, exec_job: str, link) -> str:
        """A job's command line as its site runs it (executors/remote.py rewrites a remote site's)."""
        if getattr(link, "remote", None) is None:
            return exec_job
        return link.remote.command(exec_job, self.get_python_executable(), str(self.get_snakefile()), str(SNAKEFILE))

    def single_exec(self, job, request: JobRequest) -> str:
        """The job's command line (Snakemake's format_job_exec), through the launcher where batch
        scripts run on a service node."""
        link = self.link_of(job)
        return link.packer.single(self.site_command(self.format_job_exec(job), link), request)

    def ensemble_launches(self, ensemble: ensembles.Ensemble, request: JobRequest) -> list:
        link = self.ensemble_link(ensemble)
        return link.packer.launches(ensemble, request,
                                    lambda *a, **k: self.site_command(self.ensemble_exec(*a, **k), link))

    def ensemble_exec(self, jobs: list, cores: int, gpus: int | None = None) -> str:
        """The inner Snakemake command line for several jobs: Snakemake's own format_job_exec, with
        get_job_args (its documented hook for the job-specific part) naming all of them."""
        return self.format_job_exec(EnsembleTargets(jobs, cores, gpus))

    def get_job_args(self, job, **kwargs):
        if not isinstance(job, EnsembleTargets):
            return super().get_job_args(job, **kwargs)
        jobs = job.jobs
        wait_for = [self.tmpdir] + sorted({str(f) for j in jobs for f in j.get_wait_for_files()})
        return join_cli_args([
            format_cli_arg("--target-jobs", encode_target_jobs_cli_args([s for j in jobs for s in j.get_target_spec()])),
            format_cli_arg("--allowed-rules", sorted({r for j in jobs for r in j.rules}), quote=False),
            format_cli_arg("--cores", job.cores),
            format_cli_arg("--attempt", max(j.attempt for j in jobs)),
            "--keep-going",  # a failing member does not stop the others
            format_cli_arg("--wait-for-files", wait_for),
            format_cli_arg("--resources", f"gpus={job.gpus}") if job.gpus is not None else "",
        ])

    def render(self, request: JobRequest, exec_job: str, launches=None, link=None) -> str:
        link = link or self.primary
        try:
            return render_script(link.adapter, request, link.site, exec_job, self.template_dir(link), launches=launches)
        except MdflowError as error:
            raise WorkflowError(str(error)) from None

    def write_script(self, filename: str, text: str) -> Path:
        script = self.script_dir / filename
        script.write_text(text)
        script.chmod(0o755)
        return script

    def submit_or_fail(self, script: Path, request: JobRequest, jobs: list, link: SiteLink) -> str:
        """Submit; when the scheduler refuses for good, the jobs fail (Snakemake may retry them)
        instead of waiting forever in the pending list."""
        try:
            return link.submitter.submit(link.place_script(script), request)
        except SubmitRefused as error:
            for job in jobs:
                self.pending.remove(job)
                self.pending_since.pop(job, None)
                self.report_job_error(SubmittedJobInfo(job), msg=str(error))
            raise JobsFailed(str(error)) from None

    def record(self, submitted: list, external_id: str, log_path: str, link: SiteLink, ensemble: str | None = None):
        """The batch job `external_id` runs the (job, request) pairs of `submitted`: ledger, then Snakemake."""
        self.run_ids.add(external_id)
        self.unfinished.add(external_id)
        link.book.record(external_id, link.adapter.NAME, log_path, ensemble, [
            (request.name, job_rule(job), job_wildcards(job), job_outputs(job), job.attempt, request.key)
            for job, request in submitted])
        for job, request in submitted:
            self.report_job_submission(SubmittedJobInfo(job, external_jobid=external_id, aux={
                "log_path": log_path, "name": request.name, "ensemble": ensemble, "site": link.name}))

    # -- status -------------------------------------------------------------------------------
    async def check_active_jobs(self, active_jobs: List[SubmittedJobInfo]) -> Generator[SubmittedJobInfo, None, None]:
        for job_info in self.check_batch_jobs(active_jobs):
            yield job_info
        try:
            self.flush()  # pending jobs may fit now: slots freed, gather window over, limit backoff passed
        except WorkflowError as error:
            self.logger.error(str(error))

    def statuses_of(self, jobs: dict) -> dict:
        """The first site's statuses of `jobs` (SiteLink.statuses_of)."""
        return self.primary.statuses_of(jobs)

    def check_batch_jobs(self, active_jobs: List[SubmittedJobInfo]):
        """One status query per site for its jobs. A site whose last query failed is asked again only
        after its own back-off (its jobs wait unjudged meanwhile); the other sites keep their pace."""
        by_site = {}
        for job_info in active_jobs:
            by_site.setdefault(job_info.aux.get("site") or self.primary.name, []).append(job_info)
        now, waits = time.time(), []
        for name, jobs in by_site.items():
            link = self.links.get(name, self.primary)
            if now < link.retry_at:
                waits.append(link.retry_at - now)
                yield from jobs
                continue
            yield from self.check_site_jobs(link, jobs)
            if link.status_failures:
                waits.append(link.retry_at - time.time())
            else:
                waits.append(None)
        # sooner than the usual interval only never; later only when every site waits out a back-off
        self.next_seconds_between_status_checks = (max(1, round(min(waits))) if waits and None not in waits
                                                   else None)

    def check_site_jobs(self, link: SiteLink, active_jobs: list):
        if not active_jobs:
            return
        try:
            statuses = link.statuses_of({j.external_jobid: j.aux for j in active_jobs})
            link.status_failures = 0
        except RuntimeError as error:
            link.status_failures += 1
            backoff = polling.status_backoff(link.status_failures)
            link.retry_at = time.time() + backoff
            self.logger.warning(f"status query{self.where(link)} failed ({error}); no job is judged on it, "
                                f"retrying in {backoff} s")
            yield from active_jobs
            return
        if self.cancelling:  # a query that was under way at Ctrl-C: its jobs are cancelled, not failed
            return
        now = time.time()
        never_run, ending = set(), []
        with link.book.deferred():  # one ledger transaction per poll
            for job_info in active_jobs:
                external_id = job_info.external_jobid
                status = statuses.get(external_id)
                verdict, decided = link.judge.decide(external_id, job_info.aux.get("log_path", ""), status, now)
                if verdict == polling.WAIT:
                    yield job_info
                elif verdict == polling.ACTIVE:
                    link.book.update(external_id, decided.state, name=job_info.aux.get("name"), reason=decided.reason)
                    yield job_info
                else:
                    ending.append((job_info, status, decided))
            if ending and not self.fetched(link, [job_info for job_info, _, _ in ending]):
                yield from (job_info for job_info, _, _ in ending)  # judged when their files can be fetched
                ending = []
            for job_info, status, decided in ending:
                if status is not None and polling.decided(status) and status.never_runs:
                    never_run.add(job_info.external_jobid)
                self.conclude(job_info, decided, link)
        if never_run:  # it would wait in the queue forever, holding a slot under max_queued
            link.cancel(sorted(never_run))

    def fetched(self, link: SiteLink, ended: list) -> bool:
        """A remote site's ended jobs: their outputs and logs copied here, all at once (True), or the
        site could not be reached (False: they are judged at a later poll, never on half their files)."""
        if link.remote is None:
            return True
        files = [f for info in ended for f in (*job_outputs(info.job), *job_logs(info.job),
                                               *link.adapter.log_files(info.aux.get("log_path", "")))]
        try:
            link.fetch(files)
            return True
        except (RuntimeError, MdflowError) as error:
            self.logger.warning(f"{len(ended)} job(s) ended on {link.name}, but their files could not be fetched "
                                f"({error}); trying again at the next poll")
            return False

    def conclude(self, job_info: SubmittedJobInfo, status: JobStatus, link: SiteLink):
        """Report a finished batch job; an ensemble member succeeded when its outputs exist."""
        succeeded = status.state == SUCCESS
        self.unfinished.discard(job_info.external_jobid)
        if job_info.aux.get("ensemble") and not succeeded:
            succeeded = all(Path(f).exists() for f in job_info.job.output)
        link.book.update(job_info.external_jobid, SUCCESS if succeeded else FAILED,
                         0 if succeeded and job_info.aux.get("ensemble") else status.exit_code,
                         name=job_info.aux.get("name"), reason=status.reason)
        if succeeded:
            self.report_job_success(job_info)
            return
        where = f" in ensemble {job_info.aux['ensemble']}" if job_info.aux.get("ensemble") else ""
        self.report_job_error(job_info, msg=(
            f"{link.adapter.NAME} job {job_info.external_jobid}{self.where(link)} ({job_info.aux.get('name')}{where}) "
            f"failed: {', '.join(x for x in (f'exit code {status.exit_code}' if status.exit_code is not None else '', status.reason) if x)}; "
            f"batch log {' '.join(link.adapter.log_files(job_info.aux.get('log_path', '')))}. "))

    # -- cancellation -------------------------------------------------------------------------
    def cancel_jobs(self, active_jobs: List[SubmittedJobInfo]):
        self.stop.set()  # a submission waiting to retry gives up now; flush submits nothing more
        with self.submit_lock:  # waits for a submit command under way, whose job is then in `unfinished`
            with self.inbox_lock:
                self.inbox.clear()
            self.pending.clear()
            self.pending_since.clear()
            site_of = {j.external_jobid: j.aux.get("site") or self.primary.name for j in active_jobs}
            site_of.update({i: self.site_of_id(i) for i in self.unfinished if i not in site_of})
        for name, link in self.links.items():
            ids = sorted(i for i, s in site_of.items() if s == name)
            for start in range(0, len(ids), CANCEL_CHUNK):
                chunk = ids[start:start + CANCEL_CHUNK]
                for warning in link.cancel(chunk):
                    self.logger.warning(f"cancel of {' '.join(chunk)} on {name} reported: {warning}")
                for external_id in chunk:
                    link.book.update(external_id, "cancelled")
            if ids:
                self.logger.info(f"Cancelled {len(ids)} {link.adapter.NAME} job(s)"
                                 + (f" on {name}." if len(self.links) > 1 else "."))

    def site_of_id(self, external_id: str) -> str:
        """The site this run submitted batch job `external_id` to (by the ledger; the first site if unknown)."""
        for name, link in self.links.items():
            if any(e.external_id == external_id for e in link.book.ledger.active(name)):
                return name
        return self.primary.name

    def get_job_exec_prefix(self, job: JobExecutorInterface):
        return ""

    def additional_general_args(self):
        """The inner Snakemake runs each job once: a rule's own `retries:` would otherwise be spent inside
        the batch job too (Snakemake's restart_times), before and besides this executor's resubmission.
        Marking every rule preemptible with 0 retries is the one switch that overrides a rule's own
        (Rule.restart_times); it changes nothing else for the local execution inside the job."""
        return "--preemptible-rules --preemptible-retries 0"
