"""mdflow's Snakemake executor for batch schedulers (Slurm, PBS Pro, Cobalt).

One executor, one adapter per scheduler (render directives, submit, parse id, poll, cancel).

- Jobs Snakemake hands over wait in a pending list; `flush()` submits them while the target
  queue has room under the site's `max_queued` (one count query per queue and flush), packing
  short jobs into ensembles (executors/ensembles.py) when the profile has an `ensemble:` policy.
  A per-user-limit rejection puts the jobs back and waits; it never fails them.
- Per poll cycle ONE status query for all of this run's batch jobs; a failed or garbled query
  never fails a job (retry with backoff, decide only on a real answer).
- Every submission goes to the ledger; a job the ledger shows still queued/running is re-attached,
  not resubmitted. Ctrl-C/SIGTERM cancel this run's batch jobs in chunks.
"""

import math
import os
import posixpath
import shlex
import subprocess
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
from mdflow.executors import adapters, ensembles, outcome
from mdflow.executors.adapter import AMBIGUOUS, FAILED, FATAL, GONE, LIMIT, QUEUED, RUNNING, SUCCESS, JobRequest, JobStatus
from mdflow.executors.render import build_request, choose_ensemble_queue, choose_queue, queue_limits, render_script
from mdflow.executors.site import current_site
from mdflow.layout import campaign_directories, campaign_name
from mdflow.ledger import Ledger, outputs_within

CANCEL_CHUNK = 50
SUBMIT_TRIES = 6
FIND_TRIES = 5
STATUS_BACKOFF_MAX_S = 120
LIMIT_BACKOFF_MAX_S = 300
LOST_AFTER_S = 900  # a job the scheduler gave no word on for this long failed
GONE_GRACE_S = 60   # a job the scheduler says it does not know, with no outcome record for this long,
                    # failed (the grace covers a record written just after we looked, and NFS caches)


class QueueLimitReached(Exception):
    pass


class SubmissionRefused(Exception):
    """The scheduler refused a submission for good; its jobs were already reported failed."""


def run_command(argv: list, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a scheduler command; a hang or a missing binary becomes a failed answer, not an exception."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"{argv[0]} timed out after {timeout} s")
    except FileNotFoundError:
        return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: command not found")


def job_wildcards(job) -> dict:
    return dict(job.wildcards.items()) if hasattr(job.wildcards, "items") else {}


def job_rule(job) -> str:
    return job.name if job.is_group() else job.rule.name


class Executor(RemoteExecutor):
    def __post_init__(self):
        self.site = current_site()
        self.adapter = adapters.get(self.site["scheduler"])
        self.policy = ensembles.policy_from_site(self.site)
        self.project = Path.cwd()
        self.ledger = Ledger(self.project / ".mdflow" / "ledger.sqlite")
        self.adapter_state = {}
        self.status_failures = 0
        self.undecided_since = {}
        self.gone_since = {}
        self.pending = []            # jobs handed over by Snakemake, not yet submitted
        self.pending_since = {}      # job -> when it was handed over
        self.pending_lock = threading.RLock()
        self.hold_until = 0.0        # after a per-user-limit rejection
        self.limit_backoff = 10.0
        self.ensemble_count = 0
        self.log_dir = self.batch_log_dir()
        self.script_dir = self.project / ".mdflow" / "jobs"
        self.script_dir.mkdir(parents=True, exist_ok=True)
        (self.project / self.log_dir).mkdir(parents=True, exist_ok=True)
        self.run_ids = set()  # batch jobs this run submitted or adopted
        # The ones among them not yet ended. Snakemake's active_jobs is empty while a status check
        # runs (it takes the list out and puts the running ones back), so a Ctrl-C then would cancel
        # nothing: cancellation uses this set as well.
        self.unfinished = set()
        self.cancelling = False  # after Ctrl-C nothing more is submitted
        self.reconcile_ledger()

    def reconcile_ledger(self):
        """A killed controller leaves its jobs in the ledger as queued/running; those that finished
        while no controller ran are not re-attached (Snakemake just uses their outputs), so nothing
        would ever record their end. One status query at start-up does, so the ledger (and `mdflow
        status`) never claims a finished job still runs; unfinished ones stay for re-attaching.
        Those that succeeded are remembered: one may have finished after Snakemake planned (its
        outputs were missing then), and `reattach` adopts it instead of running it again."""
        self.finished_while_away = {(e.name, tuple(e.outputs)): e
                                    for e, state in self.settle(self.ledger.active(self.site["name"]))
                                    if state == SUCCESS}

    def settle(self, entries) -> list:
        """One status query for ledger `entries`; records the end of those that finished and returns
        (entry, state) for every entry the scheduler answered for (none when it gave no answer)."""
        if not entries:
            return []
        try:
            statuses = self.statuses_of({e.external_id: {"log_path": e.log_path} for e in entries})
        except RuntimeError:
            return []  # no answer: decided later, or by re-attaching
        answered = []
        for entry in entries:
            status = statuses.get(entry.external_id)
            if status is None or status.state not in (QUEUED, RUNNING, SUCCESS, FAILED):
                continue
            state = status.state
            if state in (SUCCESS, FAILED):
                succeeded = state == SUCCESS or bool(entry.ensemble and entry.outputs
                                                     and all(Path(f).exists() for f in entry.outputs))
                state = SUCCESS if succeeded else FAILED
                self.ledger.update(self.site["name"], entry.external_id, state,
                                   0 if succeeded else status.exit_code, name=entry.name, reason=status.reason)
            answered.append((entry, state))
        return answered

    def report_orphans(self):
        """At the end of a run: batch jobs an earlier controller submitted that this run neither
        re-attached nor needed, and that still wait or run. They may be wanted by a later run (this
        one may have had other targets), so mdflow names them and the command to cancel them."""
        directories = self.campaign_directories()
        earlier = [e for e in self.ledger.active(self.site["name"]) if e.external_id not in self.run_ids
                   and (directories is None or outputs_within(e.outputs, directories, self.project))]
        orphans = [e for e, state in self.settle(earlier) if state in (QUEUED, RUNNING)]
        if not orphans:
            return
        ids = sorted({e.external_id for e in orphans})
        self.logger.warning(
            f"{len(orphans)} batch job(s) left by an earlier mdflow run still queue or run, but this run did "
            f"not need them: {', '.join(f'{e.name} ({self.adapter.NAME} job {e.external_id})' for e in orphans)}. "
            f"They keep using the allocation; if no later run needs them: {' '.join(self.adapter.cancel_argv(ids))}")

    def campaign_config(self) -> dict | None:
        """The config of the campaign this run works on; None outside an mdflow campaign."""
        config = getattr(self.workflow, "config", None) or {}
        return config if "systems" in config else None

    def campaign_directories(self):
        """(results, scratch) of the campaign this run works on; None outside an mdflow campaign."""
        config = self.campaign_config()
        return campaign_directories(config) if config else None

    def batch_log_dir(self) -> str:
        """The site's logdir, per campaign (`logs/batch/<campaign>`): two campaigns' jobs share names."""
        config, logdir = self.campaign_config(), self.site.get("logdir", "logs/batch")
        return posixpath.join(logdir, campaign_name(config)) if config else logdir

    def shutdown(self):
        try:
            self.report_orphans()
        except Exception as error:  # never let the report hide how the run ended
            self.logger.debug(f"could not check for jobs left by earlier runs: {error}")
        super().shutdown()

    # -- what a job needs ---------------------------------------------------------------------
    def request_for(self, job: JobExecutorInterface) -> JobRequest:
        try:
            return build_request(self.site, job_rule(job), job_wildcards(job), dict(job.resources.items()),
                                 job.threads, job.attempt, self.log_dir, str(self.project))
        except MdflowError as error:
            raise WorkflowError(str(error)) from None

    def template_dir(self):
        return self.site.get("profile_dir") and Path(self.site["profile_dir"])

    # -- handing over -------------------------------------------------------------------------
    def run_job(self, job: JobExecutorInterface):
        request = self.request_for(job)  # refuses a job that fits no queue before anything is submitted
        if self.reattach(job, request):
            return
        with self.pending_lock:
            self.pending.append(job)
            self.pending_since[job] = time.time()

    def run_jobs(self, jobs):
        for job in jobs:
            self.run_job_pre(job)
            self.run_job(job)
        self.flush()

    def reattach(self, job, request) -> bool:
        """A job of a killed controller that the scheduler still runs is adopted, not resubmitted;
        so is one that succeeded since (after Snakemake planned it), when all its outputs are there."""
        outputs = [str(f) for f in job.output]  # another campaign's job of this name has other outputs
        finished = self.finished_while_away.pop((request.name, tuple(outputs)), None)
        if finished is not None and self.outputs_written_by(finished, job):
            self.logger.info(f"Re-attached to {request.name}: {self.adapter.NAME} job {finished.external_id} "
                             f"finished while no controller ran (from the ledger)")
            self.adopt(job, finished, finished=True)
            return True
        entry = self.ledger.active_by_name(self.site["name"], request.name, outputs)
        if entry is None:
            return False
        try:
            status = self.statuses_of({entry.external_id: {"log_path": entry.log_path}})
        except RuntimeError:
            status = {}
        state = status.get(entry.external_id)
        if state is not None and state.state not in (QUEUED, RUNNING, SUCCESS, FAILED):
            state = None
        if state is not None and (state.state in (QUEUED, RUNNING) and not state.never_runs
                                  or state.state == SUCCESS and self.outputs_written_by(entry, job)):
            self.logger.info(f"Re-attached to {request.name}: {self.adapter.NAME} job {entry.external_id} "
                             f"{'is still ' + state.state if state.state != SUCCESS else 'has just finished'} "
                             f"(from the ledger)")
            self.adopt(job, entry, finished=state.state == SUCCESS)
            return True
        self.ledger.update(self.site["name"], entry.external_id,
                           "superseded" if state is None else state.state, None if state is None else state.exit_code,
                           name=entry.name)
        return False

    def adopt(self, job, entry, finished: bool):
        """Take over `entry`'s batch job for `job`: watch it, or (finished) report its success now,
        since a scheduler may already have forgotten a job that ended long ago."""
        info = SubmittedJobInfo(job, external_jobid=entry.external_id, aux={"log_path": entry.log_path,
                                                                             "name": entry.name})
        self.run_ids.add(entry.external_id)
        if not finished:
            self.unfinished.add(entry.external_id)
            self.report_job_submission(info)
            return
        self.ledger.update(self.site["name"], entry.external_id, SUCCESS, 0, name=entry.name)
        self.report_job_success(info)

    @staticmethod
    def outputs_written_by(entry, job) -> bool:
        """Every output of `job` exists and is no older than the batch job `entry`'s submission."""
        outputs = [Path(f) for f in job.output]
        return bool(outputs) and all(f.exists() and f.stat().st_mtime >= entry.submitted - 1 for f in outputs)

    # -- submission ---------------------------------------------------------------------------
    def flush(self):
        """Submit pending jobs while their queues have room; pack the short ones into ensembles."""
        with self.pending_lock:
            if not self.pending or time.time() < self.hold_until or self.cancelling:
                return
            slots = SlotCounter(self)
            singles, short = [], []
            for job in self.pending:
                request = self.request_for(job)
                runtime = request.walltime_min
                if ensembles.is_short(self.policy, job_rule(job), runtime, request.cpus_per_task, request.gpus):
                    short.append(ensembles.Member(job, job_rule(job), request.cpus_per_task, runtime, request.gpus))
                else:
                    singles.append((job, request))
            try:
                for job, request in singles:
                    if slots.take(request.queue):
                        try:
                            self.submit_single(job, request)
                        except SubmissionRefused as refused:
                            self.logger.error(str(refused))
                            continue
                        self.pending.remove(job)
                        self.pending_since.pop(job, None)
                if short and self.gathered(short):
                    self.submit_ensembles(short, slots)
            except QueueLimitReached as reached:
                self.hold_until = time.time() + self.limit_backoff
                self.logger.info(f"queue limit reached ({reached}); waiting {self.limit_backoff:.0f} s")
                self.limit_backoff = min(self.limit_backoff * 2, LIMIT_BACKOFF_MAX_S)
                return
            self.limit_backoff = 10.0

    def gathered(self, short: list) -> bool:
        """Pack now, or wait up to gather_s for more short jobs to become ready (a full ensemble's worth
        never waits)."""
        if len(short) >= self.policy.max_members:
            return True
        oldest = min(self.pending_since.get(m.key, 0.0) for m in short)
        return time.time() - oldest >= self.policy.gather_s

    def submit_single(self, job, request: JobRequest):
        outcome.remove_stale(request.log_path, request.workdir)
        script = self.write_script(f"{request.name}.a{job.attempt}.sh",
                                   self.render(request, self.single_exec(job, request)))
        external_id = self.submit_or_fail(script, request, [job])
        self.record(job, request, external_id, request.log_path)
        self.logger.info(f"Submitted {request.name} to {self.site['name']} "
                         f"(queue {request.queue or 'default'}) as {self.adapter.NAME} job {external_id}")

    def submit_ensembles(self, short: list, slots: "SlotCounter"):
        policy = self.policy
        try:
            queue = choose_queue(self.site, policy.max_walltime_min, policy.nodes, None, "ensemble")
        except MdflowError as error:
            raise WorkflowError(f"ensemble policy: {error}") from None
        limit = queue_limits(self.site).get(queue, {}).get("max_walltime_min")
        planned = ensembles.plan(short, slots.free(queue), policy, limit)
        for ensemble in planned:
            try:
                shape = self.ensemble_shape(ensemble)
            except MdflowError as error:
                raise WorkflowError(f"ensemble policy: {error}") from None
            if not slots.take(shape[0]):
                continue  # its queue is full: the members wait for the next round
            try:
                self.submit_ensemble(ensemble, shape)
            except SubmissionRefused as refused:
                self.logger.error(str(refused))
                continue
            for member in ensemble.members:
                self.pending.remove(member.key)
                self.pending_since.pop(member.key, None)

    def ensemble_shape(self, ensemble: ensembles.Ensemble) -> tuple:
        """(queue, nodes, why): as many nodes as the members need at once (never more than the
        policy's), in the queue that charges the fewest node-hours for them."""
        needed = ensembles.nodes_needed(ensemble, self.policy)
        return choose_ensemble_queue(self.site, ensemble.walltime_min, needed)

    def ensemble_request(self, ensemble: ensembles.Ensemble, shape: tuple) -> JobRequest:
        queue, nodes, _ = shape
        self.ensemble_count += 1
        first = ensemble.members[0].key
        name = f"ensemble.{os.getpid()}.{self.ensemble_count}.{job_rule(first)}.{len(ensemble.members)}"
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

    def submit_ensemble(self, ensemble: ensembles.Ensemble, shape: tuple):
        queue = shape[0]
        request = self.ensemble_request(ensemble, shape)
        jobs = [m.key for m in ensemble.members]
        outcome.remove_stale(request.log_path, request.workdir)
        script = self.write_script(f"{request.name}.sh", self.render(
            request, "", launches=self.ensemble_launches(ensemble, request)))
        external_id = self.submit_or_fail(script, request, jobs)
        for job in jobs:
            self.record(job, self.request_for(job), external_id, request.log_path, ensemble=request.name)
        self.logger.info(f"Submitted ensemble {request.name}: {len(jobs)} jobs, {request.cpus_per_task} cores, "
                         f"{request.walltime_min} min, queue {queue or 'default'}, as {self.adapter.NAME} job {external_id}")

    def single_exec(self, job, request: JobRequest) -> str:
        """The job's command line; where batch scripts run on a service node (Cray ALPS: aprun),
        started on the compute node through the launcher."""
        command = self.format_job_exec(job)
        if self.site.get("launcher") in SERVICE_NODE_LAUNCHERS:
            return launched(self.site["launcher"], 0, request.cpus_per_task, command)
        return command

    def ensemble_launches(self, ensemble: ensembles.Ensemble, request: JobRequest) -> list:
        """One inner Snakemake per node running that node's members concurrently (--keep-going: a
        failing member does not stop the others); with several nodes each is started by the launcher.
        A GPU ensemble has one inner Snakemake per GPU slot instead: its own device and cores, its
        members one after another."""
        jobs = [m.key for m in ensemble.members]
        if ensemble.slots:
            return self.gpu_launches(ensemble, jobs, request)
        nodes = request.nodes
        per_node = [jobs[i::nodes] for i in range(nodes)]
        cores = request.cpus_per_task
        commands = [self.ensemble_exec(members, cores) for members in per_node if members]
        if nodes == 1 and self.site.get("launcher") not in SERVICE_NODE_LAUNCHERS:
            return commands
        name = self.site.get("launcher", "local")
        return [launched(name, index, cores, command) for index, command in enumerate(commands)]

    def gpu_launches(self, ensemble: ensembles.Ensemble, jobs: list, request: JobRequest) -> list:
        placement = ensembles.gpu_slots(self.policy, request.nodes, reverse=self.site.get("gpu_order") == "reverse")
        placement = placement[:ensemble.slots]
        launches = []
        for index, (node, device, first, last) in enumerate(placement):
            members = jobs[index::len(placement)]
            if members:
                command = self.ensemble_exec(members, self.policy.slot_cores, gpus=1)
                launches.append(gpu_launch(self.site.get("launcher", "local"), node, device, first, last,
                                           self.policy.members_per_gpu, command))
        return launches

    def ensemble_exec(self, jobs: list, cores: int, gpus: int | None = None) -> str:
        """Snakemake's own remote command line (as RealExecutor.format_job_exec builds it), for many targets."""
        general_args = self.workflow.spawned_job_args_factory.general_args(executor_common_settings=self.common_settings)
        precommand = self.workflow.spawned_job_args_factory.precommand(executor_common_settings=self.common_settings)
        wait_for = [self.tmpdir] + sorted({str(f) for job in jobs for f in job.get_wait_for_files()})
        return join_cli_args([
            self.get_envvar_declarations(),
            f"{precommand} &&" if precommand else "",
            self.get_python_executable(), "-m snakemake",
            format_cli_arg("--snakefile", self.get_snakefile()),
            format_cli_arg("--target-jobs", encode_target_jobs_cli_args([s for j in jobs for s in j.get_target_spec()])),
            format_cli_arg("--allowed-rules", sorted({r for j in jobs for r in j.rules}), quote=False),
            format_cli_arg("--cores", cores),
            format_cli_arg("--attempt", max(j.attempt for j in jobs)),
            "--keep-going",
            format_cli_arg("--wait-for-files", wait_for),
            general_args,
            format_cli_arg("--resources", f"gpus={gpus}") if gpus is not None else "",
            format_cli_arg("--mode", self.get_exec_mode().item_to_choice()),
        ])

    def render(self, request: JobRequest, exec_job: str, launches=None) -> str:
        try:
            return render_script(self.adapter, request, self.site, exec_job, self.template_dir(), launches=launches)
        except MdflowError as error:
            raise WorkflowError(str(error)) from None

    def write_script(self, filename: str, text: str) -> Path:
        script = self.script_dir / filename
        script.write_text(text)
        script.chmod(0o755)
        return script

    def submit_or_fail(self, script: Path, request: JobRequest, jobs: list) -> str:
        """Submit; when the scheduler refuses for good, the jobs fail (Snakemake may retry them)
        instead of waiting forever in the pending list."""
        try:
            return self.submit(script, request)
        except WorkflowError as error:
            for job in jobs:
                self.pending.remove(job)
                self.pending_since.pop(job, None)
                self.report_job_error(SubmittedJobInfo(job), msg=str(error))
            raise SubmissionRefused(str(error)) from None

    def record(self, job, request: JobRequest, external_id: str, log_path: str, ensemble: str | None = None):
        self.run_ids.add(external_id)
        self.unfinished.add(external_id)
        self.ledger.record_submission(self.site["name"], external_id, request.name, job_rule(job), job_wildcards(job),
                                      list(job.output), self.adapter.NAME, job.attempt, log_path, ensemble)
        self.report_job_submission(SubmittedJobInfo(job, external_jobid=external_id, aux={
            "log_path": log_path, "name": request.name, "ensemble": ensemble}))

    def submit(self, script: Path, request) -> str:
        delay = 2.0
        logged_before = set(self.logged_ids(request))
        for attempt in range(1, SUBMIT_TRIES + 1):
            answer = run_command(self.adapter.submit_argv(str(script)))
            text = (answer.stderr + answer.stdout).strip()
            if answer.returncode == 0:
                try:
                    return self.adapter.parse_submit(answer.stdout)
                except ValueError:
                    kind = "garbled"
            else:
                kind = self.adapter.classify_submit_error(text)
            if kind == AMBIGUOUS:
                kind = LIMIT if self.near_queue_limit(request.queue) else FATAL
            if kind == FATAL:
                raise WorkflowError(f"{self.adapter.NAME} rejected job {request.name}: "
                                    f"{text.splitlines()[-1] if text else answer.returncode}")
            existing = self.find_submitted(request, logged_before)
            if existing:
                return existing
            if kind == LIMIT:
                raise QueueLimitReached(text.splitlines()[-1] if text else "per-user limit")
            self.logger.warning(f"{request.name}: submission failed ({text or kind}); retrying in {delay:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 60.0)
        raise WorkflowError(f"submitting {request.name} failed {SUBMIT_TRIES} times; last answer: {text}")

    def logged_ids(self, request: JobRequest) -> list[str]:
        """Ids of the jobs qsub logged under this request's log path (Cobalt's cobaltlog; the other
        schedulers log nothing at submission)."""
        if hasattr(self.adapter, "submitted_ids_in_log"):
            return self.adapter.submitted_ids_in_log(request.log_path)
        return []

    def find_submitted(self, request: JobRequest, logged_before: set) -> str | None:
        """A submission that timed out may still have created the job: look for it before resubmitting,
        among this project's jobs of that name (the adapter tells them by their work directory).
        Only a real answer counts: a failed or garbled lookup is asked again, since taking it for
        "not there" would submit the job twice, and taking garbage for an id would wait on a job
        that does not exist."""
        name = request.name
        known = {e.external_id for e in self.ledger.all(self.site["name"]) if e.name == name}  # earlier attempts
        logged = [i for i in self.logged_ids(request) if i not in logged_before | known]
        if logged:  # Cobalt's qsub logged it; qstat may have forgotten it already (done)
            return logged[-1]
        delay = 1.0
        for _ in range(FIND_TRIES):
            answer = run_command(self.adapter.find_by_name_argv(name, os.environ.get("USER", "root")))
            if answer.returncode == 0:
                try:
                    ids = self.adapter.parse_find_by_name(answer.stdout, str(self.project))
                    ids = [i for i in ids if i not in known]
                    return ids[-1] if ids else None
                except ValueError:
                    pass
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        self.logger.warning(f"{name}: {self.adapter.NAME} gave no usable answer to whether the job exists; "
                            f"submitting it again")
        return None

    def near_queue_limit(self, queue) -> bool:
        """For a refusal that may be a submit limit or a limit on the job itself (Slurm's 'Job
        violates accounting/QOS policy'): our own count of the user's jobs says which. Within 10 %
        of max_queued it is the submit limit (wait); otherwise the job is refused for good."""
        maximum = queue_limits(self.site).get(queue, {}).get("max_queued") or self.site.get("max_queued")
        used = self.count_user_jobs(queue)
        return maximum is not None and used is not None and used >= 0.9 * maximum

    def count_user_jobs(self, queue) -> int | None:
        """Queued+running jobs of this user in `queue` (all campaigns), or None without an answer."""
        answer = run_command(self.adapter.count_user_jobs_argv(os.environ.get("USER", "root"), queue))
        try:
            return self.adapter.count_user_jobs(answer.returncode, answer.stdout, answer.stderr)
        except (RuntimeError, ValueError):
            return None

    # -- status -------------------------------------------------------------------------------
    async def check_active_jobs(self, active_jobs: List[SubmittedJobInfo]) -> Generator[SubmittedJobInfo, None, None]:
        for job_info in self.check_batch_jobs(active_jobs):
            yield job_info
        try:
            self.flush()  # pending jobs may fit now: slots freed, gather window over, limit backoff passed
        except WorkflowError as error:
            self.logger.error(str(error))

    def statuses_of(self, jobs: dict) -> dict:
        """{external id: {'log_path': …}} -> {external id: JobStatus}: each job's own outcome record
        first (executors/outcome.py), then ONE scheduler query for the jobs without one. A job the
        scheduler calls GONE is looked up once more (it may have written its record meanwhile).
        RuntimeError when the scheduler gave no usable answer."""
        project = str(self.project)
        statuses = {}
        for external_id, aux in jobs.items():
            recorded = outcome.read_status((aux or {}).get("log_path", ""), project, external_id)
            if recorded is not None:
                statuses[external_id] = recorded
        rest = sorted(set(jobs) - set(statuses))
        if rest:
            answered = self.adapter.poll(rest, run_command, {i: jobs[i] or {} for i in rest}, self.adapter_state)
            for external_id, status in answered.items():
                if status.state == GONE:
                    status = outcome.read_status((jobs[external_id] or {}).get("log_path", ""), project,
                                                 external_id) or status
                statuses[external_id] = status
        return statuses

    def check_batch_jobs(self, active_jobs: List[SubmittedJobInfo]):
        ids = sorted({j.external_jobid for j in active_jobs})
        if not ids:
            return
        try:
            statuses = self.statuses_of({j.external_jobid: j.aux for j in active_jobs})
            self.status_failures = 0
            self.next_seconds_between_status_checks = None
        except RuntimeError as error:
            self.status_failures += 1
            backoff = min(STATUS_BACKOFF_MAX_S, 2 ** self.status_failures)
            self.next_seconds_between_status_checks = backoff
            self.logger.warning(f"status query failed ({error}); no job is judged on it, retrying in {backoff} s")
            for job_info in active_jobs:
                yield job_info
            return
        if self.cancelling:  # a query that was under way at Ctrl-C: its jobs are cancelled, not failed
            return
        now = time.time()
        never_run = set()
        for job_info in active_jobs:
            external_id = job_info.external_jobid
            status = statuses.get(external_id)
            if status is not None and status.state == GONE:
                since = self.gone_since.setdefault(external_id, now)
                if now - since < GONE_GRACE_S:
                    yield job_info
                    continue
                status = JobStatus(FAILED, None, reason=(
                    f"{self.adapter.NAME} no longer knows the job and it left no outcome record "
                    f"({outcome.outcome_path(job_info.aux.get('log_path', ''))}): it never started (dropped "
                    f"after submission?) or was killed before it could write one"))
            elif status is None or status.state not in (QUEUED, RUNNING, SUCCESS, FAILED):
                since = self.undecided_since.setdefault(external_id, now)
                if now - since < LOST_AFTER_S:
                    yield job_info
                    continue
                status = JobStatus(FAILED, None, reason=f"{self.adapter.NAME} gave no word on it for {now - since:.0f} s")
            elif status.never_runs:
                never_run.add(external_id)
                status = JobStatus(FAILED, None, reason=f"it can never start: {status.reason}")
            elif status.state not in (SUCCESS, FAILED):
                self.undecided_since.pop(external_id, None)
                self.gone_since.pop(external_id, None)
                self.ledger.update(self.site["name"], external_id, status.state, name=job_info.aux.get("name"),
                                   reason=status.reason)
                yield job_info
                continue
            self.conclude(job_info, status)
        if never_run:  # it would wait in the queue forever, holding a slot under max_queued
            for argv in self.cancel_argvs(sorted(never_run)):
                run_command(argv)

    def cancel_argvs(self, ids: list) -> list:
        """Slurm needs one scancel per cluster on a multi-cluster site; the others take all ids at once."""
        return self.adapter.cancel_argvs(ids) if hasattr(self.adapter, "cancel_argvs") else [self.adapter.cancel_argv(ids)]

    def conclude(self, job_info: SubmittedJobInfo, status: JobStatus):
        """Report a finished batch job; an ensemble member succeeded when its outputs exist."""
        succeeded = status.state == SUCCESS
        self.unfinished.discard(job_info.external_jobid)
        if job_info.aux.get("ensemble") and not succeeded:
            succeeded = all(Path(f).exists() for f in job_info.job.output)
        self.ledger.update(self.site["name"], job_info.external_jobid, SUCCESS if succeeded else FAILED,
                           0 if succeeded and job_info.aux.get("ensemble") else status.exit_code,
                           name=job_info.aux.get("name"), reason=status.reason)
        if succeeded:
            self.report_job_success(job_info)
            return
        where = f" in ensemble {job_info.aux['ensemble']}" if job_info.aux.get("ensemble") else ""
        self.report_job_error(job_info, msg=(
            f"{self.adapter.NAME} job {job_info.external_jobid} ({job_info.aux.get('name')}{where}) failed: "
            f"{', '.join(x for x in (f'exit code {status.exit_code}' if status.exit_code is not None else '', status.reason) if x)}; "
            f"batch log {' '.join(self.log_files(job_info.aux.get('log_path', '')))}. "))

    def log_files(self, log_path: str) -> list:
        """Where a batch job's output went (Cobalt writes PREFIX.output/.error/.cobaltlog instead)."""
        return self.adapter.log_files(log_path) if hasattr(self.adapter, "log_files") else [log_path]

    # -- cancellation -------------------------------------------------------------------------
    def cancel_jobs(self, active_jobs: List[SubmittedJobInfo]):
        with self.pending_lock:  # waits for a submission under way, whose job is then in `unfinished`
            self.cancelling = True
            self.pending.clear()
            self.pending_since.clear()
            ids = sorted({j.external_jobid for j in active_jobs} | self.unfinished)
        for start in range(0, len(ids), CANCEL_CHUNK):
            chunk = ids[start:start + CANCEL_CHUNK]
            for argv in self.cancel_argvs(chunk):
                answer = run_command(argv)
                if answer.returncode != 0:
                    self.logger.warning(f"cancel of {' '.join(chunk)} reported: {answer.stderr.strip()[:200]}")
            for external_id in chunk:
                self.ledger.update(self.site["name"], external_id, "cancelled")
        if ids:
            self.logger.info(f"Cancelled {len(ids)} {self.adapter.NAME} job(s).")

    def get_job_exec_prefix(self, job: JobExecutorInterface):
        return ""


class SlotCounter:
    """Free places per queue under the site's max_queued, counted once per queue and flush."""

    def __init__(self, executor: Executor):
        self.executor = executor
        self.limits = queue_limits(executor.site)
        self.free_by_queue = {}

    def free(self, queue) -> int:
        maximum = self.limits.get(queue, {}).get("max_queued") or self.executor.site.get("max_queued")
        if maximum is None:
            return 1_000_000
        if queue not in self.free_by_queue:
            used = self.executor.count_user_jobs(queue)
            self.free_by_queue[queue] = 0 if used is None else max(0, maximum - used)
        return self.free_by_queue[queue]

    def take(self, queue) -> bool:
        if self.free(queue) <= 0:
            return False
        self.free_by_queue[queue] = self.free(queue) - 1
        return True


def _srun(index: int, cores: int) -> str:
    return f"srun --nodes=1 --ntasks=1 --cpus-per-task={cores} --exact "


def _mpiexec(index: int, cores: int) -> str:
    return f'mpiexec -n 1 --ppn 1 --depth={cores} --cpu-bind depth --hosts "$(sed -n {index + 1}p "$PBS_NODEFILE")" '


def _aprun(index: int, cores: int) -> str:
    return f"aprun -n 1 -N 1 -d {cores} -cc none "


def _ibrun(index: int, cores: int) -> str:
    return f"ibrun -n 1 -o {index} "


def launched(launcher: str, index: int, cores: int, command: str) -> str:
    """`command` (a shell line: it may start with `export …&&`) started through the site launcher."""
    prefix = LAUNCHERS.get(launcher, LAUNCHERS["local"])(index, cores)
    return prefix + "bash -c " + shlex.quote(command) if prefix else command


def gpu_launch(launcher: str, node: int, device: int, first: int, last: int, members_per_gpu: int,
               command: str) -> str:
    """`command` started on node `node` (0 = the first of the job) with GPU `device` and cores
    first..last only: Slurm binds a GPU per task itself (--gpus-per-task); elsewhere
    CUDA_VISIBLE_DEVICES shows the process its device alone, and the launcher's CPU binding
    (mpiexec --cpu-bind list:, taskset) its cores."""
    cores = last - first + 1
    quoted = "bash -c " + shlex.quote(command)
    visible = f"env CUDA_VISIBLE_DEVICES={device} "
    if launcher == "srun":
        gpu = "--gpus-per-task=1 " if members_per_gpu == 1 else ""
        return (f"srun --nodes=1 --ntasks=1 --relative={node} --cpus-per-task={cores} {gpu}--exact "
                + ("" if gpu else visible) + quoted)
    if launcher == "mpiexec":
        return (f'mpiexec -n 1 --ppn 1 --hosts "$(sed -n {node + 1}p "$PBS_NODEFILE")" '
                f"--cpu-bind list:{first}-{last} {visible}{quoted}")
    prefix = LAUNCHERS.get(launcher, LAUNCHERS["local"])(node, cores)
    return f"{prefix}{visible}taskset -c {first}-{last} {quoted}"


# Launchers whose batch scripts run on a service (MOM) node: every command is started through them.
SERVICE_NODE_LAUNCHERS = ("aprun",)
LAUNCHERS = {"srun": _srun, "mpiexec": _mpiexec, "aprun": _aprun, "ibrun": _ibrun, "local": lambda i, c: ""}
