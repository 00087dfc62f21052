"""Atomic file writes and copies: a reader never sees a half-written file under its final name."""

import contextlib
import glob
import hashlib
import os
import shutil
from pathlib import Path


def _temp_beside(path: Path) -> Path:
    """The temp file for writing `path`; temp files of earlier writers of `path` (a killed process
    leaves its temp behind: SIGKILL runs no cleanup) are removed first — one job writes a given
    output at a time, so they are dead leftovers, possibly a large half-copied trajectory."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        stale.unlink(missing_ok=True)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync_and_rename(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _naming(path: Path):
    """A failed write (ENOSPC, EDQUOT, EIO, …) on an open file carries no file name: name the target."""
    try:
        yield
    except OSError as error:
        if error.filename is None and error.errno is not None:
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    try:
        with _naming(path):
            with open(tmp, "wb") as handle:
                handle.write(data)
            _fsync_and_rename(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


class ChecksumMismatch(Exception):
    def __init__(self, path, expected, got):
        super().__init__(f"{path}: sha256 {got[:12]}… does not match the manifest's {expected[:12]}…")


def atomic_copy(source, destination, expected_sha256: str | None = None) -> str:
    """Copy `source` to `destination` via a temp file + rename; return the copy's sha256.

    With `expected_sha256`, a copy whose checksum differs is discarded (ChecksumMismatch) and the
    destination is left as it was.
    """
    source, destination = Path(source), Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(destination)
    try:
        with _naming(destination), open(source, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        digest = sha256_file(tmp)
        if expected_sha256 is not None and digest != expected_sha256:
            raise ChecksumMismatch(source, expected_sha256, digest)
        _fsync_and_rename(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
