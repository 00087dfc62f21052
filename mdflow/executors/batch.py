"""mdflow's Snakemake executor for batch schedulers (Slurm, PBS Pro, Cobalt).

One executor, one adapter per scheduler (render directives, submit, parse id, poll, cancel).
Per poll cycle ONE status query for all of this run's jobs on the site; a failed or garbled
query never fails a job (retry with backoff, decide only on a real answer). Every submission goes
to the ledger, and a job the ledger shows still queued/running is re-attached, not resubmitted.
"""

import os
import subprocess
import time
from pathlib import Path
from typing import Generator, List

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.jobs import JobExecutorInterface

from mdflow.errors import MdflowError
from mdflow.executors import adapters
from mdflow.executors.adapter import FAILED, FATAL, LIMIT, QUEUED, RUNNING, SUCCESS, JobStatus
from mdflow.executors.render import build_request, render_script
from mdflow.executors.site import current_site
from mdflow.ledger import Ledger

CANCEL_CHUNK = 50
SUBMIT_TRIES = 6
LIMIT_WAIT_S = 3600
STATUS_BACKOFF_MAX_S = 120
LOST_AFTER_S = 900  # a job the scheduler has forgotten without an exit record for this long failed


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
        self.project = Path.cwd()
        self.ledger = Ledger(self.project / ".mdflow" / "ledger.sqlite")
        self.adapter_state = {}
        self.status_failures = 0
        self.undecided_since = {}
        self.log_dir = self.site.get("logdir", "logs/batch")
        self.script_dir = self.project / ".mdflow" / "jobs"
        self.script_dir.mkdir(parents=True, exist_ok=True)
        (self.project / self.log_dir).mkdir(parents=True, exist_ok=True)

    # -- submission ---------------------------------------------------------------------------
    def request_for(self, job: JobExecutorInterface):
        try:
            return build_request(self.site, job_rule(job), job_wildcards(job), dict(job.resources.items()),
                                 job.threads, job.attempt, self.log_dir, str(self.project))
        except MdflowError as error:
            raise WorkflowError(str(error)) from None

    def script_for(self, job: JobExecutorInterface, request) -> str:
        return render_script(self.adapter, request, self.site, self.format_job_exec(job),
                             self.site.get("profile_dir") and Path(self.site["profile_dir"]))

    def run_job(self, job: JobExecutorInterface):
        request = self.request_for(job)
        attached = self.reattach(job, request)
        if attached:
            return
        script = self.script_dir / f"{request.name}.a{job.attempt}.sh"
        script.write_text(self.script_for(job, request))
        script.chmod(0o755)
        external_id = self.submit(script, request)
        self.ledger.record_submission(self.site["name"], external_id, request.name, job_rule(job),
                                      job_wildcards(job), list(job.output), self.adapter.NAME, job.attempt,
                                      request.log_path)
        self.logger.info(f"Submitted {request.name} to {self.site['name']} "
                         f"(queue {request.queue or 'default'}) as {self.adapter.NAME} job {external_id}")
        self.report_job_submission(SubmittedJobInfo(job, external_jobid=external_id,
                                                    aux={"log_path": request.log_path, "name": request.name}))

    def reattach(self, job, request) -> bool:
        """A job of a killed controller that the scheduler still runs is adopted, not resubmitted."""
        entry = self.ledger.active_by_name(self.site["name"], request.name)
        if entry is None:
            return False
        try:
            status = self.adapter.poll([entry.external_id], run_command,
                                       {entry.external_id: {"log_path": entry.log_path}}, self.adapter_state)
        except RuntimeError:
            status = {}
        state = status.get(entry.external_id)
        if state is not None and state.state in (QUEUED, RUNNING):
            self.logger.info(f"Re-attached to {request.name}: {self.adapter.NAME} job {entry.external_id} "
                             f"is still {state.state} (from the ledger)")
            self.report_job_submission(SubmittedJobInfo(job, external_jobid=entry.external_id,
                                                        aux={"log_path": entry.log_path, "name": entry.name}))
            return True
        self.ledger.update(self.site["name"], entry.external_id,
                           "superseded" if state is None else state.state, None if state is None else state.exit_code)
        return False

    def submit(self, script: Path, request) -> str:
        waited, delay = 0.0, 2.0
        for attempt in range(1, 10_000):
            answer = run_command(self.adapter.submit_argv(str(script)))
            text = (answer.stderr + answer.stdout).strip()
            if answer.returncode == 0:
                try:
                    return self.adapter.parse_submit(answer.stdout)
                except ValueError:
                    kind = "garbled"
            else:
                kind = self.adapter.classify_submit_error(text)
            if kind == FATAL:
                raise WorkflowError(f"{self.adapter.NAME} rejected job {request.name}: {text.splitlines()[-1] if text else answer.returncode}")
            existing = self.find_by_name(request.name)
            if existing:
                return existing
            if kind == LIMIT:
                if waited >= LIMIT_WAIT_S:
                    raise WorkflowError(f"job {request.name}: the queue's per-user limit stayed full for {waited:.0f} s: {text}")
                self.logger.info(f"{request.name}: queue limit reached ({text.splitlines()[-1]}); waiting {delay:.0f} s")
            elif attempt >= SUBMIT_TRIES:
                raise WorkflowError(f"submitting {request.name} failed {attempt} times; last answer: {text}")
            else:
                self.logger.warning(f"{request.name}: submission failed ({text or kind}); retrying in {delay:.0f} s")
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 60.0)
        raise AssertionError("unreachable")

    def find_by_name(self, name: str) -> str | None:
        """A submission that timed out may still have created the job: look for it before resubmitting."""
        if not hasattr(self.adapter, "find_by_name_argv"):
            return None
        answer = run_command(self.adapter.find_by_name_argv(name, os.environ.get("USER", "root")))
        ids = answer.stdout.split() if answer.returncode == 0 else []
        return ids[-1] if ids else None

    # -- status -------------------------------------------------------------------------------
    async def check_active_jobs(self, active_jobs: List[SubmittedJobInfo]) -> Generator[SubmittedJobInfo, None, None]:
        ids = [j.external_jobid for j in active_jobs]
        try:
            statuses = self.adapter.poll(ids, run_command, {j.external_jobid: j.aux for j in active_jobs},
                                         self.adapter_state)
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
        now = time.time()
        for job_info in active_jobs:
            status = statuses.get(job_info.external_jobid)
            if status is None:
                since = self.undecided_since.setdefault(job_info.external_jobid, now)
                if now - since < LOST_AFTER_S:
                    yield job_info
                    continue
                status = JobStatus(FAILED, None, reason=f"{self.adapter.NAME} lost track of it for {now - since:.0f} s")
            elif status.state not in (SUCCESS, FAILED):
                self.undecided_since.pop(job_info.external_jobid, None)
                self.ledger.update(self.site["name"], job_info.external_jobid, status.state)
                yield job_info
                continue
            self.ledger.update(self.site["name"], job_info.external_jobid, status.state, status.exit_code)
            if status.state == SUCCESS:
                self.report_job_success(job_info)
            else:
                self.report_job_error(job_info, msg=(
                    f"{self.adapter.NAME} job {job_info.external_jobid} ({job_info.aux.get('name')}) failed: "
                    f"exit code {status.exit_code}{', ' + status.reason if status.reason else ''}; "
                    f"batch log {' '.join(self.log_files(job_info.aux.get('log_path', '')))}. "))

    def log_files(self, log_path: str) -> list:
        """Where a batch job's output went (Cobalt writes PREFIX.output/.error/.cobaltlog instead)."""
        return self.adapter.log_files(log_path) if hasattr(self.adapter, "log_files") else [log_path]

    # -- cancellation -------------------------------------------------------------------------
    def cancel_jobs(self, active_jobs: List[SubmittedJobInfo]):
        ids = [j.external_jobid for j in active_jobs]
        for start in range(0, len(ids), CANCEL_CHUNK):
            chunk = ids[start:start + CANCEL_CHUNK]
            answer = run_command(self.adapter.cancel_argv(chunk))
            if answer.returncode != 0:
                self.logger.warning(f"cancel of {' '.join(chunk)} reported: {answer.stderr.strip()[:200]}")
            for external_id in chunk:
                self.ledger.update(self.site["name"], external_id, "cancelled")
        if ids:
            self.logger.info(f"Cancelled {len(ids)} {self.adapter.NAME} job(s).")

    def get_job_exec_prefix(self, job: JobExecutorInterface):
        return ""
