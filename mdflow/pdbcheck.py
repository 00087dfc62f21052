"""A fast structural sanity check of a PDB file, so a broken structure is rejected before any job runs."""

import math
from pathlib import Path

from mdflow.errors import MdflowError

COORDINATE_COLUMNS = ((30, 38), (38, 46), (46, 54))


def check_pdb(path: Path, display: str | None = None) -> int:
    """Return the number of atoms; raise MdflowError naming the line of the first malformed record."""
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
    return atoms
