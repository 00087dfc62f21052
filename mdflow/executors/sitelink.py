"""One site of a run, as the executor drives it: its adapter, where its commands run (here, or on
its host over SSH: executors/remote.py), its part of the ledger, its submitter, its polling state
and its throttling. A run has one link per site of the profile (a multi-site profile lists its
sites under `sites:`); each link queries, submits and backs off on its own, so a site that
cannot be reached delays only its own jobs.
"""

import csv
import posixpath
import threading
from pathlib import Path

from mdflow.errors import MdflowError
from mdflow.executors import adapters, ensembles, polling
from mdflow.executors.commands import run_command
from mdflow.executors.packing import Packer
from mdflow.executors.reattach import LedgerBook
from mdflow.executors.remote import RemoteSite
from mdflow.executors.ssh import target_of
from mdflow.executors.submission import Submitter, scheduler_queue_limits
from mdflow.layout import campaign_name
from mdflow.ledger import Ledger

SITE_COLUMN = "site"


def sites_of(site: dict) -> list:
    """The sites a profile drives: those listed under `sites:` (a multi-site profile), else itself."""
    return list(site.get("sites") or [site])


def batch_log_dir(site: dict, config: dict | None) -> str:
    """The site's logdir, per campaign (`logs/batch/<campaign>`): two campaigns' jobs share names."""
    logdir = site.get("logdir", "logs/batch")
    return posixpath.join(logdir, campaign_name(config)) if config else logdir


def sheet_sites(config: dict | None, project: Path) -> dict:
    """{system: site name} from the campaign sheet's optional `site` column (empty cells left out)."""
    sheet = (config or {}).get("systems")
    if not sheet or not (project / sheet).is_file():
        return {}
    with open(project / sheet, newline="", encoding="utf-8-sig") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return {row["name"]: row[SITE_COLUMN].strip() for row in rows
                if row.get("name") and (row.get(SITE_COLUMN) or "").strip()}


def definition_files(config: dict | None, configfiles: list, project: Path) -> list:
    """The project files every job of a campaign reads besides its inputs: the config files, the
    systems sheet and every file a sheet cell or a config value names (structures, references)."""
    names = [str(f) for f in configfiles]
    config = config or {}
    names += [v for v in config.values() if isinstance(v, str)]
    sheet = config.get("systems")
    if sheet and (project / sheet).is_file():
        with open(project / sheet, newline="", encoding="utf-8-sig") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                names += [cell.strip() for cell in row if cell.strip()]
    found = []
    for name in names:
        path = Path(name) if Path(name).is_absolute() else project / name
        try:
            if path.is_file() and path.resolve().is_relative_to(project.resolve()):
                found.append(str(path.resolve().relative_to(project.resolve())))
        except OSError:
            continue
    return sorted(set(found))


class SiteLink:
    """See the module docstring. `prepare` reaches a remote site (checks it, creates its work
    directory, stages the campaign's definition files) before anything is asked of it."""

    def __init__(self, site: dict, project: Path, ledger: Ledger, logger, stop: threading.Event,
                 config: dict | None, definition: list, directories: list):
        self.site, self.name, self.logger = site, site["name"], logger
        self.adapter = adapters.get(site["scheduler"])
        self.policy = ensembles.policy_from_site(site)
        self.remote = RemoteSite(site, project) if target_of(site) else None
        self.log_dir = batch_log_dir(site, config)
        if self.remote:
            self.remote.prepare(list(self.adapter.COMMANDS), definition, [*directories, self.log_dir])
            logger.info(f"Site {self.name}: {self.remote.ssh.target.destination}, work directory "
                        f"{self.remote.directory}")
        self.run = self.remote.ssh if self.remote else run_command
        self.workdir = self.remote.directory if self.remote else str(project)  # where its batch jobs run
        self.project = project
        self.scheduler_limits = scheduler_queue_limits(self.adapter, site, run=self.queue_limit_run())
        self.packer = Packer(site, self.policy, self.adapter, self.log_dir, self.workdir)
        self.book = LedgerBook(ledger, self.name, self.statuses_of, fetch=self.fetch_quietly)
        self.submitter = Submitter(self.adapter, site, ledger, self.workdir, logger, stop, run=self.run,
                                   user=self.remote.user if self.remote else None)
        self.judge = polling.Judge(self.adapter.NAME)
        self.status_failures = 0
        self.retry_at = 0.0          # after a failed status query: not asked again before this
        self.hold_until = 0.0        # after a per-user-limit rejection
        self.limit_backoff = 10.0

    def queue_limit_run(self):
        return (lambda argv: self.remote.ssh.run(argv, timeout=20)) if self.remote else None

    def statuses_of(self, jobs: dict) -> dict:
        """{external id: {'log_path': …}} -> {external id: JobStatus} (executors/polling.py);
        RuntimeError when the scheduler (or the site's host) gave no usable answer."""
        if self.remote is None:
            return polling.statuses_of(self.adapter, jobs, str(self.project), run_command)
        try:
            return polling.statuses_of(self.adapter, jobs, str(self.project), self.run, self.remote.read_texts)
        except MdflowError as error:  # the host key changed meanwhile: no answer, said once per poll
            raise RuntimeError(str(error)) from None

    def stage_in(self, files: list) -> None:
        if self.remote:
            self.remote.stage_in(files)

    def fetch(self, files: list) -> list:
        """Bring what a remote site wrote of `files` here; those it lacks. Raises when unreachable."""
        return self.remote.stage_out(files) if self.remote else [f for f in files if not Path(f).exists()]

    def fetch_quietly(self, files: list) -> None:
        """As fetch, for the ledger's checks: an unreachable site leaves the files absent here
        (the job is then not taken for done: at worst run again, never half-read)."""
        if self.remote:
            try:
                self.remote.stage_out(files)
            except (RuntimeError, MdflowError) as error:
                self.logger.warning(f"site {self.name}: could not fetch outputs ({error})")

    def place_script(self, script: Path) -> str:
        """The path the scheduler is given: the script itself here, its copy on a remote site."""
        return self.remote.write_script(script) if self.remote else str(script)

    def cancel(self, ids: list) -> list:
        """Cancel batch jobs; the warnings of commands that reported a problem."""
        warnings = []
        for argv in self.adapter.cancel_argvs(ids):
            answer = self.run(argv)
            if answer.returncode != 0:
                warnings.append(answer.stderr.strip()[:200])
        return warnings
