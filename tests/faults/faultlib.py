"""Shared pieces of the fault cases (issue 6): a campaign long enough to be caught mid-step, its
undisturbed reference, starting/killing controllers at exact points, and the final checks.

"Results identical to an undisturbed run" is `mdflow verify --profile ci` against a reference that
`mdflow verify --update` wrote from an undisturbed run of the same sheet (exact sha256 of every
pulled trajectory and energy table: the sheet is implicit solvent on CPU with one thread and
DeterministicForces, so a resumed run must repeat bit for bit).
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MDFLOW, REPO, make_project, run_ci_and_write_reference, run_mdflow, slurm_jobs  # noqa: F401 (re-exported to the fault tests)

HOLD_DIR = Path(__file__).resolve().parent / "hold"
# villin (implicit, bitwise reproducible): 2 segments of 200 steps (≈ 2–8 s each here), a checkpoint
# every 50 steps (config/ci.yaml), so a kill mid-segment has checkpoints to resume from.
SHEET = ("name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
         "villin\tresources/villin.pdb\tamber99sbildn\timplicit\t300\t1\t0.8\t0.4\t13\n")
STEPS_PER_SEGMENT = 200
SEGMENTS = ("000", "001")


def expect(text: str):
    """The scorecard's `expected` column (benchmarks/faults.py reads a test's `expected` attribute)."""
    def mark(test):
        test.expected = text
        return test
    return mark


def fault_project(path: Path, sheet: str = SHEET) -> Path:
    project = make_project(path)
    (project / "config/ci_systems.tsv").write_text(sheet)
    return project


def undisturbed_reference(base: Path) -> Path:
    """A reference written by `verify --update` from an undisturbed local run of SHEET
    (made once per test session, kept under pytest's base temp dir)."""
    reference = base / "undisturbed" / "reference.json"
    if not reference.exists():
        project = fault_project(base / "undisturbed" / "project")
        shutil.copyfile(run_ci_and_write_reference(project), reference)
    return reference


def assert_identical_to_undisturbed(project: Path, reference: Path, profile_args=("--profile", "ci")) -> str:
    shutil.copyfile(reference, project / "config/ci_reference.json")
    result = run_mdflow(project, "verify", *profile_args)
    assert result.returncode == 0, f"results differ from the undisturbed run:\n{result.stdout}{result.stderr}"
    assert "skipped" not in result.stdout  # the exact checks really ran
    return result.stdout


def env_for(hold: str | None = None, mark: Path | None = None, extra: dict | None = None) -> dict:
    env = {**os.environ, "OPENMM_CPU_THREADS": "1", "PYTHONUNBUFFERED": "1", **(extra or {})}
    if hold:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOLD_DIR), env.get("PYTHONPATH", "")) if p)
        env["MDFLOW_FAULT_HOLD"] = hold
        env["MDFLOW_FAULT_HOLD_MARK"] = str(mark)
    return env


def start_controller(project: Path, *args, hold: str | None = None, mark: Path | None = None,
                     env_extra: dict | None = None) -> subprocess.Popen:
    """`mdflow ARGS` in its own process group (so the test can kill it and, locally, its jobs)."""
    log = open(project / f"controller-{time.time_ns()}.log", "w")
    process = subprocess.Popen([*MDFLOW, *args], cwd=project, env=env_for(hold, mark, env_extra),
                               start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    STARTED.append((project, process))
    return process


STARTED: list = []


@pytest.fixture(autouse=True)
def _no_leftovers():
    """After each case (passed or failed): the controllers it started are gone, and so are the batch
    jobs of its project (a failed case must not leave jobs blocking the shared Slurm)."""
    yield
    projects = set()
    while STARTED:
        project, process = STARTED.pop()
        projects.add(project)
        if process.poll() is None:
            kill_group(process)
    for project in projects:
        alive = [j["JobId"] for j in slurm_jobs(project) if j.get("JobState") in ("PENDING", "RUNNING")]
        if alive:
            subprocess.run(["scancel", *alive], capture_output=True)


def wait_for(predicate, timeout=180, what="condition", process: subprocess.Popen | None = None, poll_s=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            err_path = getattr(process, "err_path", None)  # where a caller sent its stderr, when it did
            raise AssertionError(f"mdflow exited ({process.returncode}) before {what}"
                                 + (f":\n{err_path.read_text()}" if err_path else ""))
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


def held(mark: Path):
    """The hold mark's content once a step is frozen at its injection point."""
    try:
        return json.loads(mark.read_text())
    except (OSError, ValueError):
        return None


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the controller's process group: the controller and every local job it started
    (batch jobs run under the scheduler, outside the group, and survive)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def segment_steps(project: Path, segment: str, replica: int = 0, system: str = "villin") -> int:
    progress = project / f"scratch/ci/{system}/rep{replica}/seg{segment}.partial/progress.json"
    try:
        return json.loads(progress.read_text())["steps"]
    except (OSError, ValueError, KeyError):
        return 0


def stray_temp_files(directory: Path) -> list[Path]:
    """Temp files of mdflow's atomic writes (`.<name>.tmp-<pid>`) left behind."""
    return sorted(p for p in directory.rglob(".*.tmp*") if p.is_file())


def no_mdflow_left(project: Path) -> list[str]:
    """Command lines of processes still working in `project` (should be none after a run)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if Path(os.readlink(proc / "cwd")) == project:
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found




