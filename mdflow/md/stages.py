"""What makes an equilibration stage differ from a production segment: positional restraints on the
solute, a barostat, a heating ramp. Each is added to the System before the Context is built (or applied
to the integrator between report intervals, from the step count alone, so an interrupted and resumed
stage heats exactly like an undisturbed one).
"""

import openmm
from openmm import unit

RESTRAINT_GROUP = 31        # its energy is left out of the reported potential energy
BAROSTAT_FREQUENCY = 25     # at most this many steps between Monte Carlo volume moves (OpenMM's default)
RAMP_FRACTION = 0.5         # a heating stage reaches its target half-way and holds it after


def restrained_atoms(topology) -> list[int]:
    """Heavy atoms of the solute: neither water nor a monatomic ion, nor hydrogen."""
    return [atom.index for atom in topology.atoms()
            if atom.residue.name not in ("HOH", "WAT") and len(list(atom.residue.atoms())) > 1
            and atom.element is not None and atom.element.symbol != "H"]


def add_restraints(system, topology, positions, k_kj_mol_nm2: float) -> int:
    """A harmonic pull (k/2 · d², d from the start positions) on the solute's heavy atoms, in
    RESTRAINT_GROUP; returns how many atoms it holds."""
    periodic = system.usesPeriodicBoundaryConditions()
    distance = "periodicdistance(x, y, z, x0, y0, z0)^2" if periodic else "(x-x0)^2 + (y-y0)^2 + (z-z0)^2"
    force = openmm.CustomExternalForce(f"0.5 * restraint_k * ({distance})")
    force.addGlobalParameter("restraint_k", k_kj_mol_nm2)
    for name in ("x0", "y0", "z0"):
        force.addPerParticleParameter(name)
    atoms = restrained_atoms(topology)
    for index in atoms:
        force.addParticle(index, positions[index].value_in_unit(unit.nanometer))
    force.setForceGroup(RESTRAINT_GROUP)
    system.addForce(force)
    return len(atoms)


def barostat_frequency(report_interval: int) -> int:
    """Steps between volume moves: the largest divisor of the report interval up to BAROSTAT_FREQUENCY.
    The barostat counts steps from when the Context's kernels were built, and a periodic run on CPU rebuilds
    them at every report interval (simulate.restart_point); a frequency that does not divide the interval
    would be reset before it is reached and the volume would never move (measured: 10-step reports, 25)."""
    return max(d for d in range(1, BAROSTAT_FREQUENCY + 1) if report_interval % d == 0)


def add_barostat(system, pressure_bar: float, temperature_k: float, report_interval: int):
    barostat = openmm.MonteCarloBarostat(pressure_bar * unit.bar, temperature_k * unit.kelvin,
                                         barostat_frequency(report_interval))
    system.addForce(barostat)
    return barostat


def ramp_temperature(step: int, steps: int, from_k: float, to_k: float) -> float:
    """The thermostat's temperature at `step` of a heating stage: linear from `from_k` to `to_k` over the
    first RAMP_FRACTION of the stage, then `to_k`."""
    reach = max(1, int(steps * RAMP_FRACTION))
    return from_k + (to_k - from_k) * min(1.0, step / reach)


def reported_groups(system) -> set[int] | int:
    """Force groups whose energy is reported: all but the restraints' (-1: all, when there are none)."""
    if any(force.getForceGroup() == RESTRAINT_GROUP for force in system.getForces()):
        return set(range(32)) - {RESTRAINT_GROUP}
    return -1
