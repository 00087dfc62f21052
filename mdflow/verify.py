"""`mdflow verify`: compare a finished campaign with committed reference results.

Two kinds of check, decided per system when the reference is written (`--update`):
* exact: sha256 of every pulled segment trajectory and energy table and of the minimized state.
  Only where runs repeat bit for bit: implicit solvent on the Reference platform, or on CPU with
  one thread or DeterministicForces (setup is seeded). PME (explicit water) does not repeat across
  a checkpoint restart, so explicit systems get tolerances only.
* tolerance: numbers read from the results (energies from the pulled CSVs, RMSD/Rg from the
  analysis summary) within |got - expected| <= max(abs, rel * |expected|).

Results depend on the OpenMM, PDBFixer and NumPy versions, the platform and the CPU (measured: two
x86-64 machines with the same vector instructions but different CPU models minimized the same
structures to energies 0.03-0.9 % apart). When the reference was written in another environment,
exact checks are reported as skipped and the energy tolerances are widened to ACROSS_MACHINES:
other machines agree statistically, not to the last digit.

Everything but `measure()` and the file I/O is pure.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from mdflow.errors import MdflowError
from mdflow.io_atomic import atomic_write_text, sha256_file

EXACT = {"exact": True}
# Default tolerances by quantity kind, chosen for a 0.4 ps ci run: loose enough for a PME run that
# was resumed from a checkpoint, tight enough that a changed force field, seed or step is caught.
TOLERANCES = {
    "frames": EXACT,
    "potential_after_kj_mol": {"abs": 0.01, "rel": 1e-4},
    "potential_kj_mol.mean": {"abs": 0.5, "rel": 1e-3},
    "temperature_k.mean": {"abs": 5.0, "rel": 0.0},
    "rmsd_nm.mean": {"abs": 0.01, "rel": 0.0},
    "rg_nm.mean": {"abs": 0.01, "rel": 0.0},
}
# Across environments a 100-step minimization ends elsewhere on the energy surface and the short
# trajectories follow it: still tight enough to catch another force field, solvent or system.
ACROSS_MACHINES = {
    "potential_after_kj_mol": {"abs": 1.0, "rel": 0.02},
    "potential_kj_mol.mean": {"abs": 1.0, "rel": 0.02},
}
CPU_FLAGS_THAT_CHANGE_RESULTS = ("sse4_1", "avx", "avx2", "fma", "avx512f")
CPU_IDENTITY = ("vendor_id", "cpu family", "model", "model name")


@dataclass(frozen=True)
class Measured:
    quantity: str
    value: object          # a number, an int or a sha256 string; None when the result is missing
    tolerance: dict        # EXACT or {"abs": a, "rel": r}


@dataclass(frozen=True)
class Row:
    quantity: str
    expected: object
    got: object
    tolerance: dict
    ok: bool
    note: str = ""


def first_processor(cpuinfo_text: str) -> dict:
    """/proc/cpuinfo's first block as {key: value} (a repeated key keeps its first value)."""
    fields = {}
    for line in cpuinfo_text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_vector_flags(cpuinfo_text: str) -> list[str]:
    flags = set(first_processor(cpuinfo_text).get("flags", "").split())
    return [f for f in CPU_FLAGS_THAT_CHANGE_RESULTS if f in flags]


def cpu_model(cpuinfo_text: str) -> str:
    """'AuthenticAMD family 26 model 2: AMD EPYC' from the first processor's block ('' if unknown)."""
    fields = first_processor(cpuinfo_text)
    if not any(fields.get(k) for k in CPU_IDENTITY):
        return ""
    return (f"{fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}: "
            f"{fields.get('model name', '?')}")


def environment(platform: str) -> dict:
    """What results depend on: OpenMM, PDBFixer and NumPy versions, platform, CPU model and vector
    instructions."""
    from importlib.metadata import version

    import openmm

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return {"openmm": openmm.__version__, "pdbfixer": version("pdbfixer"), "numpy": version("numpy"),
            "platform": platform, "cpu_flags": cpu_vector_flags(cpuinfo), "cpu_model": cpu_model(cpuinfo)}


def across_machines(quantity: str, tolerance: dict) -> dict:
    """The tolerance of `quantity` against a reference from another environment (never tighter)."""
    wider = ACROSS_MACHINES.get(quantity.rsplit(" ", 1)[-1])
    if not wider or tolerance.get("exact"):
        return tolerance
    return {key: max(tolerance.get(key, 0.0), wider.get(key, 0.0)) for key in ("abs", "rel")}


def bitwise_reproducible(solvent: str, settings: dict) -> bool:
    if solvent != "implicit":
        return False
    platform = settings.get("platform")
    return platform == "Reference" or (
        platform == "CPU" and (settings.get("threads") == 1 or settings.get("deterministic_forces", False))
    )


def _energy_rows(paths) -> list[dict] | None:
    rows = []
    for path in paths:
        try:
            with open(path, newline="") as handle:
                rows.extend({k: float(v) for k, v in row.items()} for row in csv.DictReader(handle))
        except (OSError, ValueError, TypeError):
            return None
    return rows


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _mean(values):
    return round(sum(values) / len(values), 6) if values else None


def measure_system(results: Path, system, exact: bool) -> list[Measured]:
    """Every quantity of one system, read from its results (value None where a file is missing)."""
    base = results / system.name
    out = []
    setup = _read_json(base / "setup" / "setup.json") or {}
    out.append(Measured(f"{system.name}/setup potential_after_kj_mol", setup.get("potential_after_kj_mol"),
                        TOLERANCES["potential_after_kj_mol"]))
    if exact:
        state = base / "setup" / "minimized.xml"
        out.append(Measured(f"{system.name}/setup/minimized.xml sha256", sha256_file(state) if state.is_file() else None,
                            EXACT))
    summary = (_read_json(base / "analysis" / "summary.json") or {}).get("replicas", {})
    for replica in range(system.replicas):
        rep = base / f"rep{replica}"
        on_disk = len({p.stem for p in rep.glob("seg*.csv")} | {p.stem for p in rep.glob("seg*.dcd")})
        segments = [f"seg{k:03d}" for k in range(max(system.segments, on_disk))]  # adaptive runs may add some
        csvs = [rep / f"{s}.csv" for s in segments]
        rows = _energy_rows(csvs)
        label = f"{system.name}/rep{replica}"
        out.append(Measured(f"{label} frames", len(rows) if rows is not None else None, TOLERANCES["frames"]))
        for key in ("potential_kj_mol", "temperature_k"):
            value = _mean([r[key] for r in rows]) if rows else None
            out.append(Measured(f"{label} {key}.mean", value, TOLERANCES[f"{key}.mean"]))
        for key in ("rmsd_nm", "rg_nm"):
            value = summary.get(str(replica), {}).get(key, {}).get("mean")
            out.append(Measured(f"{label} {key}.mean", value, TOLERANCES[f"{key}.mean"]))
        if exact:
            for path in sorted([*csvs, *(rep / f"{s}.dcd" for s in segments)]):
                out.append(Measured(f"{label}/{path.name} sha256", sha256_file(path) if path.is_file() else None, EXACT))
    return out


def measure(project: Path, campaign) -> list[Measured]:
    results = project / campaign.results
    if not results.is_dir():
        raise MdflowError(f"{campaign.results}/: no results to verify; run the campaign first")
    return [m for system in campaign.systems.values()
            for m in measure_system(results, system, bitwise_reproducible(system.solvent, campaign.settings))]


def within(expected, got, tolerance: dict) -> bool:
    if got is None:
        return False
    if tolerance.get("exact"):
        return expected == got
    if not isinstance(got, (int, float)) or not isinstance(expected, (int, float)):
        return False
    return abs(got - expected) <= max(tolerance.get("abs", 0.0), tolerance.get("rel", 0.0) * abs(expected))


def compare(reference: dict, measured: list[Measured], here: dict) -> list[Row]:
    """One row per quantity in the reference or in the results."""
    same_environment = reference.get("environment") == here
    expected_by_name = {q["quantity"]: q for q in reference.get("quantities", [])}
    got_by_name = {m.quantity: m for m in measured}
    rows = []
    for name, entry in expected_by_name.items():
        expected, tolerance = entry["expected"], entry["tolerance"]
        got = got_by_name[name].value if name in got_by_name else None
        if tolerance.get("exact") and not same_environment and isinstance(expected, str):
            rows.append(Row(name, expected, got, tolerance, True, "skipped: reference from another environment"))
        elif got is None:
            rows.append(Row(name, expected, None, tolerance, False, "missing from the results"))
        else:
            applied = tolerance if same_environment else across_machines(name, tolerance)
            note = "widened: reference from another environment" if applied != tolerance else ""
            rows.append(Row(name, expected, got, applied, within(expected, got, applied), note))
    for name, m in got_by_name.items():
        if name not in expected_by_name:
            rows.append(Row(name, None, m.value, m.tolerance, False, "not in the reference; verify --update adds it"))
    return rows


def reference_from(measured: list[Measured], here: dict) -> dict:
    missing = [m.quantity for m in measured if m.value is None]
    if missing:
        raise MdflowError(f"cannot write a reference from an unfinished run: {missing[0]} is missing "
                          f"({len(missing)} quantities missing)")
    return {
        "about": "reference results for `mdflow verify`; rewrite deliberately with `mdflow verify --update`",
        "environment": here,
        "quantities": [{"quantity": m.quantity, "expected": m.value, "tolerance": m.tolerance} for m in measured],
    }


def _show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value[:12] + "…" if len(value) == 64 else value
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _show_tolerance(tolerance: dict) -> str:
    if tolerance.get("exact"):
        return "exact"
    parts = [f"abs {tolerance['abs']:g}" if tolerance.get("abs") else "", f"rel {tolerance['rel']:g}" if tolerance.get("rel") else ""]
    return ", ".join(p for p in parts if p) or "exact"


def render(rows: list[Row]) -> str:
    table = [("quantity", "expected", "got", "tolerance", "ok")]
    for row in rows:
        verdict = ("ok" if row.ok else "FAIL") + (f" ({row.note})" if row.note else "")
        table.append((row.quantity, _show(row.expected), _show(row.got), _show_tolerance(row.tolerance), verdict))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(r[:4], widths)) + "  " + r[4] for r in table]
    failed = sum(not r.ok for r in rows)
    skipped = sum(r.note.startswith("skipped") for r in rows)
    widened = sum(r.note.startswith("widened") for r in rows)
    summary = f"{len(rows) - failed} of {len(rows)} quantities ok" + (f", {failed} FAILED" if failed else "")
    if skipped or widened:
        summary += (f" ({skipped} exact checks skipped, {widened} tolerances widened: the reference was written "
                    f"with other OpenMM/PDBFixer/NumPy/platform/CPU)")
    return "\n".join(lines + ["", summary]) + "\n"


def load_reference(path: Path, shown: str) -> dict:
    try:
        reference = json.loads(path.read_text())
        reference["quantities"][0]["tolerance"].get
        return reference
    except FileNotFoundError:
        raise MdflowError(f"{shown}: reference not found; write one deliberately with `mdflow verify --update`") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise MdflowError(f"{shown}: not a reference file (JSON with a 'quantities' list); "
                          f"rewrite it with `mdflow verify --update`") from None


def write_reference(path: Path, reference: dict) -> None:
    atomic_write_text(path, json.dumps(reference, indent=1) + "\n")
