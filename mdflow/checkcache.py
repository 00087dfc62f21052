"""Validate each input once: structures by checksum across runs, sheet rows once per process.

`check_pdb` reads and parses a whole PDB; a campaign of a thousand rows sharing three structures
paid for it a thousand times in every `mdflow`, `mdflow status` and batch job. Here a structure that
passed is remembered in .mdflow/cache/structures.json by path, size, mtime and sha256 (plus the
force field, solvent and the checker's own source hash): unchanged size and mtime skip it, a
touched file with the same checksum skips it too, anything else is checked again. Rows of the
sheet that passed are remembered too (.mdflow/cache/rows.json, keyed by their cells, the campaign
settings they were checked with, the checking code and their structure's size and mtime): the CLI
and the Snakefile run in one process and both build the campaign, and `mdflow status` and every
batch job build it again; `validated_once` makes all but the first build reuse each row.
"""

import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path

from mdflow.io_atomic import atomic_write_bytes, sha256_file
from mdflow.project_files import ROW_CACHE, STRUCTURE_CACHE


@functools.cache
def checker_version() -> str:
    """Changes whenever the structure checks may have changed (their source, mdflow's version)."""
    from mdflow import __file__ as package_init, campaign, pdbcheck
    from mdflow.md import forcefields
    from mdflow.paths import SCHEMA_DIR

    digest = hashlib.sha256()
    for path in (package_init, pdbcheck.__file__, campaign.__file__, forcefields.__file__,
                 SCHEMA_DIR / "systems.schema.yaml"):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def cache_key(path: Path, forcefield, solvent) -> str:
    return f"{os.path.abspath(path)}|{forcefield}|{solvent}|{checker_version()}"


def still_valid(entry: dict | None, size: int, mtime_ns: int, path: Path) -> tuple[bool, str | None]:
    """(entry still holds for the file, its sha256 when it had to be computed)."""
    if not entry:
        return False, None
    if entry.get("size") == size and entry.get("mtime_ns") == mtime_ns:
        return True, None
    if entry.get("size") != size:
        return False, None
    digest = sha256_file(path)
    return digest == entry.get("sha256"), digest


def _read_entries(path: Path) -> dict:
    """A cache file's entries; {} when it is missing, unreadable or not a mapping."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


class StructureCache:
    """The cache file of one project; `save` writes it back only when something changed."""

    def __init__(self, project: Path):
        self.path = Path(project) / STRUCTURE_CACHE
        self.entries = _read_entries(self.path)
        self.changed = False

    def check(self, path: Path, check, forcefield=None, solvent=None, **kwargs):
        """Run `check(path, forcefield=…, solvent=…, **kwargs)` unless this file passed it unchanged."""
        key = cache_key(path, forcefield, solvent)
        stat = os.stat(path)
        valid, digest = still_valid(self.entries.get(key), stat.st_size, stat.st_mtime_ns, path)
        if not valid:
            check(path, forcefield=forcefield, solvent=solvent, **kwargs)  # raises MdflowError if bad
        if not valid or digest is not None:
            self.entries[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                 "sha256": digest or sha256_file(path)}
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        try:
            atomic_write_bytes(self.path, (json.dumps(self.entries, indent=0, sort_keys=True) + "\n").encode())
        except OSError:
            pass  # a read-only project only loses the speed-up
        self.changed = False


_caches: dict = {}


def check_structure(project: Path, path: Path, check, **kwargs) -> None:
    """`check(path, **kwargs)` at most once per unchanged file (cache under `project`)."""
    cache = _caches.get(str(project))
    if cache is None:
        cache = _caches[str(project)] = StructureCache(project)
    cache.check(path, check, **kwargs)


def flush(project: Path) -> None:
    """Write the project's cache file if checks were added (once per campaign build, not per row)."""
    for caches in (_caches, _rows):
        cache = caches.get(str(project))
        if cache is not None:
            cache.save()


def row_key(cells: dict, *context) -> str:
    """What a row's validation depends on (its cells, the campaign settings it is checked with, the
    checking code); the sheet's path and line number only label errors."""
    return json.dumps([sorted(cells.items()), [str(c) for c in context], checker_version()],
                      sort_keys=True, default=str)


def structure_stamp(context, cells: dict):
    """(size, mtime) of the row's structure, so that an edited file is checked again."""
    project = next((c for c in context if isinstance(c, Path)), None)
    try:
        stat = os.stat(Path(project or ".") / cells.get("structure", ""))
        return stat.st_size, stat.st_mtime_ns
    except (OSError, TypeError, ValueError):
        return None


class RowCache:
    """Rows that passed validation, as their parsed fields, in .mdflow/cache/rows.json."""

    def __init__(self, project: Path):
        self.path = Path(project) / ROW_CACHE
        self.entries = _read_entries(self.path)
        self.changed = False

    def save(self) -> None:
        if self.changed:
            try:
                atomic_write_bytes(self.path, json.dumps(self.entries, separators=(",", ":")).encode())
            except OSError:
                pass
            self.changed = False


_rows: dict = {}


def validated_once(kind):
    """Memoize a row parser `parse(path, number, cells, schema, *context)` returning a `kind`
    dataclass: within this process (the CLI and the Snakefile build the same campaign) and across
    runs (.mdflow/cache/rows.json: `mdflow status` and batch jobs skip the schema checks), keyed by
    `row_key` plus the stamp of the row's structure."""

    def decorate(parse):
        memo = {}

        @functools.wraps(parse)
        def wrapper(path, number, cells, schema, *context):
            key = hashlib.sha256(row_key(cells, *context, structure_stamp(context, cells)).encode()).hexdigest()
            if key in memo:
                return memo[key]
            project = str(next((c for c in context if isinstance(c, Path)), "."))
            rows = _rows.get(project)
            if rows is None:
                rows = _rows[project] = RowCache(Path(project))
            fields = rows.entries.get(key)
            result = None
            if isinstance(fields, dict):
                try:
                    result = kind(**fields)
                except TypeError:
                    result = None  # written by another version of `kind`
            if result is None:
                result = parse(path, number, cells, schema, *context)
                rows.entries[key] = dataclasses.asdict(result)
                rows.changed = True
            memo[key] = result
            return result

        wrapper.cache_clear = memo.clear
        return wrapper

    return decorate
