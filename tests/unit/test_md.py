"""The science modules on real (tiny) systems: setup, restartable segments, analysis, report."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from golden import assert_golden
from mdflow.errors import MdflowError
from mdflow.md.report import render_report
from mdflow.md.setup import prepare
from mdflow.md.simulate import EXIT_INTERRUPTED, SegmentSpec, derive_seed, run_segment

REPO = Path(__file__).resolve().parents[2]
ALANINE = REPO / "resources/alanine-dipeptide.pdb"


def _prepare(out: Path, structure=ALANINE, forcefield="amber99sbildn", solvent="implicit"):
    out.mkdir(parents=True, exist_ok=True)
    return prepare(structure, forcefield, solvent, 7.0, 1.0, 0.1, 100, "CPU", 1,
                   out / "system.xml", out / "topology.pdb", out / "minimized.xml", out / "setup.json")


@pytest.fixture(scope="module")
def alanine(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("alanine")
    _prepare(out)
    return out


def _spec(setup: Path, out: Path, steps=400, segment=0, start=None) -> SegmentSpec:
    return SegmentSpec(
        system_xml=str(setup / "system.xml"), start_state_xml=str(start or setup / "minimized.xml"),
        topology_pdb=str(setup / "topology.pdb"), out_dcd=str(out / "seg.dcd"), out_csv=str(out / "seg.csv"),
        out_state=str(out / "seg.state.xml"), temperature_k=300.0, friction_per_ps=1.0, timestep_fs=2.0,
        steps=steps, report_interval=10, checkpoint_interval=50, seed=7, replica=0, segment=segment,
        platform="CPU", cpu_threads=1,
    )


def test_setup_caps_hydrogens_and_minimizes(alanine):
    summary = json.loads((alanine / "setup.json").read_text())
    assert summary["atoms"] == 22 and summary["residues"] == 3  # ACE-ALA-NME with hydrogens
    assert summary["potential_after_kj_mol"] < summary["potential_before_kj_mol"]
    assert summary["box_nm"] is None


def test_setup_explicit_solvent_builds_a_periodic_box(tmp_path):
    summary = _prepare(tmp_path, forcefield="amber14", solvent="explicit")
    assert summary["atoms"] > 500 and min(summary["box_nm"]) >= 2.0
    assert "CRYST1" in (tmp_path / "topology.pdb").read_text()


def test_setup_unknown_residue_is_a_clear_error(tmp_path):
    bad = tmp_path / "xyz.pdb"
    bad.write_text(ALANINE.read_text().replace("ALA A   2", "XYZ A   2"))
    with pytest.raises(MdflowError, match=r"xyz.pdb: force field 'amber99sbildn' cannot parameterize it: No template found for residue \d+ \(XYZ\)"):
        _prepare(tmp_path / "out", structure=bad)


def test_derived_seeds_are_stable_distinct_and_nonzero():
    seeds = {derive_seed(7, r, k) for r in range(5) for k in range(5)}
    assert len(seeds) == 25 and 0 not in seeds
    assert derive_seed(7, 1, 2) == derive_seed(7, 1, 2)


def test_segment_outputs_and_bitwise_reproducibility(alanine, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        out.mkdir()
        summary = run_segment(_spec(alanine, out), log=lambda *_: None)
    assert summary["resumed_from_step"] is None and summary["platform"] == "CPU"
    rows = (first / "seg.csv").read_text().splitlines()
    assert len(rows) == 41 and rows[1].startswith("10,0.020000,")
    for name in ("seg.dcd", "seg.csv", "seg.state.xml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert not (first / "seg.partial").exists()


def test_next_segment_continues_time_and_state(alanine, tmp_path):
    run_segment(_spec(alanine, tmp_path, steps=100), log=lambda *_: None)
    nxt = tmp_path / "next"
    nxt.mkdir()
    run_segment(_spec(alanine, nxt, steps=100, segment=1, start=tmp_path / "seg.state.xml"), log=lambda *_: None)
    steps = [int(r.split(",")[0]) for r in (nxt / "seg.csv").read_text().splitlines()[1:]]
    assert steps == list(range(110, 201, 10))


def _run_in_subprocess(spec: SegmentSpec) -> subprocess.Popen:
    code = ("import sys, json; from mdflow.md.simulate import SegmentSpec, run_segment; "
            "run_segment(SegmentSpec(**json.loads(sys.argv[1])))")
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(spec.__dict__)],
                            env={**os.environ, "OPENMM_CPU_THREADS": "1"}, stdout=subprocess.PIPE, text=True)


def _wait_for_checkpoint(spec: SegmentSpec, process, at_least: int) -> int:
    progress = spec.partial_dir / "progress.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if progress.exists() and json.loads(progress.read_text())["steps"] >= at_least:
            return json.loads(progress.read_text())["steps"]
        assert process.poll() is None, "segment finished before it could be interrupted"
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_segment_resumes_to_the_same_bits(alanine, tmp_path, sig):
    reference = tmp_path / "reference"
    reference.mkdir()
    run_segment(_spec(alanine, reference, steps=20000), log=lambda *_: None)

    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    spec = _spec(alanine, interrupted, steps=20000)
    process = _run_in_subprocess(spec)
    _wait_for_checkpoint(spec, process, 200)
    process.send_signal(sig)
    code = process.wait()
    assert code == (EXIT_INTERRUPTED if sig == signal.SIGTERM else -signal.SIGKILL)
    assert not Path(spec.out_dcd).exists()
    checkpointed = json.loads((spec.partial_dir / "progress.json").read_text())["steps"]

    messages = []
    summary = run_segment(spec, log=messages.append)
    assert summary["resumed_from_step"] == checkpointed and 200 <= checkpointed < 20000
    assert f"from checkpoint at step {checkpointed}" in messages[0]
    for name in ("seg.dcd", "seg.csv", "seg.state.xml"):
        assert (interrupted / name).read_bytes() == (reference / name).read_bytes(), name


def test_partial_from_different_parameters_is_not_resumed(alanine, tmp_path):
    spec = _spec(alanine, tmp_path, steps=20000)
    process = _run_in_subprocess(spec)
    _wait_for_checkpoint(spec, process, 100)
    process.kill()
    process.wait()
    changed = SegmentSpec(**{**spec.__dict__, "temperature_k": 310.0, "steps": 100})
    assert run_segment(changed, log=lambda *_: None)["resumed_from_step"] is None


def test_report_renders_table_and_plots():
    rows = [
        {"name": "ala", "structure": "resources/ala.pdb", "forcefield": "amber14", "solvent": "explicit",
         "temperature_k": 300.0, "replicas": 2, "length_ps": 20.0, "segments": 2, "atoms": 1281,
         "preparation": {"waters_removed": 0, "gaps": {"policy": "refuse", "seqres": False, "found": []},
                         "nonstandard_replaced": [], "heterogens_kept": {},
                         "missing_atoms": {"count": 0, "residues": []}, "hydrogens_added": 12, "ph": 7.0,
                         "protonation": {"counts": {}, "residues": []}, "net_charge_e": 0.0,
                         "solvent": {"waters": 418, "ions": {"CL": 1, "NA": 1}}, "box_nm": [2.4, 2.4, 2.4]},
         "overall": {"rmsd_nm": 0.0512, "rg_nm": 0.2981, "temperature_k": 299.4, "potential_kj_mol": -1.0},
         "analysis": ALA_ANALYSIS},
        {"name": "v<1>", "structure": "resources/v.pdb", "forcefield": "amber99sbildn", "solvent": "implicit",
         "temperature_k": 310.0, "replicas": 1, "length_ps": 10.0, "segments": 2, "atoms": 596,
         "overall": {"rmsd_nm": 0.1, "rg_nm": 0.99, "temperature_k": 305.0, "potential_kj_mol": -2.0}},
    ]
    run = {"settings": {"timestep_fs": 2.0, "friction_per_ps": 1.0, "report_interval_ps": 1.0, "padding_nm": 1.2,
                        "ionic_strength_molar": 0.1, "minimize_iterations": 500, "pressure_bar": 1.0},
           "versions": {"mdflow": "0.1.0", "openmm": "8.6.1", "pdbfixer": "1.12.0", "mdtraj": "1.11.1"},
           "platform": "CPU", "generated": "2026-12-05 09:00 UTC"}
    html = render_report(rows, run)
    assert "v&lt;1&gt;" in html and "<1>" not in html  # names are escaped
    assert "in the NPT ensemble at 300 K and 1 bar (Monte Carlo barostat)" in html
    assert "heat: 5 ps, NVT, heated from 50 K, solute heavy atoms restrained at 1000 kJ/mol/nm²; then density" in html
    assert "<td>300.20 ± 0.80</td>" in html and "<td>-20800 ± 12</td>" in html and "off the thermostat" in html
    assert_golden("report.html", html)


def _judged(mean, se):
    return {"mean": mean, "se": se, "g": 2.0, "n": 10, "from_frame": 2, "from_ps": 2.0, "independent": 5.0,
            "equilibrated": True}


ALA_ANALYSIS = {
    "replicas": {
        "0": {"judged": {"potential_kj_mol": _judged(-20800.0, 12.0), "temperature_k": _judged(300.2, 0.8),
                         "rmsd_nm": _judged(0.05, 0.004), "rg_nm": _judged(0.298, 0.001),
                         "density_g_cm3": _judged(0.985, 0.004)},
              "secondary_structure": {"helix": 0.0, "strand": 0.0, "coil": 1.0}},
        "1": {"judged": {"potential_kj_mol": _judged(-20790.0, 11.0), "temperature_k": _judged(291.0, 0.9),
                         "rmsd_nm": _judged(0.052, 0.004), "rg_nm": _judged(0.297, 0.001),
                         "density_g_cm3": _judged(0.99, 0.004)},
              "secondary_structure": {"helix": 0.0, "strand": 0.0, "coil": 1.0}},
    },
    "pooled": {"temperature_k": {"mean": 295.6, "se": 4.6, "replicas": 2},
               "rmsd_nm": {"mean": 0.051, "se": 0.001, "replicas": 2}},
    "flags": ["ala replica 1: temperature 291.0 ± 0.9 K is off the thermostat's 300 K by -9.0 K "
              "(more than 3 standard errors)"],
    "protocol": {"stages": ["heat: 5 ps, NVT, heated from 50 K, solute heavy atoms restrained at 1000 kJ/mol/nm²",
                            "density: 6 ps, NPT"], "production": "NPT",
                 "replicas": {"0": [{"name": "heat", "ps": 5.0, "end_temperature_k": 290.1,
                                     "end_potential_kj_mol": -20900.0, "end_density_g_cm3": 0.93},
                                    {"name": "density", "ps": 6.0, "end_temperature_k": 299.0,
                                     "end_potential_kj_mol": -20850.0, "end_density_g_cm3": 0.982}]}},
}


def test_checkpoint_cadence_by_wall_clock_and_optional_steps():
    from mdflow.md.simulate import _Cadence

    now = [0.0]
    spec = SegmentSpec(system_xml="", start_state_xml="", topology_pdb="", out_dcd="x.dcd", out_csv="", out_state="",
                       temperature_k=300.0, friction_per_ps=1.0, timestep_fs=2.0, steps=10_000, report_interval=10,
                       checkpoint_interval=None, seed=1, replica=0, segment=0, checkpoint_interval_min=10)
    cadence = _Cadence(spec, clock=lambda: now[0])
    assert not cadence.due(500)
    now[0] = 599.0
    assert not cadence.due(510)
    now[0] = 600.0
    assert cadence.due(520)
    cadence.saved()
    assert not cadence.due(530)
    capped = _Cadence(SegmentSpec(**{**spec.__dict__, "checkpoint_interval": 50}), clock=lambda: now[0])
    assert capped.due(100) and not capped.due(110)


def test_checkpoint_cadence_is_no_part_of_the_works_identity(alanine, tmp_path):
    base = _spec(alanine, tmp_path)
    other = SegmentSpec(**{**base.__dict__, "checkpoint_interval": None, "checkpoint_interval_min": 1.0})
    assert base.fingerprint() == other.fingerprint()  # a partial run resumes after the cadence changed


def test_a_gpu_platform_that_cannot_start_falls_back_to_cpu_or_is_one_line(monkeypatch):
    import openmm

    from mdflow.errors import MdflowError
    from mdflow.md import platforms

    class BrokenCuda:
        def getName(self):
            return "CUDA"

    real_choose, real_context = platforms.choose_platform, openmm.Context

    def choose(requested, threads=None, deterministic=False):
        return (BrokenCuda(), {}) if requested in ("auto", "CUDA") else real_choose(requested, threads, deterministic)

    def context(system, integrator, platform, properties):
        if isinstance(platform, BrokenCuda):
            raise openmm.OpenMMException("Error initializing CUDA: CUDA_ERROR_NO_DEVICE (100) at cudaContext.cpp")
        return real_context(system, integrator, platform, properties)

    monkeypatch.setattr(platforms, "choose_platform", choose)
    monkeypatch.setattr(openmm, "Context", context)
    system = openmm.System()
    system.addParticle(1.0)
    said = []
    made = platforms.create_context(system, openmm.VerletIntegrator(0.001), "auto", 1, log=said.append)
    assert made.getPlatform().getName() == "CPU" and platforms.describe_device(made) is None
    assert said == ["OpenMM platform CUDA is installed but cannot start here (Error initializing CUDA: "
                    "CUDA_ERROR_NO_DEVICE (100) at cudaContext.cpp); using CPU"]
    with pytest.raises(MdflowError, match="platform CUDA is installed but cannot start here"):
        platforms.create_context(system, openmm.VerletIntegrator(0.001), "CUDA", 1)


def test_library_contexts_and_pme_get_the_configured_threads(monkeypatch):
    """PDBFixer and Modeller make Contexts without properties, and the CPU PME plugin reads its thread
    count from OPENMM_CPU_THREADS only: both must follow the campaign's `threads` (issue 19)."""
    from mdflow.md import platforms

    monkeypatch.delenv("OPENMM_CPU_THREADS", raising=False)
    platform = platforms.platform_with_defaults("CPU", 1, deterministic_forces=True)
    assert platform.getName() == "CPU"
    assert platform.getPropertyDefaultValue("Threads") == "1"
    assert platform.getPropertyDefaultValue("DeterministicForces") == "true"
    assert os.environ["OPENMM_CPU_THREADS"] == "1"


def test_a_blown_up_simulation_is_one_line_saying_where_and_what_to_try():
    from types import SimpleNamespace

    import openmm

    from mdflow.errors import MdflowError
    from mdflow.md.simulate import blown_up

    spec = SimpleNamespace(out_dcd="scratch/ci/bhl/rep0/seg003.dcd", steps=500)
    error = blown_up(spec, 80, openmm.OpenMMException("Particle coordinate is NaN.  For more information, see …"))
    assert isinstance(error, MdflowError) and "\n" not in str(error)
    assert str(error).startswith("seg003: the simulation blew up (coordinates became NaN) by step 80 of 500")
    assert "minimize_iterations" in str(error) and "timestep_fs" in str(error)
    other = openmm.OpenMMException("Called setPositions() on a Context with the wrong number of positions")
    assert blown_up(spec, 80, other) is other  # not a blow-up: passed on as it is
