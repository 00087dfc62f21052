"""`mdflow verify`: compare a finished campaign with committed reference results.

Four kinds of check, decided per quantity when the reference is written (`--update`):
* model: what was simulated, on any machine: every force-field parameter of the setup's system.xml
  (summed per parameter, mdflow.model_summary) and the integrator each replica ran with (thermostat
  temperature, friction, timestep, read back from the integrator). Chaos cannot move them, so they find
  changes that short runs' averages cannot resolve (a thermostat 10 K off, a 10 % longer timestep).
* exact: sha256 of every pulled segment trajectory and energy table and of the minimized state,
  where runs repeat bit for bit (CPU with one thread or DeterministicForces, or Reference; setup is
  seeded and PME segments continue as resumed ones do), and the frame counts. Checked only against a
  reference from the same environment; elsewhere they are reported as skipped.
* statistical: the mean of each replica's time series (potential energy, temperature, RMSD, radius of
  gyration). A trajectory is chaotic: another CPU, another summation order or another velocity seed
  gives another trajectory after a few ps, so its means agree only within their sampling error. The
  reference stores, per series, the mean, its standard error and the frames it was taken over (from
  the first equilibrated frame, pymbar.timeseries.detect_equilibration on the reference run). A run is
  judged over the same frames: SE = std * sqrt(g / n) with g the statistical inefficiency
  (pymbar.timeseries.statistical_inefficiency: the correlation of successive frames), and
  z = (got - expected) / sqrt(SE_ref^2 + SE_got^2). It fails when |z| exceeds z_limit(m): the
  two-sided normal quantile that keeps the chance of ANY false alarm among the campaign's m
  statistical quantities at FALSE_ALARM_RATE (Bonferroni: each is tested at FALSE_ALARM_RATE / m).
  Measured false alarms and power: benchmarks/verify_power.py.
* tolerance: the setup's minimized energy, which is deterministic on one machine but ends 0.03-0.9 %
  apart on CPUs with other models (measured): |got - expected| <= max(abs, rel * |expected|), widened
  to ACROSS_MACHINES against a reference from another environment.

Everything but `measure()` and the file I/O is pure.
"""

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

from mdflow.errors import MdflowError
from mdflow.io_atomic import atomic_write_text, sha256_file
from mdflow.layout import replica_dir, segment_stem
from mdflow.metrics import VERIFIED, words_and_unit
from mdflow.model_summary import differences, system_summary
from mdflow.series_statistics import equilibrated_from, mean_and_error

EXACT = {"exact": True}
STATISTICAL = {"statistical": True}
MODEL = {"model": True}
FALSE_ALARM_RATE = 0.01   # chance that a correct run fails anywhere in the campaign
TOLERANCES = {"potential_after_kj_mol": {"abs": 0.01, "rel": 1e-4}}
# Across environments a minimization ends elsewhere on the energy surface (measured up to 0.9 %).
ACROSS_MACHINES = {"potential_after_kj_mol": {"abs": 1.0, "rel": 0.02}}
SERIES = {key: words_and_unit(key) for key in VERIFIED}
CPU_FLAGS_THAT_CHANGE_RESULTS = ("sse4_1", "avx", "avx2", "fma", "avx512f")
CPU_IDENTITY = ("vendor_id", "cpu family", "model", "model name")


@dataclass(frozen=True)
class Measured:
    quantity: str
    value: object          # a number, an int, a sha256 string, or (statistical) the list of values of the
    tolerance: dict        # series; None when the result is missing. EXACT, STATISTICAL or {"abs", "rel"}


@dataclass(frozen=True)
class Row:
    quantity: str
    expected: object
    got: object
    tolerance: dict
    ok: bool
    note: str = ""
    z: float | None = None  # statistical rows: (got - expected) / combined standard error


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


def platforms_used(results: Path) -> str | None:
    """The OpenMM platform(s) the results were computed on, read from their records (each setup.json,
    each segment's and stage's provenance or its upstream step's): verify judges what ran, whatever
    the config says now (`--config platform=…`, a GPU that fell back to CPU). None when unrecorded."""
    found = {(_read_json(path) or {}).get("platform") for path in results.glob("*/setup/setup.json")}
    for path in results.glob("*/rep*/*.provenance.json"):
        record = _read_json(path) or {}
        found.add(record.get("platform") or (record.get("upstream") or {}).get("platform"))
    found.discard(None)
    return "+".join(sorted(found)) or None


def across_machines(quantity: str, tolerance: dict) -> dict:
    """The tolerance of `quantity` against a reference from another environment (never tighter)."""
    wider = ACROSS_MACHINES.get(quantity.rsplit(" ", 1)[-1])
    if not wider or tolerance.get("exact") or tolerance.get("statistical"):
        return tolerance
    return {key: max(tolerance.get(key, 0.0), wider.get(key, 0.0)) for key in ("abs", "rel")}


def bitwise_reproducible(settings: dict) -> bool:
    """Whether a run repeats bit for bit on one machine (PME included since segments continue as resumed
    ones do and setup honours threads and DeterministicForces)."""
    platform = settings.get("platform")
    return platform == "Reference" or (
        platform == "CPU" and (settings.get("threads") == 1 or settings.get("deterministic_forces", False))
    )


def z_limit(quantities: int, false_alarm_rate: float = FALSE_ALARM_RATE, runs: int = 1) -> float:
    """|z| above which a statistical quantity fails: two-sided, Bonferroni over `quantities` tests; a
    Student t quantile (runs - 1 degrees of freedom) where the spread was estimated from `runs` runs."""
    tail = 1 - false_alarm_rate / (2 * max(quantities, 1))
    if runs >= 2:
        from scipy.stats import t

        return float(t.ppf(tail, runs - 1))
    return NormalDist().inv_cdf(tail)


def expected_spread(expected: dict, got: dict) -> float:
    """The standard deviation of (got - expected) for a run that differs only by chaos. From the time
    series alone: the two standard errors combined. Where the reference holds several runs, also their
    spread (as a prediction for one more run: run_sd * sqrt(1 + 1/runs)), which a single short run
    cannot see: it samples one set of slow conformational changes (benchmarks/verify_power.py)."""
    within = math.hypot(expected["se"], got["se"])
    runs = expected.get("runs", 1)
    if runs < 2:
        return within
    return max(within, expected["run_sd"] * math.sqrt(1 + 1 / runs))


def z_score(expected: dict, got: dict) -> float:
    spread = expected_spread(expected, got)
    if spread == 0.0:
        return 0.0 if got["mean"] == expected["mean"] else math.inf
    return (got["mean"] - expected["mean"]) / spread


# -- reading results --------------------------------------------------------------------------------

def _energy_rows(paths) -> list[dict] | None:
    rows = []
    for path in paths:
        try:
            with open(path, newline="") as handle:
                rows.extend({k: float(v) for k, v in row.items()} for row in csv.DictReader(handle))
        except (OSError, ValueError, TypeError):
            return None
    return rows


def _structure_rows(path: Path) -> dict:
    """{replica: {"rmsd_nm": [...], "rg_nm": [...]}} from an analysis timeseries.csv ({} if missing)."""
    series = {}
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                replica = series.setdefault(int(row["replica"]), {"rmsd_nm": [], "rg_nm": []})
                for key in replica:
                    replica[key].append(float(row[key]))
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return series


def _integrator(replica_dir: Path, segments: list[str]) -> dict | None:
    """The integrator settings of a replica's segments: a setting that differs between segments reads
    'differs between segments'; None when a segment's record is missing."""
    settings = [(_read_json(replica_dir / f"{s}.json") or {}).get("segment", {}).get("integrator") for s in segments]
    if not settings or any(not isinstance(one, dict) for one in settings):
        return None
    return {key: settings[0][key] if all(one.get(key) == settings[0][key] for one in settings)
            else "differs between segments" for key in settings[0]}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def measure_system(results: Path, system, exact: bool) -> list[Measured]:
    """Every quantity of one system, read from its results (value None where a file is missing)."""
    base = results / system.name
    out = []
    setup = _read_json(base / "setup" / "setup.json") or {}
    out.append(Measured(f"{system.name}/setup potential_after_kj_mol", setup.get("potential_after_kj_mol"),
                        TOLERANCES["potential_after_kj_mol"]))
    system_xml = base / "setup" / "system.xml"
    out.append(Measured(f"{system.name}/setup model", system_summary(system_xml.read_text()) if system_xml.is_file()
                        else None, MODEL))
    if exact:
        state = base / "setup" / "minimized.xml"
        out.append(Measured(f"{system.name}/setup/minimized.xml sha256", sha256_file(state) if state.is_file() else None,
                            EXACT))
    structure = _structure_rows(base / "analysis" / "timeseries.csv")
    for replica in range(system.replicas):
        rep = Path(replica_dir(results, system.name, replica))
        on_disk = len({p.stem for p in rep.glob("seg*.csv")} | {p.stem for p in rep.glob("seg*.dcd")})
        segments = [segment_stem(k) for k in range(max(system.segments, on_disk))]  # adaptive runs may add some
        csvs = [rep / f"{s}.csv" for s in segments]
        rows = _energy_rows(csvs)
        label = f"{system.name}/rep{replica}"
        out.append(Measured(f"{label} frames", len(rows) if rows is not None else None, EXACT))
        out.append(Measured(f"{label} integrator", _integrator(rep, segments), MODEL))
        for key in SERIES:
            values = [r[key] for r in rows] if rows and key in rows[0] else structure.get(replica, {}).get(key)
            out.append(Measured(f"{label} {key}.mean", values or None, STATISTICAL))
        if exact:
            for path in sorted([*csvs, *(rep / f"{s}.dcd" for s in segments)]):
                out.append(Measured(f"{label}/{path.name} sha256", sha256_file(path) if path.is_file() else None, EXACT))
    return out


def measure(project: Path, campaign) -> list[Measured]:
    results = project / campaign.results
    if not results.is_dir():
        raise MdflowError(f"{campaign.results}/: no results to verify; run the campaign first")
    return [m for system in campaign.systems.values()
            for m in measure_system(results, system, bitwise_reproducible(campaign.settings))]


# -- judging ----------------------------------------------------------------------------------------

def within(expected, got, tolerance: dict) -> bool:
    if got is None:
        return False
    if tolerance.get("exact"):
        return expected == got
    if not isinstance(got, (int, float)) or not isinstance(expected, (int, float)):
        return False
    return abs(got - expected) <= max(tolerance.get("abs", 0.0), tolerance.get("rel", 0.0) * abs(expected))


def _judge_statistical(name: str, expected: dict, series, quantities: int) -> Row:
    first = expected.get("from_frame", 0)
    if not isinstance(series, list) or len(series) - first < 2:
        return Row(name, expected, None, STATISTICAL, False, "missing from the results")
    got = mean_and_error(series[first:])
    z, limit = z_score(expected, got), z_limit(quantities, runs=expected.get("runs", 1))
    return Row(name, expected, got, {**STATISTICAL, "z_limit": limit}, abs(z) <= limit, z=z)


def _judge_model(name: str, expected: dict, got, same_environment: bool) -> Row:
    if not isinstance(got, dict):
        return Row(name, expected, None, MODEL, False, "missing from the results")
    if not same_environment:  # another OpenMM may serialize parameters the reference's did not have
        shared = expected.keys() & got.keys()
        expected, got = {k: expected[k] for k in shared}, {k: got[k] for k in shared}
    changed = differences(expected, got)
    return Row(name, expected, got, MODEL, not changed, f"{len(changed)} differ" if changed else "")


def compare(reference: dict, measured: list[Measured], here: dict, exact_checks: bool = True) -> list[Row]:
    """One row per quantity in the reference or in the results. `exact_checks=False` judges as against
    a reference from another machine (exact checks skipped, tolerances widened)."""
    same_environment = exact_checks and reference.get("environment") == here
    expected_by_name = {q["quantity"]: q for q in reference.get("quantities", [])}
    got_by_name = {m.quantity: m for m in measured}
    statistical = sum(1 for q in expected_by_name.values() if q["tolerance"].get("statistical"))
    rows = []
    for name, entry in expected_by_name.items():
        expected, tolerance = entry["expected"], entry["tolerance"]
        got = got_by_name[name].value if name in got_by_name else None
        if tolerance.get("statistical"):
            rows.append(_judge_statistical(name, expected, got, statistical))
        elif tolerance.get("model"):
            rows.append(_judge_model(name, expected, got, same_environment))
        elif tolerance.get("exact") and not same_environment and isinstance(expected, str):
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


def reference_from(measured: list[Measured], here: dict, repeats: list[list[Measured]] = ()) -> dict:
    """The reference of run `measured`; `repeats`: the same campaign run again with other velocity seeds
    (velocity_seed_offset), whose spread tells how far one more run may land by chaos alone."""
    for run in (measured, *repeats):  # repeats give only the spread of the statistical quantities
        missing = [m.quantity for m in run if m.value is None and (run is measured or m.tolerance.get("statistical"))]
        if missing:
            raise MdflowError(f"cannot write a reference from an unfinished run: {missing[0]} is missing "
                              f"({len(missing)} quantities missing)")
    repeated = [{m.quantity: m.value for m in run} for run in repeats]

    def expected(m: Measured):
        if not m.tolerance.get("statistical"):
            return m.value
        first = equilibrated_from(m.value)
        statistics = {**mean_and_error(m.value[first:]), "from_frame": first}
        if repeated:
            means = [statistics["mean"]] + [_window_mean(run.get(m.quantity), first, m.quantity) for run in repeated]
            average = sum(means) / len(means)
            spread = math.sqrt(sum((x - average) ** 2 for x in means) / (len(means) - 1))
            statistics.update(mean=round(average, 6), run_sd=round(spread, 6), runs=len(means))
        return statistics

    return {
        "about": "reference results for `mdflow verify`; rewrite deliberately with `mdflow verify --update`",
        "environment": here,
        "quantities": [{"quantity": m.quantity, "expected": expected(m), "tolerance": m.tolerance} for m in measured],
    }


def _window_mean(series, first: int, quantity: str) -> float:
    if not isinstance(series, list) or len(series) - first < 2:
        raise MdflowError(f"cannot write a reference: a repeated run has no {quantity} series of "
                          f"{first + 2} frames or more (not the same campaign?)")
    return sum(series[first:]) / len(series[first:])


# -- the table --------------------------------------------------------------------------------------

def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.6g}"


def _show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and "mean" in value:
        return f"{_number(value['mean'])} ± {_number(value['se'])}"
    if isinstance(value, dict) and "step_fs" in value:
        return f"{value['temperature_k']:g} K, {value['step_fs']:g} fs"
    if isinstance(value, dict):
        return f"{len(value)} parameters"
    if isinstance(value, list):
        return f"{len(value)} values"
    if isinstance(value, str):
        return value[:12] + "…" if len(value) == 64 else value
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _show_criterion(row: Row) -> str:
    tolerance = row.tolerance
    if tolerance.get("statistical"):
        shown = "-" if row.z is None else ("inf" if math.isinf(row.z) else f"{row.z:+.1f}")
        return f"z {shown}, limit {tolerance['z_limit']:.2f}" if "z_limit" in tolerance else "z -"
    if tolerance.get("exact"):
        return "exact"
    if tolerance.get("model"):
        return "same model"
    parts = [f"abs {tolerance['abs']:g}" if tolerance.get("abs") else "", f"rel {tolerance['rel']:g}" if tolerance.get("rel") else ""]
    return ", ".join(p for p in parts if p) or "exact"


def explain(row: Row) -> str:
    """A failed model or statistical quantity in words."""
    if row.tolerance.get("model"):
        changed = differences(row.expected, row.got)
        more = f"; and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"{row.quantity}: not what the reference simulated: {'; '.join(changed[:3])}{more}"
    quantity, _, key = row.quantity.rpartition(" ")
    words, unit = SERIES.get(key.removesuffix(".mean"), (key, ""))
    e, g = row.expected, row.got
    runs = e.get("runs", 1)
    spread = (f"; {runs} reference runs spread by {_number(e['run_sd'])} {unit}" if runs >= 2 else "")
    return (f"{quantity}: mean {words} (frames {e.get('from_frame', 0) + 1} on) expected {_number(e['mean'])} ± "
            f"{_number(e['se'])} {unit}{spread}, got {_number(g['mean'])} ± {_number(g['se'])} {unit}: "
            f"{abs(row.z):.1f} standard deviations apart, more than chaos explains (limit {row.tolerance['z_limit']:.2f})")


def render(rows: list[Row]) -> str:
    table = [("quantity", "expected", "got", "criterion", "ok")]
    for row in rows:
        verdict = ("ok" if row.ok else "FAIL") + (f" ({row.note})" if row.note else "")
        table.append((row.quantity, _show(row.expected), _show(row.got), _show_criterion(row), verdict))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(r[:4], widths)) + "  " + r[4] for r in table]
    failed = sum(not r.ok for r in rows)
    skipped = sum(r.note.startswith("skipped") for r in rows)
    widened = sum(r.note.startswith("widened") for r in rows)
    words = [explain(r) for r in rows if not r.ok and (r.z is not None or (r.tolerance.get("model") and r.expected and r.got))]
    summary = f"{len(rows) - failed} of {len(rows)} quantities ok" + (f", {failed} FAILED" if failed else "")
    if skipped or widened:
        summary += (f" ({skipped} exact checks skipped, {widened} tolerances widened: the reference was written "
                    f"with other OpenMM/PDBFixer/NumPy/platform/CPU)")
    return "\n".join(lines + [""] + words + ([""] if words else []) + [summary]) + "\n"


def load_reference(path: Path, shown: str) -> dict:
    try:
        reference = json.loads(path.read_text())
        reference["quantities"][0]["tolerance"].get
        if any(q["quantity"].endswith(".mean") and not (isinstance(q["expected"], dict) and "se" in q["expected"])
               for q in reference["quantities"]):
            # a mean needs its standard error (references of mdflow before the statistical judgement lack it)
            raise KeyError("statistical quantity without mean and standard error")
        return reference
    except FileNotFoundError:
        raise MdflowError(f"{shown}: reference not found; write one deliberately with `mdflow verify --update`") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise MdflowError(f"{shown}: not a reference file (JSON with a 'quantities' list); "
                          f"rewrite it with `mdflow verify --update`") from None


def write_reference(path: Path, reference: dict) -> None:
    atomic_write_text(path, json.dumps(reference, indent=1) + "\n")
