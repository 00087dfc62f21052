"""The MD protocol through the real workflow: equilibration stages run per replica before production
(NPT stages only for explicit solvent), production continues from the last stage, NPT production lets the
box breathe, and the report describes the protocol."""

import json

import pytest
import yaml

from conftest import make_project, run_mdflow

pytestmark = pytest.mark.campaign

SHEET = ("name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
         "ala-water\tresources/alanine-dipeptide.pdb\tamber14\texplicit\t300\t1\t0.4\t0.2\t12\n"
         "ala-implicit\tresources/alanine-dipeptide.pdb\tamber99sbildn\timplicit\t300\t1\t0.4\t0.2\t11\n")


def test_stages_run_before_production_and_the_report_says_so(tmp_path):
    project = make_project(tmp_path / "project")
    (project / "config/ci_systems.tsv").write_text(SHEET)
    config = yaml.safe_load((project / "config/ci.yaml").read_text())
    config.update(production_ensemble="auto", equilibration=[
        {"name": "heat", "ps": 0.2, "heat_from_k": 250, "restraint_kj_mol_nm2": 1000},
        {"name": "density", "ps": 0.2, "ensemble": "NPT"}])
    (project / "config/ci.yaml").write_text(yaml.safe_dump(config))
    run_mdflow(project, "--profile", "ci", check=True)

    results = project / "results-ci"
    assert sorted(p.name for p in (results / "ala-water/rep0").glob("eq*.csv")) == ["eq00.csv", "eq01.csv"]
    assert sorted(p.name for p in (results / "ala-implicit/rep0").glob("eq*.csv")) == ["eq00.csv"]  # no NPT
    stage = json.loads((results / "ala-water/rep0/eq00.json").read_text())["segment"]["stage"]
    assert stage["heat_from_k"] == 250 and stage["restraint_k_kj_mol_nm2"] == 1000 and stage["seed_stream"] == "eq"
    # production starts from the last stage: its first frame is not the minimized box, and the box breathes
    volumes = {line.split(",")[6] for line in (results / "ala-water/rep0/seg000.csv").read_text().splitlines()[1:]}
    assert len(volumes) > 1
    summary = json.loads((results / "ala-water/analysis/summary.json").read_text())
    assert summary["protocol"]["production"] == "NPT"
    assert [s["name"] for s in summary["protocol"]["replicas"]["0"]] == ["heat", "density"]
    assert 0.8 < summary["protocol"]["replicas"]["0"][1]["end_density_g_cm3"] < 1.1
    report = (results / "report.html").read_text()
    assert "Each replica was equilibrated in 2 stages: heat: 0.2 ps, NVT, heated from 250 K" in report
    assert "in the NPT ensemble at 300 K and 1 bar (Monte Carlo barostat)" in report
