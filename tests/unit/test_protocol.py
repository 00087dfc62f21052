"""The protocol each system runs: stages from the config (per campaign, per system), production's
ensemble, and one-line refusals naming the key."""

from types import SimpleNamespace

import pytest

from mdflow.errors import MdflowError
from mdflow.protocol import check_protocol, production_pressure, stages_for

SETTINGS = {"timestep_fs": 2.0, "pressure_bar": 1.0, "equilibration": [
    {"name": "heat", "ps": 10, "heat_from_k": 50, "restraint_kj_mol_nm2": 1000},
    {"name": "release", "ps": 10, "restraint_kj_mol_nm2": 100, "ensemble": "NPT"},
    {"name": "density", "ps": 20, "ensemble": "NPT"},
]}
REPORT_STEPS = 500  # 1 ps


def system(name="ala", solvent="explicit", temperature_k=300.0):
    return SimpleNamespace(name=name, solvent=solvent, temperature_k=temperature_k)


def test_explicit_solvent_runs_every_stage_and_production_in_npt():
    stages = stages_for(SETTINGS, "ala", "explicit", 300.0, REPORT_STEPS)
    assert [(s.id, s.name, s.steps, s.pressure_bar) for s in stages] == [
        ("00", "heat", 5000, None), ("01", "release", 5000, 1.0), ("02", "density", 10000, 1.0)]
    assert stages[0].describe(2.0) == "heat: 10 ps, NVT, heated from 50 K, solute heavy atoms restrained at 1000 kJ/mol/nm²"
    assert production_pressure(SETTINGS, "explicit") == 1.0


def test_implicit_solvent_skips_npt_stages_and_runs_nvt():
    stages = stages_for(SETTINGS, "villin", "implicit", 300.0, REPORT_STEPS)
    assert [s.name for s in stages] == ["heat"]
    assert production_pressure(SETTINGS, "implicit") is None
    assert production_pressure({**SETTINGS, "production_ensemble": "NPT"}, "implicit") is None
    assert production_pressure({**SETTINGS, "production_ensemble": "NVT"}, "explicit") is None


def test_a_system_can_have_its_own_stages_and_none_at_all():
    settings = {**SETTINGS, "equilibration_for": {"villin": []}}
    assert stages_for(settings, "villin", "implicit", 300.0, REPORT_STEPS) == []
    assert len(stages_for(settings, "ala", "explicit", 300.0, REPORT_STEPS)) == 3


@pytest.mark.parametrize("change, message", [
    ({"equilibration": [{"name": "heat", "ps": 10, "heat_from_k": 300}]},
     "config, key 'equilibration', stage 1 (heat): heat_from_k 300 must be above 0 K and below the temperature "
     "of system 'ala' (300 K)"),
    ({"equilibration": [{"name": "hot", "ps": 10, "heat_from_k": 50, "ensemble": "NPT"}]},
     "config, key 'equilibration', stage 1 (hot): a heating stage runs NVT (set ensemble: NVT or drop heat_from_k)"),
    ({"equilibration": [{"name": "short", "ps": 1.5}]},
     "config, key 'equilibration', stage 1 (short): 1.5 ps is not a whole number of report intervals "
     "(500 steps of 2.0 fs)"),
    ({"equilibration": [{"name": "a", "ps": 1}, {"name": "a", "ps": 1}]},
     "config, key 'equilibration': stage names repeat (a, a); give each its own"),
    ({"equilibration_for": {"nosuch": []}},
     "config, key 'equilibration_for': 'nosuch' is not a system of the sheet (systems: ala)"),
    ({"timestep_fs": 4.0},
     "config, key 'timestep_fs': 4 fs is unstable with hydrogens of 1 amu (at most 2.5 fs); set "
     "hydrogen_mass_amu: 4 (hydrogen mass repartitioning) for up to 4 fs"),
])
def test_bad_protocols_are_refused_in_one_line(change, message):
    with pytest.raises(MdflowError) as info:
        check_protocol({**SETTINGS, **change}, {"ala": system()}, REPORT_STEPS)
    assert str(info.value) == message


def test_four_fs_with_heavy_hydrogens_is_accepted():
    check_protocol({**SETTINGS, "timestep_fs": 4.0, "hydrogen_mass_amu": 4.0, "equilibration": []},
                   {"ala": system()}, 250)
