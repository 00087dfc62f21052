"""Staging files to a site's work directory and back, checked by sha256 manifests.

A manifest is JSON: {"files": {basename: {"sha256": ..., "bytes": ...}}, ...extra}. Every copy goes
to a temp file first and is renamed only after its checksum matched, so a half-copied or altered
file never appears under its final name.
"""

import json
from pathlib import Path

from mdflow.errors import MdflowError
from mdflow.io_atomic import ChecksumMismatch, atomic_copy, atomic_write_text, sha256_file


def file_entry(path: Path) -> dict:
    return {"sha256": sha256_file(path), "bytes": Path(path).stat().st_size}


def write_manifest(manifest_path, files, **extra) -> dict:
    manifest = {"files": {Path(f).name: file_entry(Path(f)) for f in files}, **extra}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(manifest_path) -> dict:
    try:
        manifest = json.loads(Path(manifest_path).read_text())
        manifest["files"].items()
        return manifest
    except FileNotFoundError:
        raise MdflowError(f"{manifest_path}: manifest missing") from None
    except (ValueError, KeyError, AttributeError, TypeError):
        raise MdflowError(f"{manifest_path}: manifest is not valid JSON with a 'files' mapping") from None


def push(files, destination_dir, manifest_path) -> dict:
    """Copy `files` into `destination_dir` atomically, then write the manifest of the copies."""
    destination_dir = Path(destination_dir)
    sources = [Path(f) for f in files]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise MdflowError(f"push: two files share a name in {names}; staged files must have distinct names")
    staged = []
    for source in sources:
        target = destination_dir / source.name
        if not source.is_file():
            raise MdflowError(f"push: {source} does not exist")
        atomic_copy(source, target, expected_sha256=sha256_file(source))
        staged.append(target)
    return write_manifest(manifest_path, staged)


def expected_sha256(manifest: dict, manifest_path, name: str) -> str:
    try:
        return manifest["files"][name]["sha256"]
    except (KeyError, TypeError):
        raise MdflowError(f"{manifest_path}: has no entry for {name!r}") from None


def invalidate(manifest_path, redo: str) -> str:
    """A file no longer matches the manifest written when it was made: it is damaged for good (the
    manifest's sha256 is the only truth). Remove the manifest, an output of the job that made the
    file, so that the next run makes the file again; return the sentence telling the user so."""
    Path(manifest_path).unlink(missing_ok=True)
    return f"removed {manifest_path} so that the next `mdflow` run {redo}; run mdflow again"


def verify(manifest_path, files, redo: str = "transfers it again") -> None:
    """Raise MdflowError unless every file matches its manifest entry; a damaged file's manifest is
    removed (see `invalidate`), so it is never used and the next run makes it again."""
    manifest = read_manifest(manifest_path)
    for path in map(Path, files):
        expected = expected_sha256(manifest, manifest_path, path.name)
        if not path.exists():
            raise MdflowError(f"{path}: missing although {manifest_path} lists it")
        got = sha256_file(path)
        if got != expected:
            raise MdflowError(
                f"{path}: sha256 {got[:12]}… does not match {manifest_path} ({expected[:12]}…); "
                f"the staged file was altered or truncated — refusing to use it; {invalidate(manifest_path, redo)}"
            )


def pull(manifest_path, sources, destinations, redo: str = "makes it again") -> None:
    """Copy each source to its destination, refusing any copy that does not match the manifest.
    A copy spoiled on the way is copied once more; a source that itself no longer matches is
    damaged: its manifest is removed (see `invalidate`) so that the next run makes it again."""
    manifest = read_manifest(manifest_path)
    for source, destination in zip(map(Path, sources), map(Path, destinations), strict=True):
        expected = expected_sha256(manifest, manifest_path, source.name)
        try:
            try:
                atomic_copy(source, destination, expected_sha256=expected)
            except ChecksumMismatch:
                if sha256_file(source) != expected:
                    raise
                atomic_copy(source, destination, expected_sha256=expected)  # the source is intact: copy again
        except ChecksumMismatch as exc:
            damaged = sha256_file(source) != expected
            raise MdflowError(f"pull refused: {exc} ({manifest_path}); nothing was overwritten"
                              + (f"; {invalidate(manifest_path, redo)}" if damaged else "")) from None
        except FileNotFoundError:
            raise MdflowError(f"pull: {source} missing although {manifest_path} lists it") from None
