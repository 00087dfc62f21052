"""Provenance beside every result: what made it, where, from which inputs, at what cost.

`build()` is pure (everything it records is passed in) so it can be tested; the functions above it
read the facts from this process and machine. Peak memory is the step process's peak resident set
(ru_maxrss: psutil has no peak on Linux), so it includes the Python interpreter and Snakemake's
script preamble (~100 MB), not just OpenMM.
"""

import os
import platform as host_platform
import resource
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mdflow.io_atomic import sha256_file

PACKAGES = ("mdflow", "snakemake", "openmm", "pdbfixer", "mdtraj", "numpy")


def scheduler_job(environ) -> dict | None:
    """{'scheduler', 'job_id'} of the batch job this process runs in, from the scheduler's variables.
    Each adapter names its variable (SchedulerAdapter.JOB_ID_VAR); a front end that runs on top of
    another scheduler (PBS or Cobalt on Slurm, at some sites and in our emulators) is asked first."""
    from mdflow.executors.adapters import job_id_variables  # plain data: no Snakemake, no science code

    for scheduler, variable in job_id_variables():
        if environ.get(variable):
            return {"scheduler": scheduler, "job_id": environ[variable]}
    return None


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": host_platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(directory: Path | None) -> dict | None:
    """Commit of the git checkout holding `directory` (and whether it has uncommitted changes); None
    for no directory (an installed mdflow: its version in `versions` says which workflow ran)."""
    if directory is None:
        return None
    def git(*args):
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": head.stdout.strip(), "dirty": dirty}


def file_digests(paths) -> dict:
    """{path: sha256} of every file (directories and missing paths are skipped)."""
    return {str(p): sha256_file(p) for p in map(Path, paths) if Path(p).is_file()}


@dataclass(frozen=True)
class Usage:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


class Meter:
    """Wall time, CPU time (this process and its children) and peak memory of a step."""

    def __enter__(self):
        import psutil

        self._process = psutil.Process()
        self._started = time.perf_counter()
        self._cpu = self._cpu_now()
        self.started_at = time.time()
        return self

    def _cpu_now(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    def __exit__(self, *exc):
        self.usage = Usage(
            wall_s=round(time.perf_counter() - self._started, 3),
            cpu_s=round(self._cpu_now() - self._cpu, 3),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        )
        return False


def build(*, step: str, wildcards: dict, site: str | None, inputs: dict, outputs: dict, usage: Usage,
          started_at: float, versions: dict, workflow_git: dict | None, host: str, job: dict | None,
          details: dict | None) -> dict:
    """The provenance record of one step. `details` is what the step itself reported (platform, seeds …)."""
    details = dict(details or {})
    return {
        "step": step,
        "wildcards": dict(wildcards),
        "site": site,
        "host": host,
        "scheduler_job": job,
        "platform": details.pop("platform", None),
        "seeds": details.pop("seeds", {}),
        "versions": versions,
        "workflow_git": workflow_git,
        "inputs_sha256": inputs,
        "outputs_sha256": outputs,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
        "wall_s": usage.wall_s,
        "cpu_s": usage.cpu_s,
        "peak_rss_mb": usage.peak_rss_mb,
        "details": details,
    }


def collect(*, step: str, wildcards: dict, site: str | None, input_files, output_files, meter: Meter,
            details: dict | None) -> dict:
    """`build()` with the facts of this process: versions, git commit of the workflow, host, job id."""
    from mdflow.paths import SOURCE_ROOT

    return build(
        step=step, wildcards=wildcards, site=site, inputs=file_digests(input_files),
        outputs=file_digests(output_files), usage=meter.usage, started_at=meter.started_at,
        versions=package_versions(), workflow_git=git_commit(SOURCE_ROOT), host=socket.gethostname(),
        job=scheduler_job(os.environ), details=details,
    )
