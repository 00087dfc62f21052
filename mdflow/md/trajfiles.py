"""Trajectory and energy files that can be cut back to a checkpoint and appended to.

Pure file handling, no OpenMM: a DCD written by OpenMM's DCDFile has a 276-byte header
(frame count at byte 8, box flag at byte 48, atom count at byte 268) followed by fixed-size
frames, so truncating to N frames is arithmetic.
"""

import os
import struct
from pathlib import Path

DCD_HEADER_BYTES = 276
ENERGY_COLUMNS = (
    "step", "time_ps", "potential_kj_mol", "kinetic_kj_mol", "total_kj_mol", "temperature_k", "volume_nm3",
)


def dcd_layout(path) -> tuple[int, bool, int]:
    """Return (frames in header, periodic?, atoms) of an OpenMM DCD file."""
    with open(path, "rb") as handle:
        header = handle.read(DCD_HEADER_BYTES)
    if len(header) < DCD_HEADER_BYTES or header[4:8] != b"CORD":
        raise ValueError(f"{path}: not a DCD file written by OpenMM")
    frames = struct.unpack_from("<i", header, 8)[0]
    periodic = struct.unpack_from("<i", header, 48)[0] == 1
    atoms = struct.unpack_from("<i", header, 268)[0]
    return frames, periodic, atoms


DCD_SECOND_TITLE = slice(180, 260)


def stamp_dcd_title(path, title: bytes = b"Written by mdflow") -> None:
    """Replace OpenMM's 'Created <local time>' title so identical runs give identical files."""
    with open(path, "r+b") as handle:
        handle.seek(DCD_SECOND_TITLE.start)
        handle.write(title.ljust(DCD_SECOND_TITLE.stop - DCD_SECOND_TITLE.start, b" ")[:80])


def dcd_frame_bytes(atoms: int, periodic: bool) -> int:
    return (56 if periodic else 0) + 3 * (4 * atoms + 8)


def dcd_complete_frames(path) -> int:
    """Frames actually on disk (a frame cut by a kill does not count)."""
    _, periodic, atoms = dcd_layout(path)
    return (os.path.getsize(path) - DCD_HEADER_BYTES) // dcd_frame_bytes(atoms, periodic)


def truncate_dcd(path, frames: int) -> None:
    """Keep the first `frames` frames and make the header say so."""
    _, periodic, atoms = dcd_layout(path)
    if dcd_complete_frames(path) < frames:
        raise ValueError(f"{path}: has fewer than {frames} complete frames")
    with open(path, "r+b") as handle:
        handle.truncate(DCD_HEADER_BYTES + frames * dcd_frame_bytes(atoms, periodic))
        handle.seek(8)
        handle.write(struct.pack("<i", frames))
        handle.flush()
        os.fsync(handle.fileno())


def energy_header() -> str:
    return ",".join(ENERGY_COLUMNS) + "\n"


def energy_row(values) -> str:
    step, *rest = values
    return ",".join([str(int(step))] + [f"{v:.6f}" for v in rest]) + "\n"


def truncate_csv_rows(path, rows: int) -> None:
    """Keep the header and the first `rows` complete data rows."""
    path = Path(path)
    lines = path.read_text().splitlines(keepends=True)
    complete = [line for line in lines[1:] if line.endswith("\n")]
    if len(complete) < rows:
        raise ValueError(f"{path}: has fewer than {rows} complete rows")
    with open(path, "w") as handle:
        handle.write(lines[0] + "".join(complete[:rows]))
        handle.flush()
        os.fsync(handle.fileno())
