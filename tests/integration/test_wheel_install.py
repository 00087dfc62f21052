"""mdflow installed from a wheel (not a checkout) runs a campaign in a directory `mdflow init` wrote.

The wheel is built offline from a copy of this checkout and installed with --no-deps into a fresh
venv that sees this venv's packages (openmm, snakemake, ...) through a .pth file, so the test needs no
network; the mdflow it runs is the wheel's (its own site-packages comes first on sys.path)."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.campaign

NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", "results*", "scratch", "logs", ".snakemake", ".mdflow", "build",
                                    "*.egg-info", "__pycache__", ".pytest_cache", "dist")


def run(argv, cwd, timeout=900, **env_extra):
    env = {**os.environ, "OPENMM_CPU_THREADS": "1", **env_extra}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{' '.join(map(str, argv))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding mdflow from a wheel."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", root / "dist", source],
        cwd=root)
    wheel = next((root / "dist").glob("mdflow-*.whl"))
    run([sys.executable, "-m", "venv", root / "venv"], cwd=root)
    venv_site = next((root / "venv/lib").glob("python3*/site-packages"))
    (venv_site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([root / "venv/bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], cwd=root)
    return root / "venv/bin"


def test_the_wheel_ships_workflow_profiles_and_template(installed):
    names = zipfile.ZipFile(next(installed.parent.parent.glob("dist/mdflow-*.whl"))).namelist()
    for needed in ("mdflow/workflow/Snakefile", "mdflow/workflow/rules/simulate.smk",
                   "mdflow/workflow/scripts/simulate.py", "mdflow/workflow/schemas/config.schema.yaml",
                   "mdflow/site_profiles/local/mdflow.yaml", "mdflow/site_profiles/stampede/config.v9+.yaml",
                   "mdflow/campaign_template/config/config.yaml", "mdflow/campaign_template/.gitignore",
                   "mdflow/executors/templates/slurm.sh.j2"):
        assert needed in names


def test_init_then_ci_campaign_from_the_wheel(installed, tmp_path):
    mdflow = installed / "mdflow"
    located = run([installed / "python", "-c", "import mdflow; print(mdflow.__file__)"], cwd=tmp_path).stdout
    assert "site-packages" in located and str(REPO) not in located

    run([mdflow, "init", "study"], cwd=tmp_path)
    study = tmp_path / "study"
    dry = run([mdflow, "-n"], cwd=study)
    assert "setup" in dry.stdout and "simulate" in dry.stdout and "equilibrate" in dry.stdout

    # the ci campaign, run in the new directory by the installed mdflow
    for name in ("config/ci.yaml", "config/ci_systems.tsv", "config/ci_reference.json", "resources/villin.pdb"):
        shutil.copy(REPO / name, study / name)
    run([mdflow, "--profile", "ci"], cwd=study)
    run([mdflow, "verify", "--profile", "ci"], cwd=study)
    record = (study / "results-ci/ala-implicit/rep0/seg001.provenance.json").read_text()
    assert '"workflow_git": null' in record
    assert not any(study.rglob("Snakefile")) and not (study / "profiles").exists()


def test_plain_snakemake_finds_the_mdflow_executor_and_runs_a_foreign_workflow_on_slurm(installed, slurm, tmp_path):
    """`snakemake --executor mdflow --mdflow-profile slurm`: any workflow, no mdflow command, real Slurm."""
    python = installed / "python"
    options = run([python, "-m", "snakemake", "--help"], cwd=tmp_path).stdout
    assert "--mdflow-profile" in options
    snakefile = REPO / "tests/workflows/short_tasks/Snakefile"
    run([python, "-m", "snakemake", "--snakefile", snakefile, "--executor", "mdflow", "--mdflow-profile", "slurm",
         "--jobs", "5", "--config", "tasks=3", "sleep=0.1", "runtime=1"], cwd=tmp_path, timeout=300)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.txt")) == ["0.txt", "1.txt", "2.txt"]
    import sqlite3

    with sqlite3.connect(tmp_path / ".mdflow/ledger.sqlite") as ledger:
        assert ledger.execute("select count(*) from jobs").fetchone()[0] >= 1  # submitted through the ledger
