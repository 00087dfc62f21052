"""A fast structural sanity check of a PDB file, so a broken structure is rejected before any job runs."""

import functools
import importlib.util
import math
import re
from pathlib import Path

from mdflow.errors import MdflowError

COORDINATE_COLUMNS = ((30, 38), (38, 46), (46, 54))


def check_pdb(path: Path, display: str | None = None, forcefield: str | None = None, solvent: str | None = None) -> int:
    """Return the number of atoms; raise MdflowError naming the line of the first malformed record
    (and, given the force field, the first residue it has no template for)."""
    name = display or str(path)
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise MdflowError(f"{name}: not a PDB file (not text)") from None
    except OSError as exc:
        raise MdflowError(f"{name}: cannot be read ({exc.strerror})") from None
    atoms = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith(("ATOM  ", "HETATM")):
            continue
        fields = [line[a:b] for a, b in COORDINATE_COLUMNS]
        try:
            if not all(math.isfinite(float(f)) for f in fields):
                raise ValueError
        except ValueError:
            shown = line[30:54] if len(line) > 30 else line
            raise MdflowError(
                f"{name} line {number}: {line[:6].strip()} record has no valid x/y/z in columns 31-54 "
                f"(got {shown!r}); expected fixed-column PDB format"
            ) from None
        if not line[17:20].strip():
            raise MdflowError(f"{name} line {number}: {line[:6].strip()} record has no residue name in columns 18-20")
        atoms += 1
    if atoms == 0:
        raise MdflowError(f"{name}: no ATOM or HETATM records; expected a PDB structure")
    if forcefield and solvent:
        check_residues(path, forcefield, solvent, display)
    return atoms


# ------------------------------------------------------------------ residues vs. the force field

WATER_NAMES = {"HOH", "WAT", "H2O", "TIP3", "SOL"}  # crystal water: setup removes it
CAPS = {"ACE", "NME"}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(list(spec.submodule_search_locations)[0]) if spec and spec.submodule_search_locations else None


@functools.lru_cache(maxsize=None)
def _template_names(xml: Path) -> frozenset:
    """Residue template names of a force-field XML file, its <Include>s followed (no openmm import)."""
    text = xml.read_text(errors="replace")
    names = set(re.findall(r'<Residue\s+name="([^"]+)"', text))
    for included in re.findall(r'<Include\s+file="([^"]+)"', text):
        names |= _template_names((xml.parent / included).resolve())
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def _standard_names() -> frozenset:
    """Residues PDBFixer can complete (its templates) and the aliases OpenMM's PDB reader renames."""
    names = set(WATER_NAMES)
    fixer = _package_dir("pdbfixer")
    if fixer is not None:
        names |= {p.stem for p in (fixer / "templates").glob("*.pdb")}
    openmm = _package_dir("openmm")
    if openmm is not None and (openmm / "app/data/pdbNames.xml").exists():
        for tag in re.findall(r"<Residue\s[^>]*>", (openmm / "app/data/pdbNames.xml").read_text()):
            names |= set(re.findall(r'="([^"]+)"', tag))
    return frozenset(names)


def _substitutable(name: str) -> bool:
    """PDBFixer replaces a known nonstandard residue (e.g. MSE) by its standard parent."""
    try:
        from pdbfixer.pdbfixer import substitutions
    except ImportError:
        return False
    return name in substitutions


def check_residues(path: Path, forcefield: str, solvent: str, display: str | None = None) -> None:
    """Refuse a residue that neither PDBFixer nor the force field knows: setup would fail later with
    'No template found' (and a rerun would already have deleted the previous setup's results)."""
    from mdflow.md.forcefields import caps_supported, forcefield_files

    name = display or str(path)
    openmm = _package_dir("openmm")
    if openmm is None:
        return
    files = forcefield_files(forcefield, solvent)
    known = set(_standard_names())
    for file in files:
        xml = openmm / "app/data" / file
        if xml.exists():
            known |= _template_names(xml.resolve())
    lines = Path(path).read_text().splitlines()
    modres = {line[12:15].strip() for line in lines if line.startswith("MODRES")}
    seen = set()
    for number, line in enumerate(lines, 1):
        if not line.startswith(("ATOM  ", "HETATM")):
            continue
        residue = line[17:20].strip()
        if residue in CAPS and not caps_supported(forcefield):
            raise MdflowError(
                f"{name} line {number}: cap residue {residue!r} (chain {line[21:22].strip() or '-'}, number "
                f"{line[22:26].strip()}) does not work with force field {forcefield!r}: it builds caps as patches "
                f"of the terminal residue, not as ACE/NME residues; use amber14 or amber99sbildn"
            )
        if residue in known or residue in seen or residue in modres:
            continue
        seen.add(residue)
        if _substitutable(residue):
            continue
        raise MdflowError(
            f"{name} line {number}: residue {residue!r} (chain {line[21:22].strip() or '-'}, number "
            f"{line[22:26].strip()}) has no template in force field {forcefield!r} ({', '.join(files)}) and PDBFixer "
            f"cannot replace it; remove it, rename it to a standard residue, or use another force field"
        )
