"""Reproduction and provenance on a real ci run: `mdflow verify` against the committed reference
(config/ci_reference.json; exact where it was written on a machine like this one, within widened
tolerances elsewhere), a perturbed result caught against this machine's own reference, and the
provenance beside every result."""

import hashlib
import json
import shutil
import socket
import subprocess
from importlib.metadata import version

import pytest

from conftest import REFERENCE_HERE, REPO, make_project, run_mdflow
from mdflow.md.simulate import derive_seed
from mdflow.verify import environment

pytestmark = pytest.mark.campaign


def committed_reference() -> dict:
    return json.loads((REPO / "config/ci_reference.json").read_text())


def written_here() -> bool:
    return committed_reference()["environment"] == environment("CPU")


def perturbed_copy(source, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(source, copy, symlinks=True)
    return copy


def test_fresh_ci_run_matches_the_committed_reference(ci_run_here):
    result = run_mdflow(ci_run_here, "verify", "--profile", "ci")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["quantity", "expected", "got", "criterion", "ok"]
    count = len(committed_reference()["quantities"])
    assert lines[-1].startswith(f"{count} of {count} quantities ok")
    exact = {line.split("/")[0] for line in lines if "sha256" in line and "exact" in line}
    assert exact == {"ala-implicit", "ala-water", "villin"}  # every system bit for bit, PME included
    if written_here():
        assert lines[-1] == f"{count} of {count} quantities ok"  # nothing skipped, nothing widened
    else:
        assert "skipped: reference from another environment" in result.stdout
        assert "tolerances widened" in lines[-1]


def test_a_run_on_other_arithmetic_passes_by_physics_not_bytes(tmp_path):
    """The stand-in for another CPU that this machine has: the whole ci campaign on OpenMM's Reference
    platform (double precision, other kernels and summation orders; trajectories diverge like on
    another machine). verify reads the platform from the results' records, skips the checksums, and
    the statistical and model checks pass (measured |z| at most 1.9 against the limit 4.09)."""
    project = make_project(tmp_path / "project")
    run_mdflow(project, "--profile", "ci", "--config", "platform=Reference", check=True)
    result = run_mdflow(project, "verify", "--profile", "ci")  # the config still says CPU
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if "skipped: reference from another environment" in line]
    assert skipped and all("sha256" in line for line in skipped)
    judged = [line for line in result.stdout.splitlines() if "limit" in line]
    assert len(judged) == 16  # per-replica means of energy, T, RMSD, Rg for 4 replicas


def test_altered_implicit_trajectory_fails_its_checksum(ci_run_here, tmp_path):
    project = perturbed_copy(ci_run_here, tmp_path)
    dcd = project / "results-ci/villin/rep0/seg001.dcd"
    data = bytearray(dcd.read_bytes())
    data[-5] ^= 0x01  # one bit of the last coordinate
    dcd.write_bytes(bytes(data))
    result = run_mdflow(project, "verify", "--profile", "ci", "--reference", REFERENCE_HERE)
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if "  FAIL" in line]
    assert [line.split()[0] for line in failed] == ["villin/rep0/seg001.dcd"]
    assert result.stdout.splitlines()[-1].endswith("1 FAILED")


def test_energy_far_from_the_reference_fails_in_words(ci_run_here, tmp_path):
    project = perturbed_copy(ci_run_here, tmp_path)
    for table in sorted((project / "results-ci/ala-water/rep0").glob("seg*.csv")):
        header, *rows = table.read_text().splitlines(keepends=True)
        shifted = []
        for row in rows:
            cells = row.split(",")
            cells[2] = f"{float(cells[2]) + 500.0:.6f}"  # every frame's potential 500 kJ/mol higher
            shifted.append(",".join(cells))
        table.write_text(header + "".join(shifted))
    result = run_mdflow(project, "verify", "--profile", "ci", "--reference", REFERENCE_HERE, "--skip-exact")
    assert result.returncode == 1
    failed = [line.split()[:2] for line in result.stdout.splitlines() if "  FAIL" in line]
    assert failed == [["ala-water/rep0", "potential_kj_mol.mean"]]  # statistics only: the checksums were skipped
    words = [line for line in result.stdout.splitlines() if line.startswith("ala-water/rep0: mean potential energy")]
    assert len(words) == 1 and "kJ/mol" in words[0] and "standard deviations apart" in words[0]
    exact = run_mdflow(project, "verify", "--profile", "ci", "--reference", REFERENCE_HERE)
    assert {line.split()[0] for line in exact.stdout.splitlines() if "  FAIL" in line} == {
        "ala-water/rep0", "ala-water/rep0/seg000.csv", "ala-water/rep0/seg001.csv"}


def test_missing_result_and_missing_reference_are_clear(ci_run_here, tmp_path):
    project = perturbed_copy(ci_run_here, tmp_path)
    (project / "results-ci/ala-implicit/rep1/seg001.csv").unlink()
    result = run_mdflow(project, "verify", "--profile", "ci")
    assert result.returncode == 1 and "missing from the results" in result.stdout
    update = run_mdflow(project, "verify", "--profile", "ci", "--update")
    assert update.returncode == 2 and "unfinished run" in update.stderr and "Traceback" not in update.stderr
    gone = run_mdflow(project, "verify", "--profile", "ci", "--reference", "config/nothing.json")
    assert gone.returncode == 2
    assert gone.stderr.strip().splitlines() == [
        "mdflow: error: config/nothing.json: reference not found; write one deliberately with `mdflow verify --update`"]


def test_update_rewrites_the_reference_deliberately(ci_run_here, tmp_path):
    project = perturbed_copy(ci_run_here, tmp_path)
    result = run_mdflow(project, "verify", "--profile", "ci", "--update", "--reference", "config/new.json", check=True)
    assert "wrote config/new.json" in result.stdout
    new = json.loads((project / "config/new.json").read_text())
    committed = committed_reference()["quantities"]
    assert [(q["quantity"], q["tolerance"]) for q in new["quantities"]] == [(q["quantity"], q["tolerance"]) for q in committed]
    assert new["environment"] == environment("CPU")
    if written_here():  # the same numbers, bit for bit, as the first run of the committed reference
        one_run = ("se", "g", "n", "from_frame")
        assert [q["expected"] if not q["tolerance"].get("statistical") else {k: q["expected"][k] for k in one_run}
                for q in new["quantities"]] == [
            q["expected"] if not q["tolerance"].get("statistical") else {k: q["expected"][k] for k in one_run}
            for q in committed]
    again = perturbed_copy(ci_run_here, tmp_path / "again")
    run_mdflow(project, "verify", "--profile", "ci", "--update", "--reference", "config/two.json", "--repeat",
               str(again), check=True)
    two = json.loads((project / "config/two.json").read_text())["quantities"]
    statistical = [q["expected"] for q in two if q["tolerance"].get("statistical")]
    assert statistical and all(s["runs"] == 2 and s["run_sd"] == 0.0 for s in statistical)  # a copy: no spread


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_provenance_beside_every_result(ci_run_here):
    results = ci_run_here / "results-ci"
    git_head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    records = {p.relative_to(results).as_posix(): json.loads(p.read_text()) for p in results.rglob("*provenance.json")}
    expected = {"report.provenance.json"} | {
        f"{s}/{part}" for s in ("ala-implicit", "ala-water", "villin") for part in ("setup/provenance.json", "analysis/provenance.json")
    } | {f"ala-implicit/rep{r}/seg{k}.provenance.json" for r in (0, 1) for k in ("000", "001")} | {
        f"{s}/rep0/seg{k}.provenance.json" for s in ("ala-water", "villin") for k in ("000", "001")}
    assert set(records) == expected
    for name, record in records.items():
        assert record["versions"]["openmm"] == version("openmm") and record["versions"]["snakemake"] == version("snakemake")
        assert record["versions"]["mdflow"] == version("mdflow")
        assert record["host"] == socket.gethostname() and record["site"] == "ci"
        assert record["workflow_git"]["commit"] == git_head
        assert record["scheduler_job"] is None  # the ci profile runs locally
        assert record["wall_s"] > 0 and record["cpu_s"] >= 0 and 20 < record["peak_rss_mb"] < 4000
        for path, digest in {**record["inputs_sha256"], **record["outputs_sha256"]}.items():
            assert sha256(ci_run_here / path) == digest, (name, path)
    setup = records["villin/setup/provenance.json"]
    assert setup["platform"] == "CPU" and setup["seeds"] == {"system": 13}
    assert setup["inputs_sha256"] == {"resources/villin.pdb": sha256(ci_run_here / "resources/villin.pdb")}
    pulled = records["villin/rep0/seg001.provenance.json"]
    simulate = pulled["upstream"]
    assert pulled["step"] == "pull" and simulate["step"] == "simulate" and simulate["platform"] == "CPU"
    assert simulate["seeds"] == {"system": 13, "integrator": derive_seed(13, 0, 1)}
    assert simulate["wildcards"] == {"system": "villin", "replica": "0", "segment": "001"}
    assert "scratch/ci/villin/rep0/seg000.state.xml" in simulate["inputs_sha256"]  # segment 1 starts from segment 0
    assert simulate["cpu_s"] > 0
