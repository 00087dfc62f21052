"""Setup of one system: fix the structure, solvate, parameterize, minimize.

Writes three files that everything downstream reads: the serialized System XML, a topology PDB
(with the minimized coordinates; also the RMSD reference) and the minimized State XML.
"""

import json
import random
from pathlib import Path

import openmm
from openmm import app, unit

from mdflow.errors import MdflowError
from mdflow.io_atomic import atomic_write_text
from mdflow.md.forcefields import FORCEFIELDS, forcefield_files
from mdflow.md.platforms import create_context, platform_with_defaults

WATER_RESIDUES = {"HOH", "WAT", "H2O", "TIP3", "SOL"}


def fix_structure(structure: Path, ph: float, seed: int | None = None, platform=None):
    """PDBFixer pass: nonstandard residues, foreign heterogens, missing atoms, hydrogens at `ph`.
    `platform` is where PDBFixer and Modeller relax the atoms they add (see platform_with_defaults)."""
    from pdbfixer import PDBFixer

    try:
        fixer = PDBFixer(filename=str(structure), platform=platform)
    except Exception as exc:  # PDBFixer raises bare ValueError/IndexError on garbage
        raise MdflowError(f"{structure}: cannot be read as a PDB file ({exc})") from None
    if fixer.topology.getNumAtoms() == 0:
        raise MdflowError(f"{structure}: contains no ATOM/HETATM records")
    fixer.findMissingResidues()
    fixer.missingResidues = {}  # never invent terminal or loop residues the user did not model
    fixer.findNonstandardResidues()
    fixer.replaceNonstandardResidues()
    _remove_crystal_water(fixer)
    fixer.findMissingAtoms()
    fixer.addMissingAtoms(seed=seed)
    fixer.addMissingHydrogens(ph)
    return fixer.topology, fixer.positions


def _remove_crystal_water(fixer) -> None:
    """Crystal water goes (explicit systems are solvated afresh). Other heterogens stay, so a ligand
    the force field cannot parameterize is reported instead of silently dropped; we do not use
    PDBFixer.removeHeterogens(), which would also delete ACE/NME caps."""
    modeller = app.Modeller(fixer.topology, fixer.positions)
    doomed = [r for r in modeller.topology.residues() if r.name in WATER_RESIDUES]
    if doomed:
        modeller.delete(doomed)
        fixer.topology, fixer.positions = modeller.topology, modeller.positions


def build_system(topology, positions, forcefield: str, solvent: str, padding_nm: float,
                 ionic_strength_molar: float, structure: Path):
    """Return (topology, positions, system) after optional solvation."""
    ff = app.ForceField(*forcefield_files(forcefield, solvent))
    modeller = app.Modeller(topology, positions)
    try:
        if solvent == "explicit":
            modeller.addSolvent(
                ff,
                model=FORCEFIELDS[forcefield]["water_model"],
                padding=padding_nm * unit.nanometer,
                ionicStrength=ionic_strength_molar * unit.molar,
                neutralize=True,
            )
            system = ff.createSystem(
                modeller.topology,
                nonbondedMethod=app.PME,
                nonbondedCutoff=0.9 * unit.nanometer,
                constraints=app.HBonds,
            )
        else:
            system = ff.createSystem(
                modeller.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds
            )
    except ValueError as exc:  # "No template found for residue ..." and friends
        first_line = str(exc).splitlines()[0].split(".  ")[0]
        raise MdflowError(
            f"{structure}: force field {forcefield!r} cannot parameterize it: {first_line}"
        ) from None
    return modeller.topology, modeller.positions, system


def minimize(system, positions, topology, max_iterations: int, platform_name: str,
             cpu_threads: int | None, deterministic_forces: bool = False):
    integrator = openmm.VerletIntegrator(0.001)
    context = create_context(system, integrator, platform_name, cpu_threads, deterministic_forces)
    platform = context.getPlatform()
    if topology.getPeriodicBoxVectors() is not None:
        context.setPeriodicBoxVectors(*topology.getPeriodicBoxVectors())
    context.setPositions(positions)
    before = context.getState(getEnergy=True).getPotentialEnergy()
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, max_iterations)
    state = context.getState(getPositions=True, getEnergy=True)
    return state, before, platform.getName()


def prepare(structure: Path, forcefield: str, solvent: str, ph: float, padding_nm: float,
            ionic_strength_molar: float, minimize_iterations: int, platform: str,
            cpu_threads: int | None, system_xml: Path, topology_pdb: Path, state_xml: Path,
            summary_json: Path, deterministic_forces: bool = False, seed: int | None = None) -> dict:
    """Run the whole setup and write the four output files atomically. With a `seed` it repeats exactly:
    Modeller and PDBFixer place new hydrogens, waters and ions with Python's global `random`."""
    if seed is not None:
        random.seed(seed)
    library_platform = platform_with_defaults(platform, cpu_threads, deterministic_forces)
    topology, positions = fix_structure(Path(structure), ph, seed, library_platform)
    topology, positions, system = build_system(
        topology, positions, forcefield, solvent, padding_nm, ionic_strength_molar, Path(structure)
    )
    state, energy_before, platform_used = minimize(
        system, positions, topology, minimize_iterations, library_platform.getName(), cpu_threads,
        deterministic_forces,
    )
    atomic_write_text(system_xml, openmm.XmlSerializer.serialize(system))
    atomic_write_text(state_xml, openmm.XmlSerializer.serialize(state))
    atomic_write_text(topology_pdb, _pdb_text(topology, state.getPositions()))
    box = topology.getPeriodicBoxVectors()
    summary = {
        "structure": str(structure),
        "forcefield": forcefield,
        "forcefield_files": forcefield_files(forcefield, solvent),
        "solvent": solvent,
        "atoms": topology.getNumAtoms(),
        "residues": topology.getNumResidues(),
        "box_nm": None if box is None else [round(box[i][i].value_in_unit(unit.nanometer), 4) for i in range(3)],
        "potential_before_kj_mol": energy_before.value_in_unit(unit.kilojoule_per_mole),
        "potential_after_kj_mol": state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
        "platform": platform_used,
    }
    atomic_write_text(summary_json, json.dumps(summary, indent=2) + "\n")
    return summary


def _pdb_text(topology, positions) -> str:
    import io

    buffer = io.StringIO()
    app.PDBFile.writeFile(topology, positions, buffer, keepIds=True)
    return buffer.getvalue()
