"""A structure with a long chain gap through the real CLI: refused up front in one line that names the
gap and the sheet column; with `gaps` set, setup runs and setup.json and the job log say what it did."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO, run_mdflow, write_sheet

pytestmark = pytest.mark.campaign
FRAGMENT = REPO / "tests/data/structures/1bhl_gap_fragment.pdb"  # 1BHL 120-170, 16-residue gap 138-153


def _sheet(project: Path, **extra) -> None:
    shutil.copy(FRAGMENT, project / "resources/gap.pdb")
    write_sheet(project, [{"name": "bhl", "structure": "resources/gap.pdb", "forcefield": "amber99sbildn",
                           "solvent": "implicit", "temperature_k": 300, "replicas": 1, "length_ps": 0.2,
                           "segment_ps": 0.2, "seed": 3, **extra}])


def test_gap_is_refused_up_front_naming_the_gap_and_the_column(project):
    _sheet(project)
    result = run_mdflow(project, "--profile", "ci")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr
    for words in ("mdflow: error: config/ci_systems.tsv line 2 (bhl), structure resources/gap.pdb",
                  "16 residues missing in chain A between GLN 137 and MET 154", "column 'gaps'", "'model'", "'cap'"):
        assert words in lines[0], words
    assert not (project / "results-ci").exists()


def test_with_gaps_cap_setup_runs_and_says_what_it_did(project):
    _sheet(project, gaps="cap")
    target = "results-ci/bhl/setup/setup.json"
    run_mdflow(project, "--profile", "ci", target, "--config", "minimize_iterations=20", check=True)
    preparation = json.loads((project / target).read_text())["preparation"]
    assert [(g["chain"], g["after"], g["before"], g["length"], g["action"]) for g in preparation["gaps"]["found"]] == [
        ("A", "GLN 137", "MET 154", 16, "cap")]
    assert preparation["nonstandard_replaced"] == [{"residue": "A CAS 130", "from": "CAS", "to": "CYS"}]
    topology = (project / "results-ci/bhl/setup/topology.pdb").read_text()
    assert " ACE A 153" in topology and " NME A 138" in topology
    log = (project / "logs/ci/setup/bhl.log").read_text()
    assert "preparation: Chain A gap between GLN 137 and MET 154: 16 residues missing" in log
    assert "minimizing: iteration 1 " in log and "minimized: " in log


def test_with_gaps_model_the_loop_is_built_and_the_campaign_runs(project):
    _sheet(project, gaps="model")
    run_mdflow(project, "--profile", "ci", check=True, timeout=900)  # (20 minimization rounds: NaN, said in one line)
    setup = project / "results-ci/bhl/setup"
    preparation = json.loads((setup / "setup.json").read_text())["preparation"]
    assert [(g["after"], g["before"], g["length"], g["action"]) for g in preparation["gaps"]["found"]] == [
        ("GLN 137", "MET 154", 16, "model")]
    numbers = sorted({int(line[22:26]) for line in (setup / "topology.pdb").read_text().splitlines()
                      if line.startswith("ATOM")})
    assert set(range(138, 154)) <= set(numbers)  # PDBFixer built the 16 missing residues
    summary = json.loads((project / "results-ci/bhl/analysis/summary.json").read_text())
    assert summary["replicas"]["0"]["frames"] > 0  # and it simulated from the modelled structure
