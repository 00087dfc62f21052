"""Bad input through the real CLI: one clear line, exit != 0, no traceback, computed results intact."""

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import make_project, run_mdflow

pytestmark = pytest.mark.campaign
SHEET = "config/ci_systems.tsv"
HEADER = "name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
ROW = "ala\tresources/alanine-dipeptide.pdb\tamber99sbildn\timplicit\t300\t1\t0.2\t0.2\t3\n"


def _edit(path, old, new):
    def apply(project):
        file = project / path
        file.write_text(file.read_text().replace(old, new))
    return apply


def _write(path, text):
    def apply(project):
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    return apply


# name -> (edit, extra CLI args, words the one-line message must contain)
CASES = {
    "malformed pdb": (_edit("resources/alanine-dipeptide.pdb", "   2.000   2.090", "   2.0x0   2.090"), [],
                      ["resources/alanine-dipeptide.pdb line 2", "columns 31-54"]),
    "unknown force field": (_edit(SHEET, "amber99sbildn", "opls"), [], ["line 2 (ala)", "'forcefield'", "'opls'", "amber14"]),
    "non-positive length": (_edit(SHEET, "\t0.2\t0.2\t", "\t0\t0.2\t"), [], ["'length_ps'", "0.0", "> 0"]),
    "missing structure file": (_edit(SHEET, "alanine-dipeptide.pdb", "gone.pdb"), [], ["'structure'", "resources/gone.pdb", "not found"]),
    "malformed sheet": (_edit(SHEET, "\t3\n", "\t3\textra\n"), [], [SHEET, "line 2", "cells"]),
    "unknown profile": (lambda p: None, ["--profile", "nonesuch"], ["unknown profile 'nonesuch'"]),
    "bad yaml": (_write("config/ci.yaml", "systems: [oops\n"), [], ["config/ci.yaml", "not valid YAML"]),
    "unknown config key": (_write("config/ci.yaml", f"systems: {SHEET}\nsteps: 5\n"), [], ["unknown key 'steps'"]),
    "bad --config value": (lambda p: None, ["--config", "timestep_fs=fast"], ["--config", "'timestep_fs'", "'fast'"]),
    "unknown profile key": (_write("profiles/ci/mdflow.yaml", "extends: local\nconfigfile: config/ci.yaml\nqeue: debug\n"), [],
                            ["profiles/ci/mdflow.yaml", "unknown key 'qeue'"]),
    "unknown scheduler": (_write("profiles/ci/mdflow.yaml", "scheduler: lsf\nconfigfile: config/ci.yaml\n"), [],
                          ["'scheduler'", "'lsf'", "slurm"]),
    "results of another campaign": (_write("results/.campaign.json", '{"campaign": "demo"}\n'),
                                    ["--profile", "ci", "--config", "results=results"],
                                    ["results/ was made by campaign 'demo'", "this is campaign 'ci'", "--adopt-results"]),
    "sheet is a directory": (lambda p: (p / SHEET).unlink() or (p / SHEET).mkdir(), [], [SHEET, "cannot be read"]),
    "space-separated sheet": (_write(SHEET, HEADER.replace("\t", " ") + ROW.replace("\t", " ")), [],
                              [f"{SHEET} line 1: columns are separated by spaces; expected tabs (a .tsv) or commas (a .csv)"]),
    "unknown column in the header": (_write(SHEET, HEADER.replace("\n", "\tcolour\n") + ROW.replace("\n", "\tred\n")),
                                     [], [f"{SHEET} line 1: unknown column 'colour'"]),
}


def digest_tree(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("bad") / "project")
    (project / SHEET).write_text(HEADER + ROW)
    run_mdflow(project, "--profile", "ci", check=True)
    return project


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_one_line_no_traceback_results_intact(case, computed, tmp_path):
    edit, args, words = CASES[case]
    project = tmp_path / "project"
    shutil.copytree(computed, project, symlinks=True)
    before = digest_tree(project / "results-ci")
    edit(project)
    result = run_mdflow(project, *(args or ["--profile", "ci"]))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("mdflow: error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert digest_tree(project / "results-ci") == before
