"""Equilibration stages on real OpenMM physics (CPU, one thread): a barostat brings an expanded water box
to water's density, a heating ramp reaches the thermostat's target, positional restraints hold the
solute. Loose bounds, real dynamics; each run is a few ps (about 10-25 s here)."""

import csv
from pathlib import Path

import numpy as np
import openmm
import pytest
from openmm import app, unit

from mdflow.md.sampling import density_g_cm3
from mdflow.md.setup import prepare
from mdflow.md.simulate import SegmentSpec, run_segment
from mdflow.md.stages import (RESTRAINT_GROUP, add_restraints, barostat_frequency, ramp_temperature, reported_groups,
                               restrained_atoms)

REPO = Path(__file__).resolve().parents[2]


def _spec(setup: dict, out: Path, steps: int, **stage) -> SegmentSpec:
    return SegmentSpec(
        system_xml=str(setup["system"]), start_state_xml=str(setup["state"]), topology_pdb=str(setup["topology"]),
        out_dcd=str(out / "eq.dcd"), out_csv=str(out / "eq.csv"), out_state=str(out / "eq.state.xml"),
        temperature_k=300.0, friction_per_ps=1.0, timestep_fs=2.0, steps=steps, report_interval=50,
        checkpoint_interval=None, seed=5, replica=0, segment=0, platform="CPU", cpu_threads=1,
        seed_stream="eq", **stage)


def _rows(out: Path) -> list[dict]:
    with open(out / "eq.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def expanded_water_box(tmp_path_factory) -> dict:
    """~440 TIP3P waters in a box stretched by 5 % per edge (density ~0.84 g/cm³), minimized."""
    out = tmp_path_factory.mktemp("water")
    forcefield = app.ForceField("amber14-all.xml", "amber14/tip3pfb.xml")
    modeller = app.Modeller(app.Topology(), [])
    modeller.addSolvent(forcefield, boxSize=openmm.Vec3(2.4, 2.4, 2.4) * unit.nanometer)
    box = [openmm.Vec3(*(1.05 * x for x in v.value_in_unit(unit.nanometer)))
           for v in modeller.topology.getPeriodicBoxVectors()]
    modeller.topology.setPeriodicBoxVectors(box)
    system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.PME, nonbondedCutoff=0.9 * unit.nanometer,
                                     constraints=app.HBonds)
    system.setDefaultPeriodicBoxVectors(*box)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"),
                             {"Threads": "1"})
    context.setPositions([p * 1.05 for p in modeller.positions.value_in_unit(unit.nanometer)] * unit.nanometer)
    openmm.LocalEnergyMinimizer.minimize(context, 10, 100)
    state = context.getState(getPositions=True)
    paths = {"system": out / "system.xml", "state": out / "minimized.xml", "topology": out / "topology.pdb"}
    paths["system"].write_text(openmm.XmlSerializer.serialize(system))
    paths["state"].write_text(openmm.XmlSerializer.serialize(state))
    with open(paths["topology"], "w") as handle:
        app.PDBFile.writeFile(modeller.topology, state.getPositions(), handle)
    paths["mass_amu"] = sum(system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(system.getNumParticles()))
    return paths


@pytest.fixture(scope="module")
def alanine_in_water(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ala-water")
    prepare(REPO / "resources/alanine-dipeptide.pdb", "amber14", "explicit", 7.0, 1.0, 0.1, 100, "CPU", 1,
            out / "system.xml", out / "topology.pdb", out / "minimized.xml", out / "setup.json")
    return {"system": out / "system.xml", "state": out / "minimized.xml", "topology": out / "topology.pdb"}


def test_barostat_brings_an_expanded_water_box_to_water_density(expanded_water_box, tmp_path):
    run_segment(_spec(expanded_water_box, tmp_path, steps=4000, pressure_bar=1.0), log=lambda *_: None)
    density = density_g_cm3(expanded_water_box["mass_amu"], [r["volume_nm3"] for r in _rows(tmp_path)])
    assert density[0] < 0.9                           # starts stretched
    assert 0.95 < float(np.mean(density[-20:])) < 1.05  # TIP3P at 300 K, 1 bar: ~0.98-1.0 g/cm³


def test_barostat_moves_between_restart_points():
    """A periodic CPU run rebuilds its kernels every report interval, which restarts the barostat's count."""
    assert barostat_frequency(500) == 25 and barostat_frequency(10) == 10 and barostat_frequency(7) == 7
    assert barostat_frequency(60) == 20


def test_ramp_reaches_the_target_half_way_and_holds_it():
    assert ramp_temperature(0, 1000, 50.0, 300.0) == 50.0
    assert ramp_temperature(250, 1000, 50.0, 300.0) == 175.0
    assert ramp_temperature(500, 1000, 50.0, 300.0) == ramp_temperature(1000, 1000, 50.0, 300.0) == 300.0


def _displacement_nm(setup: dict, out: Path) -> float:
    """Mean over the last frames of the solute heavy atoms' RMS displacement from the start (no fitting)."""
    import mdtraj

    start = mdtraj.load(str(setup["topology"]))
    trajectory = mdtraj.load_dcd(str(out / "eq.dcd"), top=start.topology)
    atoms = restrained_atoms(app.PDBFile(str(setup["topology"])).topology)
    moved = trajectory.xyz[-10:, atoms] - start.xyz[0, atoms]
    return float(np.sqrt((moved**2).sum(axis=2).mean()))


def test_heating_reaches_the_target_and_restraints_hold_the_solute(alanine_in_water, tmp_path):
    held, free = tmp_path / "held", tmp_path / "free"
    held.mkdir(), free.mkdir()
    run_segment(_spec(alanine_in_water, held, steps=5000, heat_from_k=50.0, restraint_k_kj_mol_nm2=10000.0),
                log=lambda *_: None)
    rows = _rows(held)
    assert rows[0]["temperature_k"] < 150                              # starts cold
    # ramped over 5 ps, held for 5 ps: the last 2 ps near the target. The system lags the thermostat by
    # ~2 ps at 1/ps friction (its potential energy takes up heat too): measured 287-297 K over 3 seeds
    assert abs(np.mean([r["temperature_k"] for r in rows[-20:]]) - 300.0) < 20
    run_segment(_spec(alanine_in_water, free, steps=2000, heat_from_k=50.0), log=lambda *_: None)
    # k = 10^4 kJ/mol/nm² allows ~0.03 nm of thermal motion; a free dipeptide drifts and turns in water
    assert _displacement_nm(alanine_in_water, held) < 0.05 < _displacement_nm(alanine_in_water, free)
    system = openmm.XmlSerializer.deserialize(alanine_in_water["system"].read_text())
    assert not any(isinstance(f, openmm.CustomExternalForce) for f in system.getForces())  # system.xml untouched


def test_the_restraint_energy_is_not_reported_as_the_systems(alanine_in_water):
    system = openmm.XmlSerializer.deserialize(alanine_in_water["system"].read_text())
    state = openmm.XmlSerializer.deserialize(alanine_in_water["state"].read_text())
    topology = app.PDBFile(str(alanine_in_water["topology"])).topology
    assert reported_groups(system) == -1
    held = add_restraints(system, topology, state.getPositions(), 1000.0)
    assert held == 10  # ACE-ALA-NME heavy atoms; no water oxygen
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"),
                             {"Threads": "1"})
    context.setPositions([p + openmm.Vec3(0.01, 0, 0) * unit.nanometer if i in restrained_atoms(topology) else p
                          for i, p in enumerate(state.getPositions())])
    energy = lambda groups: context.getState(getEnergy=True, groups=groups).getPotentialEnergy()._value  # noqa: E731
    restraint = energy({RESTRAINT_GROUP})
    assert restraint == pytest.approx(held * 0.5 * 1000.0 * 0.01**2, rel=1e-3)
    assert energy(reported_groups(system)) == pytest.approx(energy(-1) - restraint, rel=1e-9)


def test_heavy_hydrogens_keep_the_mass_and_make_4_fs_steps_stable(tmp_path):
    """Hydrogen mass repartitioning: 4-amu hydrogens, the total mass unchanged, 4 fs steps stay near the
    thermostat's temperature with finite energies."""
    from mdflow.md.setup import prepare

    out = tmp_path / "hmr"
    out.mkdir()
    prepare(REPO / "resources/alanine-dipeptide.pdb", "amber99sbildn", "implicit", 7.0, 1.0, 0.1, 100, "CPU", 1,
            out / "system.xml", out / "topology.pdb", out / "minimized.xml", out / "setup.json",
            hydrogen_mass_amu=4.0)
    system = openmm.XmlSerializer.deserialize((out / "system.xml").read_text())
    masses = [system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(system.getNumParticles())]
    topology = app.PDBFile(str(out / "topology.pdb")).topology
    hydrogens = [m for m, atom in zip(masses, topology.atoms()) if atom.element.symbol == "H"]
    assert hydrogens and all(m == pytest.approx(4.0) for m in hydrogens)
    assert sum(masses) == pytest.approx(144.17, abs=0.05)  # ACE-ALA-NME, as with 1-amu hydrogens
    setup = {"system": out / "system.xml", "state": out / "minimized.xml", "topology": out / "topology.pdb"}
    spec = _spec(setup, tmp_path, steps=2500, heat_from_k=None)
    run_segment(SegmentSpec(**{**spec.__dict__, "timestep_fs": 4.0, "report_interval": 50}), log=lambda *_: None)
    rows = _rows(tmp_path)
    assert all(np.isfinite(r["potential_kj_mol"]) for r in rows)
    assert 200 < np.mean([r["temperature_k"] for r in rows[len(rows) // 2:]]) < 400  # 22 atoms: noisy
