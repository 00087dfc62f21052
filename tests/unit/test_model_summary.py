"""The model a run simulated, summarized from real OpenMM objects: what differs is named in words."""

import openmm
from openmm import unit

from mdflow.model_summary import differences, integrator_summary, system_summary


def water_like_system(charge_scale: float = 1.0, cutoff_nm: float = 0.9) -> str:
    system = openmm.System()
    nonbonded = openmm.NonbondedForce()
    nonbonded.setNonbondedMethod(openmm.NonbondedForce.CutoffNonPeriodic)
    nonbonded.setCutoffDistance(cutoff_nm)
    for mass, charge in ((15.999, -0.834), (1.008, 0.417), (1.008, 0.417)):
        system.addParticle(mass)
        nonbonded.addParticle(charge * charge_scale, 0.315, 0.636)
    bonds = openmm.HarmonicBondForce()
    bonds.addBond(0, 1, 0.09572, 462750.4)
    bonds.addBond(0, 2, 0.09572, 462750.4)
    system.addForce(nonbonded)
    system.addForce(bonds)
    return openmm.XmlSerializer.serialize(system)


def test_every_parameter_is_summed_per_list_and_the_net_charge_does_not_hide_a_scaling():
    summary = system_summary(water_like_system())
    assert summary["Particles/Particle count"] == 3
    assert summary["Particles/Particle mass"] == round(15.999 + 2 * 1.008, 9)
    assert summary["NonbondedForce/Particles/Particle q"] == round(2 * 0.834, 9)  # |q| summed, net charge 0
    assert summary["NonbondedForce cutoff"] == 0.9
    assert summary["HarmonicBondForce/Bonds/Bond count"] == 2
    assert not any(key.endswith((" p1", " p2", " version", " forceGroup")) for key in summary)
    assert differences(summary, system_summary(water_like_system())) == []


def test_a_changed_model_is_named_in_words():
    changed = differences(system_summary(water_like_system()), system_summary(water_like_system(1.05, 1.0)))
    assert "NonbondedForce/Particles/Particle q: expected 1.668, got 1.7514 (+5 %)" in changed
    assert "NonbondedForce cutoff: expected 0.9, got 1 (+11.1 %)" in changed
    assert differences({"a": 1.0}, {"b": 1.0}) == ["a: only in the reference", "b: not in the reference"]


def test_the_integrator_is_read_back_from_the_object():
    integrator = openmm.LangevinMiddleIntegrator(310 * unit.kelvin, 1 / unit.picosecond, 2.2 * unit.femtosecond)
    summary = integrator_summary(integrator)
    assert summary == {"type": "LangevinMiddleIntegrator", "temperature_k": 310.0, "friction_per_ps": 1.0,
                       "step_fs": 2.2}
    assert differences({**summary, "temperature_k": 300.0}, summary) == [
        "thermostat temperature: expected 300 K, got 310 K (+3.33 %)"]
