"""The campaign: config/config.yaml plus the systems sheet, validated against mdflow/workflow/schemas.

Everything here is pure (files in, dataclasses or MdflowError out) so that the CLI can reject bad
input before Snakemake starts, and the Snakefile can build the same objects again.
"""

import codecs
import csv
import dataclasses
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from mdflow.checkcache import check_structure, flush as flush_check_cache, validated_once
from mdflow.errors import MdflowError
from mdflow.io_atomic import atomic_write_bytes
from mdflow.project_files import SHEET_COPIES_DIR
from mdflow.layout import default_campaign_name, scratch_dir
from mdflow.md.forcefields import supports
from mdflow.md.gaps import check_pdb_gaps
from mdflow.paths import SCHEMA_DIR
from mdflow.pdbcheck import check_pdb
from mdflow.protocol import check_protocol

DEFAULT_CONFIG = Path("config/config.yaml")
MARKER = ".campaign.json"  # in a results directory: the campaign that made it


@dataclass(frozen=True)
class System:
    name: str
    structure: str
    forcefield: str
    solvent: str
    temperature_k: float
    replicas: int
    length_ps: float
    segment_ps: float
    seed: int
    ph: float
    segments: int
    steps_per_segment: int
    max_segments: int  # == segments unless adaptive continuation may add segments
    max_length_ps: float | None = None
    # Adaptive continuation only: resolved from the sheet and config key `convergence`.
    converge_metric: str | None = None
    converge_tolerance: float | None = None
    converge_window: int = 1
    gaps: str = "refuse"  # long chain gaps: refuse, model or cap (mdflow/md/gaps.py)
    site: str = ""  # under a multi-site profile: the site its batch jobs go to (empty: the first)

    @property
    def adaptive(self) -> bool:
        return self.max_segments > self.segments


@dataclass(frozen=True)
class Campaign:
    settings: dict
    systems: dict  # name -> System, in sheet order
    report_interval_steps: int
    checkpoint_interval_steps: int | None  # the optional ps cap; checkpoint_interval_min always applies
    config_files: tuple = ()  # where the settings came from, as the user named them

    @property
    def name(self) -> str:
        return self.settings["campaign"]

    @property
    def results(self) -> str:
        return self.settings["results"]

    @property
    def scratch(self) -> str:
        return scratch_dir(self.settings.get("site_workdir", "scratch"), self.name)


def _schema(name: str) -> dict:
    return yaml.safe_load((SCHEMA_DIR / name).read_text())


def read_yaml(path: Path, display=None) -> dict:
    """A YAML mapping; errors name `display` (the path as the user wrote it) or `path`."""
    shown = display or path
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise MdflowError(f"{shown}: file not found") from None
    except OSError as exc:
        raise MdflowError(f"{shown}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise MdflowError(f"{shown}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MdflowError(f"{shown}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def merge(base: dict, overlay: dict) -> dict:
    """Recursive dict update, as Snakemake applies --configfile over the Snakefile's config."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def describe_schema_error(error: jsonschema.ValidationError, where: str, field: str = "key") -> str:
    """One line naming where, which key, the bad value and what is expected."""
    key = ".".join(str(p) for p in error.absolute_path)
    value = error.instance
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        return f"{where}: unknown {field} {extra[0]!r} (known {field}s: {', '.join(allowed)})"
    if error.validator == "required":
        missing = error.message.replace(" is a required property", "")
        return f"{where}: {field} {missing} is required but missing or empty"
    subject = f"{where}, {field} {key!r}" if key else where
    if error.validator == "enum":
        return f"{subject}: {value!r} is not allowed; expected one of: {', '.join(map(str, error.validator_value))}"
    if error.validator == "type":
        return f"{subject}: {value!r} has the wrong type; expected {error.validator_value}"
    if error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        relation = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return f"{subject}: {value!r} is out of range; expected a number {relation[error.validator]} {error.validator_value}"
    if error.validator == "pattern":
        description = error.schema.get("description", f"matching {error.validator_value}")
        return f"{subject}: {value!r} is not allowed; expected {description}"
    return f"{subject}: {error.message}"


def validate(instance: dict, schema: dict, where: str, field: str = "key") -> dict:
    """Validate and fill in schema defaults; raise MdflowError with the first problem."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise MdflowError(describe_schema_error(errors[0], where, field))
    return fill_defaults(instance, schema)


def fill_defaults(instance: dict, schema: dict) -> dict:
    """`instance` with the schema's defaults for absent keys, nested mappings included."""
    filled = dict(instance)
    for key, spec in schema.get("properties", {}).items():
        if key not in filled and "default" in spec:
            filled[key] = spec["default"]
        if isinstance(filled.get(key), dict) and "properties" in spec:
            filled[key] = fill_defaults(filled[key], spec)
    return filled


def ps_to_steps(ps: float, timestep_fs: float, what: str) -> int:
    steps = round(ps * 1000.0 / timestep_fs)
    if steps < 1 or not math.isclose(steps * timestep_fs, ps * 1000.0, rel_tol=1e-9, abs_tol=1e-9):
        raise MdflowError(f"{what}: {ps} ps is not a whole number of {timestep_fs} fs time steps")
    return steps


def _convert_cell(text: str, spec: dict, where: str):
    kind = spec.get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        expected = "an integer" if kind == "integer" else "a number"
        raise MdflowError(f"{where}: {text!r} is not {expected}") from None
    return text


SEPARATORS = {".csv": (",", "comma"), ".tsv": ("\t", "tab")}  # any other name: tabs
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def sheet_separator(path) -> tuple[str, str]:
    """(separator, its name) of a systems sheet: commas for a .csv, tabs otherwise."""
    return SEPARATORS.get(Path(path).suffix.lower(), SEPARATORS[".tsv"])


def decode_sheet(data: bytes, shown) -> str:
    """A sheet's text: UTF-8 (a byte-order mark, as spreadsheets write, is dropped), or UTF-16/32 with
    a byte-order mark (a spreadsheet's "Unicode text"); MdflowError (one line) for anything else."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise MdflowError(f"{shown}: not valid {encoding.upper()} text after its byte-order mark "
                                  f"({exc.reason} at byte {exc.start + len(bom)}); save the sheet as UTF-8") from None
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise MdflowError(f"{shown} line {line}: holds NUL bytes (UTF-16 text without a byte-order mark?); "
                          f"save the sheet as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise MdflowError(f"{shown} line {line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
                          f"save the sheet as UTF-8") from None


def split_cells(line: str, separator: str, width: int = 0) -> list[str]:
    """The cells of one sheet line; empty cells beyond the first `width` dropped (spreadsheets pad
    rows with separators); [] for a line of separators only."""
    cells = next(csv.reader([line], delimiter=separator))
    if not any(cell.strip() for cell in cells):
        return []
    while len(cells) > width and not cells[-1].strip():
        cells.pop()
    return cells


SEPARATOR_HINTS = {
    "spaces": "expected tabs (a .tsv) or commas (a .csv)",
    "commas": "expected tabs in a .tsv sheet (name it .csv for commas)",
    "tabs": "expected commas in a .csv sheet (name it .tsv for tabs)",
}


def wrong_separator(line: str, separator: str) -> str | None:
    """What separates a line's columns when it is not `separator` (spaces or the other of tab/comma)."""
    if separator in line:
        return None
    if "\t" in line:
        return "tabs"
    if separator != "," and "," in line:
        return "commas"
    if len(line.split()) > 1:
        return "spaces"
    return None


def check_header(header: list, shown, number: int, columns: dict | None, required) -> None:
    """The header names known columns, each once, and every required one."""
    for position, name in enumerate(header, 1):
        if not name:
            raise MdflowError(f"{shown} line {number}: column {position} has no name; expected one of: "
                              f"{', '.join(columns or [])}")
        if header.index(name) != position - 1:
            raise MdflowError(f"{shown} line {number}: column {name!r} appears twice")
        if columns is not None and name not in columns:
            raise MdflowError(f"{shown} line {number}: unknown column {name!r} (known columns: {', '.join(columns)})")
    missing = [name for name in required if name not in header]
    if missing:
        raise MdflowError(f"{shown} line {number}: required column {missing[0]!r} is missing from the header "
                          f"(required: {', '.join(required)})")


def read_sheet(path: Path, display, columns: dict | None = None, required=()) -> list[tuple[int, dict]]:
    """Rows of a systems sheet as (line number, {column: text}); '#' lines and blank lines skipped.
    Tab-separated (.tsv, or any name but .csv) or comma-separated (.csv); UTF-8 with or without a
    byte-order mark, or UTF-16/32 with one; any line ends. The header (line 1 unless comments come
    first) is checked against `columns` and `required` when given."""
    path, shown = Path(path), display
    separator, separator_name = sheet_separator(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MdflowError(f"{shown}: systems sheet not found (config key 'systems')") from None
    except OSError as exc:
        raise MdflowError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    text = decode_sheet(data, shown)
    physical = re.split(r"\r\n|\r|\n", text)  # not str.splitlines: it also splits at form feeds & co.
    lines = [(n, line) for n, line in enumerate(physical, 1) if line.strip() and not line.startswith("#")]
    if not lines:
        raise MdflowError(f"{shown}: empty systems sheet; expected a {separator_name}-separated header and one row "
                          f"per system")
    header_line, header_text = lines[0]
    found = wrong_separator(header_text, separator)
    if found:
        raise MdflowError(f"{shown} line {header_line}: columns are separated by {found}; {SEPARATOR_HINTS[found]}")
    header = [h.strip() for h in split_cells(header_text, separator)]
    check_header(header, shown, header_line, columns, required)
    rows = []
    for number, line in lines[1:]:
        cells = split_cells(line, separator, len(header))
        if not cells:
            continue  # a spreadsheet's empty row: only separators
        if len(cells) != len(header):
            found = wrong_separator(line, separator) if len(cells) == 1 else None
            how = f"; its columns are separated by {found}" if found else ""
            raise MdflowError(
                f"{shown} line {number}: {len(cells)} {separator_name}-separated cells but the header "
                f"(line {header_line}) has {len(header)} columns{how}"
            )
        rows.append((number, {h: c.strip() for h, c in zip(header, cells)}))
    if not rows:
        raise MdflowError(f"{shown}: the systems sheet has a header but no systems")
    return rows


def whole_segments(label: str, column: str, length_ps: float, segment_ps: float) -> int:
    ratio = length_ps / segment_ps
    if round(ratio) < 1 or not math.isclose(ratio, round(ratio), rel_tol=1e-9):
        raise MdflowError(f"{label}, column {column!r}: {length_ps} is not a whole multiple of segment_ps {segment_ps}")
    return round(ratio)


def adaptive_settings(label: str, values: dict, segments: int, convergence: dict) -> dict:
    """System fields of adaptive continuation (just max_segments == segments when max_length_ps is not set)."""
    if "max_length_ps" not in values:
        for column in ("converge_metric", "converge_tolerance"):
            if column in values:
                raise MdflowError(
                    f"{label}, column {column!r}: {values[column]!r} has no effect without max_length_ps "
                    f"(adaptive continuation); set max_length_ps or leave {column} empty"
                )
        return {"max_segments": segments}
    max_segments = whole_segments(label, "max_length_ps", values["max_length_ps"], values["segment_ps"])
    if max_segments < segments:
        raise MdflowError(
            f"{label}, column 'max_length_ps': {values['max_length_ps']} is below length_ps {values['length_ps']}; "
            f"expected at least length_ps (adaptive continuation only adds segments)"
        )
    metric = values.pop("converge_metric", convergence["metric"])
    return {
        "max_segments": max_segments,
        "converge_metric": metric,
        "converge_tolerance": values.pop("converge_tolerance", convergence["tolerance"][metric]),
        "converge_window": convergence["window_segments"],
    }


@validated_once(System)
def parse_system(path: Path, number: int, cells: dict, schema: dict, timestep_fs: float,
                 report_steps: int, project: Path, convergence: dict) -> System:
    label = f"{path} line {number}" + (f" ({cells['name']})" if cells.get("name") else "")
    properties = schema["properties"]
    for column in cells:
        if column not in properties:
            raise MdflowError(f"{label}: unknown column {column!r} (known columns: {', '.join(properties)})")
    values = {
        column: _convert_cell(text, properties[column], f"{label}, column {column!r}")
        for column, text in cells.items()
        if text != ""
    }
    values = validate(values, schema, label, field="column")
    if not supports(values["forcefield"], values["solvent"]):
        raise MdflowError(
            f"{label}, column 'solvent': force field {values['forcefield']!r} has no {values['solvent']} "
            f"solvent model here; use the other solvent or another force field"
        )
    segments = whole_segments(label, "length_ps", values["length_ps"], values["segment_ps"])
    adaptive = adaptive_settings(label, values, segments, convergence)
    steps = ps_to_steps(values["segment_ps"], timestep_fs, f"{label}, column 'segment_ps'")
    if steps % report_steps:
        raise MdflowError(
            f"{label}, column 'segment_ps': {values['segment_ps']} ps is not a whole multiple of "
            f"report_interval_ps ({report_steps} steps)"
        )
    relative = os.path.normpath(values["structure"])
    if os.path.isabs(relative) or relative == ".." or relative.startswith(".." + os.sep):
        raise MdflowError(f"{label}, column 'structure': {values['structure']!r} is outside the project; expected "
                          f"a path inside the project, relative to it (copy or link the file under resources/)")
    structure = project / values["structure"]
    if structure.exists() and not structure.is_file():
        raise MdflowError(f"{label}, column 'structure': {values['structure']!r} is not a regular file (a directory?)")
    if not structure.is_file():
        raise MdflowError(f"{label}, column 'structure': file {values['structure']!r} not found")
    check_structure(project, structure, check_pdb, display=values["structure"], forcefield=values["forcefield"],
                    solvent=values["solvent"])
    check_pdb_gaps(structure, values["gaps"], label, values["structure"], values["forcefield"])
    return System(segments=segments, steps_per_segment=steps, **values, **adaptive)


def checkpoint_interval_steps(settings: dict, where: str = "config") -> int | None:
    """The optional ps cap on checkpoint spacing, in steps (None: wall-clock cadence only)."""
    if settings.get("checkpoint_interval_ps") is None:
        return None
    return ps_to_steps(settings["checkpoint_interval_ps"], settings["timestep_fs"], f"{where}, key 'checkpoint_interval_ps'")


def checkpoint_cadence(config: dict) -> tuple:
    """(steps cap or None, minutes) from a campaign config as Snakemake hands it to a job. Not rule
    params: how often a segment checkpoints changes no result, so changing it must rerun nothing."""
    settings = fill_defaults(dict(config), _schema("config.schema.yaml"))
    return checkpoint_interval_steps(settings), float(settings["checkpoint_interval_min"])


def build_campaign(config: dict, project: Path, where: str = "config") -> Campaign:
    settings = validate(config, _schema("config.schema.yaml"), where)
    if "campaign" not in settings:
        settings["campaign"] = default_campaign_name(settings["results"], where)
    timestep = settings["timestep_fs"]
    report_steps = ps_to_steps(settings["report_interval_ps"], timestep, f"{where}, key 'report_interval_ps'")
    checkpoint_steps = checkpoint_interval_steps(settings, where)
    if checkpoint_steps and checkpoint_steps % report_steps:
        raise MdflowError(
            f"{where}, key 'checkpoint_interval_ps': {settings['checkpoint_interval_ps']} is not a whole "
            f"multiple of report_interval_ps {settings['report_interval_ps']}"
        )
    sheet = Path(settings["systems"])
    sheet_path = project / sheet
    schema = _schema("systems.schema.yaml")
    systems = {}
    for number, cells in read_sheet(sheet_path, sheet, schema["properties"], schema.get("required", ())):
        system = parse_system(sheet, number, cells, schema, timestep, report_steps, project,
                              settings["convergence"])
        if system.name in systems:
            raise MdflowError(f"{sheet} line {number}, column 'name': {system.name!r} appears twice")
        systems[system.name] = system
    check_protocol(settings, systems, report_steps)
    flush_check_cache(project)
    return Campaign(settings, systems, report_steps, checkpoint_steps)


def load_campaign(project: Path, configfiles: list, overrides: dict) -> Campaign:
    """What Snakemake will see: config/config.yaml (if present), each --configfile over it, then --config."""
    config, names = {}, []
    default = project / DEFAULT_CONFIG
    if default.exists():
        config, names = read_yaml(default, DEFAULT_CONFIG), [str(DEFAULT_CONFIG)]
    for path in configfiles:
        config = merge(config, read_yaml(project / path, path))
        names.append(str(path))
    if not names:
        raise MdflowError(f"no campaign config: {DEFAULT_CONFIG} not found in {project} (or pass --configfile FILE)")
    if overrides:
        config = merge(config, overrides)
        names.append("--config")
    campaign = build_campaign(config, project, where=" + ".join(names))
    return dataclasses.replace(campaign, config_files=tuple(names))


def freeze_sheet(project: Path, sheet: str) -> str:
    """A copy of the systems sheet under .mdflow/sheets/, named by its content, for a run to hand its
    batch jobs: a job that starts after the user edited the sheet (say, dropped a system whose jobs
    were already queued) still sees the campaign its controller planned."""
    data = (project / sheet).read_bytes()
    suffix = ".csv" if sheet_separator(sheet)[0] == "," else ".tsv"  # the copy is read as the sheet is
    copy = SHEET_COPIES_DIR / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    if not (project / copy).exists():
        atomic_write_bytes(project / copy, data)
    return copy.as_posix()


# -- which campaign a results directory belongs to ---------------------------------------------------

def marker_record(campaign: Campaign) -> dict:
    """What a results directory's MARKER holds."""
    return {"campaign": campaign.name, "config": list(campaign.config_files)}


def marker_owner(text: str, shown: str) -> str:
    """The campaign named by a MARKER's text; MdflowError (one line) if it is not a marker."""
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    owner = record.get("campaign") if isinstance(record, dict) else None
    if not isinstance(owner, str) or not owner:
        raise MdflowError(f"{shown}: not a campaign marker (expected JSON with a \"campaign\" name); move it away "
                          f"if nothing else wrote it, or pass --adopt-results")
    return owner


def results_conflict(owner: str | None, campaign: str, results: str, config_files=()) -> str | None:
    """None when `campaign` may write into `results` (it has no owner yet, or is its own); otherwise
    the one-line refusal: another campaign's files there would be mixed with, or replaced by, ours."""
    if owner is None or owner == campaign:
        return None
    files = f" ({' + '.join(config_files)})" if config_files else ""
    return (f"{results}/ was made by campaign {owner!r} ({results}/{MARKER}), but this is campaign {campaign!r}: "
            f"give {campaign!r} its own `results:` in its config{files}, or pass --adopt-results to let it "
            f"take {results}/ over")


def claim_results(project: Path, campaign: Campaign, write: bool, adopt: bool = False) -> None:
    """Refuse to run `campaign` into another campaign's results directory (unless `adopt`); with
    `write` (a real run), record it as the owner where none is recorded yet, or on adopting."""
    path = Path(project) / campaign.results / MARKER
    shown = f"{campaign.results}/{MARKER}"
    try:
        owner = marker_owner(path.read_text(), shown) if not adopt else None
    except FileNotFoundError:
        owner = None
    except OSError as exc:
        raise MdflowError(f"{shown}: cannot be read ({exc.strerror})") from None
    problem = results_conflict(owner, campaign.name, campaign.results, campaign.config_files)
    if problem:
        raise MdflowError(problem)
    if write and (adopt or not path.exists()):
        atomic_write_bytes(path, (json.dumps(marker_record(campaign), indent=2) + "\n").encode())
