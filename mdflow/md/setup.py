"""Setup of one system: fix the structure, solvate, parameterize, minimize.

Writes three files that everything downstream reads: the serialized System XML, a topology PDB
(with the minimized coordinates; also the RMSD reference) and the minimized State XML.
"""

import json
import random
import time
from pathlib import Path

import openmm
from openmm import app, unit

from mdflow.errors import MdflowError
from mdflow.io_atomic import atomic_write_text
from mdflow.md.forcefields import FORCEFIELDS, forcefield_files
from mdflow.md.chains import treat_gaps
from mdflow.md.gaps import GAP_LIMIT, check as check_gaps, gaps_from_fixer, record as gap_record
from mdflow.md.preparation import (added_solvent, heterogens, lines as preparation_lines, missing_atoms, net_charge,
                                   protonation, residue_label)
from mdflow.md.platforms import create_context, platform_with_defaults

WATER_RESIDUES = {"HOH", "WAT", "H2O", "TIP3", "SOL"}


def fix_structure(structure: Path, ph: float, seed: int | None = None, platform=None, gaps: str = "refuse"):
    """PDBFixer pass: chain gaps (see mdflow.md.gaps; `gaps` is the sheet's policy for long ones),
    nonstandard residues, crystal water, missing atoms, hydrogens at `ph`. `platform` is where
    PDBFixer and Modeller relax the atoms they add (see platform_with_defaults). Returns
    (topology, positions, record of what was done)."""
    from pdbfixer import PDBFixer

    try:
        fixer = PDBFixer(filename=str(structure), platform=platform)
    except Exception as exc:  # PDBFixer raises bare ValueError/IndexError on garbage
        raise MdflowError(f"{structure}: cannot be read as a PDB file ({exc})") from None
    if fixer.topology.getNumAtoms() == 0:
        raise MdflowError(f"{structure}: contains no ATOM/HETATM records")
    record = {"waters_removed": _remove_crystal_water(fixer)}  # first: chain indices stay put below
    fixer.findMissingResidues()
    found = gaps_from_fixer(fixer)
    check_gaps(found, gaps, str(structure))
    record["gaps"] = {"policy": gaps, "modelled_up_to": GAP_LIMIT, "seqres": bool(fixer.sequences),
                      "found": gap_record(found, gaps)}
    treat_gaps(fixer, found, gaps)
    fixer.findNonstandardResidues()
    record["nonstandard_replaced"] = [{"residue": residue_label(r), "from": r.name, "to": to}
                                      for r, to in fixer.nonstandardResidues]
    fixer.replaceNonstandardResidues()
    record["heterogens_kept"] = heterogens(fixer.topology)
    fixer.findMissingAtoms()
    record["missing_atoms"] = missing_atoms(fixer)
    try:
        fixer.addMissingAtoms(seed=seed)
    except Exception as exc:  # e.g. a modelled loop residue PDBFixer has no template for
        raise MdflowError(f"{structure}: PDBFixer cannot add the missing atoms/residues ({exc})") from None
    heavy = fixer.topology.getNumAtoms()
    fixer.addMissingHydrogens(ph)
    record.update(hydrogens_added=fixer.topology.getNumAtoms() - heavy, ph=ph,
                  protonation=protonation(fixer.topology))
    return fixer.topology, fixer.positions, record


def _remove_crystal_water(fixer) -> int:
    """Crystal water goes (explicit systems are solvated afresh). Other heterogens stay, so a ligand
    the force field cannot parameterize is reported instead of silently dropped; we do not use
    PDBFixer.removeHeterogens(), which would also delete ACE/NME caps. Returns the count removed."""
    modeller = app.Modeller(fixer.topology, fixer.positions)
    doomed = [r for r in modeller.topology.residues() if r.name in WATER_RESIDUES]
    if doomed:
        modeller.delete(doomed)
        fixer.topology, fixer.positions = modeller.topology, modeller.positions
    return len(doomed)


def build_system(topology, positions, forcefield: str, solvent: str, padding_nm: float,
                 ionic_strength_molar: float, structure: Path, hydrogen_mass_amu: float | None = None):
    """Return (topology, positions, system) after optional solvation."""
    ff = app.ForceField(*forcefield_files(forcefield, solvent))
    modeller = app.Modeller(topology, positions)
    # hydrogen mass repartitioning: hydrogens this heavy, the mass taken from their bonded atoms (water
    # excepted, it is rigid), so a 4 fs step is stable
    heavy_hydrogens = {} if hydrogen_mass_amu is None else {"hydrogenMass": hydrogen_mass_amu * unit.amu}
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
                **heavy_hydrogens,
            )
        else:
            system = ff.createSystem(
                modeller.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds, **heavy_hydrogens
            )
    except Exception as exc:  # "No template found for residue ..." (ValueError), "Multiple ... templates" (Exception)
        if not isinstance(exc, ValueError) and "template" not in str(exc):
            raise
        first_line = str(exc).splitlines()[0].split(".  ")[0]
        raise MdflowError(
            f"{structure}: force field {forcefield!r} cannot parameterize it: {first_line}"
        ) from None
    return modeller.topology, modeller.positions, system


class MinimizationProgress(openmm.MinimizationReporter):
    """Writes the minimizer's progress to `log`: the first iteration, then one line at most every
    `every_s` seconds, so a long minimization is visible in the job log. Never stops it early.
    OpenMM runs L-BFGS in rounds, each of up to maxIterations, stiffening the restraints that stand
    in for constraints until they hold; `iteration` restarts at 0 in each round."""

    def __init__(self, log, max_iterations: int, every_s: float = 10.0, clock=time.monotonic):
        super().__init__()
        self.log, self.max_iterations, self.every_s, self.clock = log, max_iterations, every_s, clock
        self.iterations, self.rounds, self.last = 0, 0, None

    def report(self, iteration, x, grad, args):
        self.iterations += 1
        self.rounds += iteration == 0
        now = self.clock()
        if self.last is None or now - self.last >= self.every_s:
            self.last = now
            limit = f" of at most {self.max_iterations}" if self.max_iterations else ""
            self.log(f"minimizing: iteration {self.iterations} (round {self.rounds}: {iteration + 1}{limit}), "
                     f"potential {args['system energy']:.1f} kJ/mol")
        return False


def minimize(system, positions, topology, max_iterations: int, platform_name: str,
             cpu_threads: int | None, deterministic_forces: bool = False, log=print):
    integrator = openmm.VerletIntegrator(0.001)
    context = create_context(system, integrator, platform_name, cpu_threads, deterministic_forces)
    platform = context.getPlatform()
    if topology.getPeriodicBoxVectors() is not None:
        context.setPeriodicBoxVectors(*topology.getPeriodicBoxVectors())
    context.setPositions(positions)
    before = context.getState(getEnergy=True).getPotentialEnergy()
    log(f"minimizing: {system.getNumParticles()} atoms, potential {before.value_in_unit(unit.kilojoule_per_mole):.1f} "
        f"kJ/mol, tolerance 10 kJ/mol/nm, at most {max_iterations or 'unlimited'} iterations per round")
    progress = MinimizationProgress(log, max_iterations)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, max_iterations, progress)
    state = context.getState(getPositions=True, getEnergy=True)
    log(f"minimized: {progress.iterations} iterations in {progress.rounds} rounds, potential "
        f"{state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole):.1f} kJ/mol")
    return state, before, platform.getName()


def prepare(structure: Path, forcefield: str, solvent: str, ph: float, padding_nm: float,
            ionic_strength_molar: float, minimize_iterations: int, platform: str,
            cpu_threads: int | None, system_xml: Path, topology_pdb: Path, state_xml: Path,
            summary_json: Path, deterministic_forces: bool = False, seed: int | None = None,
            gaps: str = "refuse", hydrogen_mass_amu: float | None = None, log=print) -> dict:
    """Run the whole setup and write the four output files atomically. With a `seed` it repeats exactly:
    Modeller and PDBFixer place new hydrogens, waters and ions with Python's global `random`.
    `gaps` is the sheet's policy for long chain gaps (mdflow.md.gaps); what preparation did goes
    to setup.json's "preparation" and, line by line, to `log`."""
    if seed is not None:
        random.seed(seed)
    library_platform = platform_with_defaults(platform, cpu_threads, deterministic_forces)
    topology, positions, preparation = fix_structure(Path(structure), ph, seed, library_platform, gaps)
    solute_atoms, solute_residues = topology.getNumAtoms(), topology.getNumResidues()
    topology, positions, system = build_system(
        topology, positions, forcefield, solvent, padding_nm, ionic_strength_molar, Path(structure), hydrogen_mass_amu
    )
    box = topology.getPeriodicBoxVectors()
    box_nm = None if box is None else [round(box[i][i].value_in_unit(unit.nanometer), 4) for i in range(3)]
    preparation.update(net_charge_e=net_charge(system, solute_atoms),
                       solvent=added_solvent(topology, solute_residues) if solvent == "explicit" else None,
                       box_nm=box_nm)
    for line in preparation_lines(preparation):
        log(f"preparation: {line}")
    state, energy_before, platform_used = minimize(
        system, positions, topology, minimize_iterations, library_platform.getName(), cpu_threads,
        deterministic_forces, log,
    )
    atomic_write_text(system_xml, openmm.XmlSerializer.serialize(system))
    atomic_write_text(state_xml, openmm.XmlSerializer.serialize(state))
    atomic_write_text(topology_pdb, _pdb_text(topology, state.getPositions()))
    summary = {
        "structure": str(structure),
        "forcefield": forcefield,
        "forcefield_files": forcefield_files(forcefield, solvent),
        "solvent": solvent,
        "atoms": topology.getNumAtoms(),
        "residues": topology.getNumResidues(),
        "box_nm": box_nm,
        "potential_before_kj_mol": energy_before.value_in_unit(unit.kilojoule_per_mole),
        "potential_after_kj_mol": state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
        "platform": platform_used,
        "hydrogen_mass_amu": hydrogen_mass_amu,
        "preparation": preparation,
    }
    atomic_write_text(summary_json, json.dumps(summary, indent=2) + "\n")
    return summary


def _pdb_text(topology, positions) -> str:
    import io

    buffer = io.StringIO()
    app.PDBFile.writeFile(topology, positions, buffer, keepIds=True)
    return buffer.getvalue()
