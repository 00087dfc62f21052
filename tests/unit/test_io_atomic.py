"""mdflow.io_atomic: writes and copies go through a temp file, checksummed copies refuse mismatches."""

import hashlib

import pytest

from mdflow.io_atomic import ChecksumMismatch, atomic_copy, atomic_write_bytes, atomic_write_text, sha256_file


def leftover_temp_files(directory):
    return sorted(p.name for p in directory.rglob("*") if ".tmp-" in p.name)


def test_atomic_write_text_writes_content_and_leaves_no_temp(tmp_path):
    target = tmp_path / "nested" / "dir" / "notes.txt"
    atomic_write_text(target, "héllo\nworld\n")
    assert target.read_text() == "héllo\nworld\n"
    assert leftover_temp_files(tmp_path) == []
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.txt"]


def test_atomic_write_bytes_replaces_existing_file(tmp_path):
    target = tmp_path / "blob.bin"
    target.write_bytes(b"old content that is longer than the new one")
    atomic_write_bytes(target, b"\x00\x01new")
    assert target.read_bytes() == b"\x00\x01new"
    assert leftover_temp_files(tmp_path) == []


def test_atomic_write_bytes_failure_leaves_no_temp_and_keeps_old_file(tmp_path):
    target = tmp_path / "blob.bin"
    target.write_bytes(b"original")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"original"
    assert leftover_temp_files(tmp_path) == []


def test_sha256_file_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000  # > 1 MiB, so more than one read block
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_atomic_copy_returns_sha256_of_copy(tmp_path):
    source = tmp_path / "src" / "input.dat"
    source.parent.mkdir()
    source.write_bytes(b"some payload\n" * 1000)
    destination = tmp_path / "out" / "deeper" / "input.dat"
    digest = atomic_copy(source, destination)
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert destination.read_bytes() == source.read_bytes()
    assert leftover_temp_files(tmp_path) == []


def test_atomic_copy_with_matching_expected_sha256(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("abc")
    expected = hashlib.sha256(b"abc").hexdigest()
    assert atomic_copy(source, tmp_path / "b.txt", expected_sha256=expected) == expected
    assert (tmp_path / "b.txt").read_text() == "abc"


def test_atomic_copy_mismatch_leaves_existing_destination_untouched(tmp_path):
    source = tmp_path / "src" / "state.xml"
    source.parent.mkdir()
    source.write_text("<altered/>")
    destination = tmp_path / "dst" / "state.xml"
    destination.parent.mkdir()
    destination.write_text("<good/>")
    wrong = hashlib.sha256(b"<expected/>").hexdigest()

    with pytest.raises(ChecksumMismatch) as info:
        atomic_copy(source, destination, expected_sha256=wrong)

    message = str(info.value)
    assert "state.xml" in message
    assert wrong[:12] in message
    assert hashlib.sha256(b"<altered/>").hexdigest()[:12] in message
    assert destination.read_text() == "<good/>"
    assert leftover_temp_files(tmp_path) == []
    assert sorted(p.name for p in destination.parent.iterdir()) == ["state.xml"]


def test_atomic_copy_mismatch_does_not_create_destination(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("abc")
    destination = tmp_path / "out" / "a.txt"
    with pytest.raises(ChecksumMismatch):
        atomic_copy(source, destination, expected_sha256="0" * 64)
    assert not destination.exists()
    assert leftover_temp_files(tmp_path) == []


def test_atomic_copy_missing_source_leaves_no_temp(tmp_path):
    destination = tmp_path / "out" / "x.txt"
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "does-not-exist.txt", destination)
    assert not destination.exists()
    assert leftover_temp_files(tmp_path) == []


def test_temp_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "seg000.dcd"
    (tmp_path / ".seg000.dcd.tmp-999999").write_bytes(b"half a trajectory")  # SIGKILL runs no cleanup
    (tmp_path / ".seg000.csv.tmp-999999").write_bytes(b"another file's")
    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert leftover_temp_files(tmp_path) == [".seg000.csv.tmp-999999"]
    atomic_copy(target, tmp_path / "seg000.csv")
    assert leftover_temp_files(tmp_path) == []
