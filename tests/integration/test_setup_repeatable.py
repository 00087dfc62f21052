"""Issue 19: setup and the whole ci campaign repeat byte for byte on one machine, also when other work
competes for the CPU (that is when the timing of OpenMM's CPU threads varies). Before the fix, PDBFixer
and Modeller relaxed the hydrogens they added on OpenMM's default platform with every thread, so
alanine dipeptide's setup differed from run to run under load."""

import csv
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from conftest import MDFLOW, REPO, make_project
from run_compare import comparable, sha256

pytestmark = pytest.mark.campaign

SETUP_FILES = ("system.xml", "topology.pdb", "minimized.xml", "setup.json")
COPIES = 3
# Fields that measure the run rather than the physics: wall and CPU time, speed, memory, start time.
PREPARE = """
import sys
from pathlib import Path
from mdflow.md.setup import prepare
structure, forcefield, solvent, seed, ph, platform, threads, deterministic, out = sys.argv[1:]
out = Path(out)
out.mkdir(parents=True)
prepare(structure, forcefield, solvent, float(ph), 1.0, 0.1, 100, platform, int(threads),
        out / "system.xml", out / "topology.pdb", out / "minimized.xml", out / "setup.json",
        deterministic_forces=deterministic == "True", seed=int(seed))
"""


def user_env() -> dict:
    """The environment of a user's shell: no OPENMM_CPU_THREADS pinning OpenMM to one thread (the
    other tests set it), so only mdflow's own settings can make the result repeatable."""
    return {key: value for key, value in os.environ.items() if key != "OPENMM_CPU_THREADS"}


@contextmanager
def cpu_load(processes: int = 2):
    """Busy loops on every core while the block runs."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_setup_of_every_ci_system_repeats_under_load(tmp_path):
    settings = yaml.safe_load((REPO / "config/ci.yaml").read_text())
    with open(REPO / "config/ci_systems.tsv", newline="") as sheet:
        systems = list(csv.DictReader(sheet, delimiter="\t"))
    runs = []
    with cpu_load():
        for system in systems:
            for copy in range(COPIES):  # the copies of one system run at the same time
                out = tmp_path / system["name"] / str(copy)
                argv = [sys.executable, "-c", PREPARE, str(REPO / system["structure"]), system["forcefield"],
                        system["solvent"], system["seed"], system["ph"], settings["platform"],
                        str(settings["threads"]), str(settings["deterministic_forces"]), str(out)]
                runs.append((system["name"], out, subprocess.Popen(argv, env=user_env(), stderr=subprocess.PIPE,
                                                                   text=True)))
        for name, _, process in runs:
            _, stderr = process.communicate(timeout=600)
            assert process.returncode == 0, f"setup of {name} failed: {stderr}"
    for system in systems:
        outs = [out for name, out, _ in runs if name == system["name"]]
        for filename in SETUP_FILES:
            digests = {sha256(out / filename) for out in outs}
            assert len(digests) == 1, f"{system['name']}/{filename}: {len(digests)} different results in {COPIES} setups"


def test_two_ci_runs_are_byte_identical_except_wall_time(ci_run_here, tmp_path):
    project = make_project(tmp_path / "project")
    with cpu_load():
        result = subprocess.run([*MDFLOW, "--profile", "ci"], cwd=project, env=user_env(), capture_output=True,
                                text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    compared = 0
    for top in ("results-ci", "scratch/ci"):
        first = {p.relative_to(ci_run_here): p for p in (ci_run_here / top).rglob("*") if p.is_file()}
        second = {p.relative_to(project): p for p in (project / top).rglob("*") if p.is_file()}
        assert sorted(first) == sorted(second)
        for relative, path in first.items():
            assert comparable(path) == comparable(second[relative]), f"{relative} differs between two ci runs"
            compared += 1
    assert compared > 50
