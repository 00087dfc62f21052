"""Shared fixtures: a throw-away copy of the demo project, and running the real `mdflow` CLI on it."""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# The suite interrupts the controllers it starts with SIGINT and SIGHUP. A launcher that ignores them
# (a script's `pytest &` ignores SIGINT, nohup SIGHUP) hands that on to every child, and mdflow keeps
# an inherited "ignore" (the nohup convention, mdflow/interrupt.py): with the defaults here the
# children start with the defaults again.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGHUP, signal.SIG_DFL)

REPO = Path(__file__).resolve().parents[1]
MDFLOW = [sys.executable, "-m", "mdflow.cli"]


def make_project(destination: Path) -> Path:
    """A project directory like a user's: config/ and resources/ copied from the repo."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("config", "resources"):
        shutil.copytree(REPO / name, destination / name)
    return destination


def run_mdflow(project: Path, *args, check=False, timeout=600, env_extra=None, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENMM_CPU_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    result = subprocess.run(
        [*MDFLOW, *args], cwd=project, capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"mdflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


EMULATED_QUEUE = {"pbs": "debug", "cobalt": "default"}  # a queue each emulator's default config has


def emulator_env(tmp_path: Path, scheduler: str, path: str | None = None) -> dict:
    """Environment that puts the PBS Pro or Cobalt emulator (tests/emulators) first on PATH, with its
    state in tmp_path; `path` is the PATH to prepend to (default: this process's)."""
    return {"PATH": f"{REPO / 'tests/emulators' / scheduler / 'bin'}{os.pathsep}{path or os.environ['PATH']}",
            "PBS_EMULATOR_STATE": str(tmp_path / "pbs-state"), "COBALT_EMULATOR_STATE": str(tmp_path / "cobalt-state")}


def planned_jobs(dry_run_output: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job (checkpoints included) in Snakemake's dry-run listing (`mdflow -n
    --list-jobs`; without it mdflow prints a summary), 'all' excluded."""
    jobs, rule = [], None
    for line in dry_run_output.splitlines():
        match = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line.strip())
        if match:
            rule = match.group(1)
            if rule != "all":
                jobs.append((rule, {}))
            continue
        match = re.match(r"^wildcards: (.*)$", line.strip())
        if match and rule != "all" and jobs:
            jobs[-1] = (rule, dict(item.split("=", 1) for item in match.group(1).split(", ")))
    return jobs


def write_sheet(project: Path, rows: list[dict], name: str = "config/ci_systems.tsv") -> None:
    columns = list(rows[0])
    lines = ["\t".join(columns)] + ["\t".join(str(row[c]) for c in columns) for row in rows]
    (project / name).write_text("\n".join(lines) + "\n")


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project")


REFERENCE_HERE = "config/reference_here.json"


@pytest.fixture(scope="session")
def ci_run_here(tmp_path_factory) -> Path:
    """The ci campaign, run once per test session on the local profile, with REFERENCE_HERE written from it
    (`verify --update`). Checks that need this machine's own numbers compare with it: the committed
    config/ci_reference.json may come from another CPU, where only tolerances hold."""
    project = make_project(tmp_path_factory.mktemp("ci_run_here") / "project")
    run_ci_and_write_reference(project)
    return project


def run_ci_and_write_reference(project: Path) -> Path:
    """Run the project's campaign on the ci profile, then write REFERENCE_HERE from it; its path."""
    run_mdflow(project, "--profile", "ci", check=True)
    run_mdflow(project, "verify", "--profile", "ci", "--update", "--reference", REFERENCE_HERE, check=True)
    return project / REFERENCE_HERE


@pytest.fixture(scope="session")
def slurm() -> str:
    """A real Slurm on this host (tests/slurm/start_slurm.sh); skip with its reason when impossible."""
    result = subprocess.run(["bash", str(REPO / "tests/slurm/start_slurm.sh")], capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        pytest.skip(f"no real Slurm here: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return "debug"


SSHD_STATE = Path("/tmp/mdflow-sshd")
SSHD_PORT = 2222


@pytest.fixture(scope="session")
def sshd() -> dict:
    """A real OpenSSH server on 127.0.0.1:2222 with two site accounts (tests/ssh/start_sshd.sh):
    {'port', 'state', 'options' (ssh_options lines a site profile needs), 'python' (the sites' own)};
    skip with its reason when impossible."""
    result = subprocess.run(["bash", str(REPO / "tests/ssh/start_sshd.sh")], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "MDFLOW_TEST_SSH_STATE": str(SSHD_STATE),
                                              "MDFLOW_TEST_SSH_PORT": str(SSHD_PORT)})
    if result.returncode != 0:
        pytest.skip(f"no sshd here: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return {"port": SSHD_PORT, "state": SSHD_STATE, "python": str(SSHD_STATE / "site-python/bin/python"),
            "options": [f"IdentityFile={SSHD_STATE}/id_ed25519", "IdentitiesOnly=yes",
                        f"UserKnownHostsFile={SSHD_STATE}/known_hosts"]}


def add_profile(project: Path, name: str, site: str, options: str = "") -> None:
    directory = project / "profiles" / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mdflow.yaml").write_text(site)
    if options:
        (directory / "config.v9+.yaml").write_text(options)


def shim_env(tmp_path: Path, names, plan: dict | None = None) -> dict:
    """PATH with counting/fault-injecting wrappers (tests/shims/shim.py) for `names`."""
    sys.path.insert(0, str(REPO / "tests/shims"))
    from shim import install

    bin_dir = install(tmp_path / "shim-bin", names)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SHIM_LOG": str(tmp_path / "shim.log")}
    if plan:
        (tmp_path / "plan.json").write_text(__import__("json").dumps(plan))
        env["SHIM_PLAN"] = str(tmp_path / "plan.json")
    return env


def shim_calls(tmp_path: Path, name: str) -> list[str]:
    log = tmp_path / "shim.log"
    return [line for line in log.read_text().splitlines() if line.split(" ", 1)[0] == name] if log.exists() else []


SHORT_TASKS = REPO / "tests/workflows/short_tasks/Snakefile"
RUN_WITH_MDFLOW_EXECUTOR = ("import sys, mdflow.cli as c, snakemake.cli as s; c.register_executor(); "
                            "sys.argv = ['snakemake'] + sys.argv[1:]; s.main()")


def run_short_tasks(workdir: Path, site_yaml: str, config: dict, *args, env_extra=None, timeout=600,
                    snakefile: Path = SHORT_TASKS):
    """tests/workflows/short_tasks (or another plain Snakefile) through mdflow's executor with the
    site `site_yaml`."""
    workdir.mkdir(parents=True, exist_ok=True)
    site = workdir / "site"
    site.mkdir(exist_ok=True)
    (site / "mdflow.yaml").write_text(site_yaml)
    env = {**os.environ, "MDFLOW_SITE_PROFILE": str(site), **(env_extra or {})}
    argv = [sys.executable, "-c", RUN_WITH_MDFLOW_EXECUTOR, "--snakefile", str(snakefile), "--executor", "mdflow",
            "--jobs", "1000", "--seconds-between-status-checks", "1", "--latency-wait", "10",
            *(["--config", *[f"{k}={v}" for k, v in config.items()]] if config else []), *args]
    return subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def task_times(workdir: Path) -> dict:
    """{task: (start, end)} from the files the short tasks write."""
    times = {}
    for start in (workdir / "out").glob("*.start"):
        end = start.with_suffix(".end")
        if end.exists():
            times[start.stem] = (float(start.read_text()), float(end.read_text()))
    return times


def assert_job_ids_in_provenance(project: Path, ledger_entries, scheduler: str) -> None:
    """Every pulled segment's provenance names the batch job that simulated it, as the ledger recorded it
    (the ci campaign: results-ci/)."""
    import json

    simulated = {(e.wildcards["system"], e.wildcards["replica"], e.wildcards["segment"]): e.external_id
                 for e in ledger_entries if e.rule == "simulate"}
    assert simulated
    for (system, replica, segment), external_id in simulated.items():
        record = json.loads((project / f"results-ci/{system}/rep{replica}/seg{segment}.provenance.json").read_text())
        assert record["upstream"]["scheduler_job"] == {"scheduler": scheduler, "job_id": external_id}


def slurm_jobs(project: Path) -> list[dict]:
    """Every job Slurm still remembers (MinJobAge) that ran in `project`."""
    try:
        out = subprocess.run(["scontrol", "--oneliner", "show", "job"], capture_output=True, text=True).stdout
    except FileNotFoundError:  # no Slurm here
        return []
    jobs = []
    for line in out.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if fields.get("WorkDir") == str(project):
            jobs.append(fields)
    return jobs


@pytest.fixture(scope="session")
def sge() -> str:
    """A real Son of Grid Engine on this host (tests/sge/start_sge.sh) and the drmaa package; skip
    with the reason when either is missing. The queue jobs go to."""
    import importlib.util

    if importlib.util.find_spec("drmaa") is None:  # not imported here: libdrmaa loads in mdflow's helper process
        pytest.skip("no drmaa Python package: pip install -e '.[test]'")
    result = subprocess.run(["bash", str(REPO / "tests/sge/start_sge.sh")], capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        pytest.skip(f"no real Grid Engine here: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return "all.q"
