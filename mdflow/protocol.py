"""The MD protocol of each system: equilibration stages before production, and production's ensemble.

Config (config.schema.yaml): `equilibration` is a list of stages run by every replica in order, each a
restartable segment of its own (rule `equilibrate`); `equilibration_for: {system: [stages]}` replaces
the list for named systems; `pressure_bar` is the barostat's pressure; `production_ensemble` auto means
NPT for explicit solvent, NVT for implicit. An NPT stage is skipped for implicit solvent (no box whose
density could settle). Pure: settings and a system in, stages out; errors name the key and the value.
"""

from dataclasses import dataclass

from mdflow.errors import MdflowError
from mdflow.layout import stage_id

DEFAULT_HEAT_FROM_K = 50.0


@dataclass(frozen=True)
class Stage:
    index: int
    name: str
    steps: int
    restraint_kj_mol_nm2: float
    heat_from_k: float | None
    pressure_bar: float | None      # None: NVT

    @property
    def id(self) -> str:
        return stage_id(self.index)

    def describe(self, timestep_fs: float) -> str:
        parts = [f"{self.steps * timestep_fs / 1000:g} ps", "NPT" if self.pressure_bar is not None else "NVT"]
        if self.heat_from_k is not None:
            parts.append(f"heated from {self.heat_from_k:g} K")
        if self.restraint_kj_mol_nm2:
            parts.append(f"solute heavy atoms restrained at {self.restraint_kj_mol_nm2:g} kJ/mol/nm²")
        return f"{self.name}: " + ", ".join(parts)


def _steps(ps: float, timestep_fs: float, report_steps: int, where: str) -> int:
    steps = round(ps * 1000.0 / timestep_fs)
    if steps < report_steps or steps % report_steps or abs(steps * timestep_fs - ps * 1000.0) > 1e-6:
        raise MdflowError(f"{where}: {ps} ps is not a whole number of report intervals "
                          f"({report_steps} steps of {timestep_fs} fs)")
    return steps


def stages_for(settings: dict, name: str, solvent: str, temperature_k: float, report_steps: int) -> list[Stage]:
    """The equilibration stages system `name` runs (NPT stages dropped for implicit solvent)."""
    overrides = settings.get("equilibration_for") or {}
    raw = overrides[name] if name in overrides else settings.get("equilibration") or []
    key = f"equilibration_for.{name}" if name in overrides else "equilibration"
    stages = []
    for number, entry in enumerate(raw):
        where = f"config, key '{key}', stage {number + 1} ({entry.get('name', '?')})"
        npt = entry.get("ensemble", "NVT") == "NPT"
        if npt and solvent != "explicit":
            continue
        heat = entry.get("heat_from_k")
        if heat is not None and not 0 < heat < temperature_k:
            raise MdflowError(f"{where}: heat_from_k {heat} must be above 0 K and below the temperature of "
                              f"system {name!r} ({temperature_k:g} K)")
        if heat is not None and npt:
            raise MdflowError(f"{where}: a heating stage runs NVT (set ensemble: NVT or drop heat_from_k)")
        stages.append(Stage(len(stages), entry["name"], _steps(entry["ps"], settings["timestep_fs"], report_steps,
                                                               where),
                            float(entry.get("restraint_kj_mol_nm2", 0.0)), heat,
                            settings["pressure_bar"] if npt else None))
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise MdflowError(f"config, key '{key}': stage names repeat ({', '.join(names)}); give each its own")
    return stages


def production_pressure(settings: dict, solvent: str) -> float | None:
    """The barostat's pressure in production, or None for NVT."""
    ensemble = settings.get("production_ensemble", "auto")
    if ensemble == "NPT" and solvent != "explicit":
        return None  # implicit solvent has no box
    if ensemble == "NPT" or (ensemble == "auto" and solvent == "explicit"):
        return settings["pressure_bar"]
    return None


MAX_STEP_WITHOUT_HMR_FS = 2.5


def check_protocol(settings: dict, systems: dict, report_steps: int) -> None:
    """Every system's stages parse (one line naming the key otherwise); unknown names in equilibration_for
    are refused; a timestep above 2.5 fs needs heavier hydrogens."""
    if settings["timestep_fs"] > MAX_STEP_WITHOUT_HMR_FS and not settings.get("hydrogen_mass_amu"):
        raise MdflowError(f"config, key 'timestep_fs': {settings['timestep_fs']:g} fs is unstable with hydrogens of "
                          f"1 amu (at most {MAX_STEP_WITHOUT_HMR_FS:g} fs); set hydrogen_mass_amu: 4 (hydrogen mass "
                          f"repartitioning) for up to 4 fs")
    unknown = sorted(set(settings.get("equilibration_for") or {}) - set(systems))
    if unknown:
        raise MdflowError(f"config, key 'equilibration_for': {unknown[0]!r} is not a system of the sheet "
                          f"(systems: {', '.join(sorted(systems)[:5])}{', …' if len(systems) > 5 else ''})")
    for system in systems.values():
        stages_for(settings, system.name, system.solvent, system.temperature_k, report_steps)
