"""mdflow.transfer: push/verify/pull with sha256 manifests on real files."""

import hashlib
import json

import pytest

from mdflow import transfer
from mdflow.errors import MdflowError


@pytest.fixture
def inputs(tmp_path):
    """Three source files with different content, as a run's system/topology/state."""
    source = tmp_path / "source"
    source.mkdir()
    files = {
        "system.xml": b"<System>" + b"x" * 5000 + b"</System>\n",
        "topology.pdb": b"ATOM      1  N   ALA A   1       0.000   0.000   0.000\nEND\n",
        "state.xml": bytes(range(256)) * 10,
    }
    for name, data in files.items():
        (source / name).write_bytes(data)
    return [source / name for name in files]


def push_inputs(inputs, tmp_path):
    work = tmp_path / "work"
    manifest_path = work / "manifest.json"
    manifest = transfer.push(inputs, work, manifest_path)
    return work, manifest_path, manifest


def test_push_copies_files_and_writes_manifest(inputs, tmp_path):
    work, manifest_path, manifest = push_inputs(inputs, tmp_path)

    for source in inputs:
        assert (work / source.name).read_bytes() == source.read_bytes()
    on_disk = json.loads(manifest_path.read_text())
    assert on_disk == manifest
    assert set(on_disk["files"]) == {p.name for p in inputs}
    for source in inputs:
        entry = on_disk["files"][source.name]
        assert entry["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert entry["bytes"] == len(source.read_bytes())
    assert not [p for p in work.iterdir() if ".tmp-" in p.name]


def test_write_manifest_keeps_extra_fields(tmp_path):
    data = tmp_path / "traj.dcd"
    data.write_bytes(b"abc")
    manifest_path = tmp_path / "m.json"
    transfer.write_manifest(manifest_path, [data], segment={"steps": 100, "ns": 0.2})
    manifest = transfer.read_manifest(manifest_path)
    assert manifest["segment"] == {"steps": 100, "ns": 0.2}
    assert manifest["files"]["traj.dcd"] == {"sha256": hashlib.sha256(b"abc").hexdigest(), "bytes": 3}


def test_verify_passes_on_intact_files(inputs, tmp_path):
    work, manifest_path, _ = push_inputs(inputs, tmp_path)
    transfer.verify(manifest_path, [work / p.name for p in inputs])
    transfer.verify(manifest_path, [work / inputs[0].name])  # a subset is fine too


def test_verify_rejects_truncated_file(inputs, tmp_path):
    work, manifest_path, _ = push_inputs(inputs, tmp_path)
    staged = work / "system.xml"
    staged.write_bytes(staged.read_bytes()[:-100])
    with pytest.raises(MdflowError) as info:
        transfer.verify(manifest_path, [work / p.name for p in inputs])
    message = str(info.value)
    assert "system.xml" in message
    assert "does not match" in message
    assert "manifest.json" in message


def test_verify_rejects_altered_file_of_same_size(inputs, tmp_path):
    work, manifest_path, _ = push_inputs(inputs, tmp_path)
    staged = work / "state.xml"
    data = bytearray(staged.read_bytes())
    data[100] ^= 0xFF
    staged.write_bytes(bytes(data))
    assert staged.stat().st_size == inputs[2].stat().st_size
    with pytest.raises(MdflowError) as info:
        transfer.verify(manifest_path, [work / p.name for p in inputs])
    assert "state.xml" in str(info.value)
    assert "does not match" in str(info.value)


def test_verify_rejects_missing_file(inputs, tmp_path):
    work, manifest_path, _ = push_inputs(inputs, tmp_path)
    (work / "topology.pdb").unlink()
    with pytest.raises(MdflowError) as info:
        transfer.verify(manifest_path, [work / p.name for p in inputs])
    assert "topology.pdb" in str(info.value)
    assert "missing" in str(info.value)


def test_verify_rejects_file_not_in_manifest(inputs, tmp_path):
    work, manifest_path, _ = push_inputs(inputs, tmp_path)
    stranger = work / "other.txt"
    stranger.write_text("not pushed")
    with pytest.raises(MdflowError) as info:
        transfer.verify(manifest_path, [stranger])
    assert "other.txt" in str(info.value)
    assert "no entry" in str(info.value)


def test_verify_missing_manifest(tmp_path):
    with pytest.raises(MdflowError) as info:
        transfer.verify(tmp_path / "absent.json", [tmp_path / "x"])
    assert "absent.json" in str(info.value)
    assert "missing" in str(info.value)


@pytest.mark.parametrize(
    "content",
    ["{not json", "", "[1, 2, 3]", '"just a string"', '{"nofiles": {}}', '{"files": [1, 2]}'],
)
def test_read_manifest_rejects_garbage(tmp_path, content):
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_text(content)
    with pytest.raises(MdflowError) as info:
        transfer.read_manifest(manifest_path)
    assert "manifest.json" in str(info.value)
    assert "not valid JSON" in str(info.value)


def test_read_manifest_rejects_binary(tmp_path):
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(MdflowError) as info:
        transfer.read_manifest(manifest_path)
    assert "manifest.json" in str(info.value)


def remote_outputs(tmp_path):
    """Files 'on the site' with a manifest, as a simulate step leaves them."""
    remote = tmp_path / "remote"
    remote.mkdir()
    dcd, csv = remote / "traj.dcd", remote / "energies.csv"
    dcd.write_bytes(b"CORD" + bytes(range(200)) * 20)
    csv.write_text("step,time_ps\n100,0.2\n200,0.4\n")
    manifest_path = remote / "manifest.json"
    transfer.write_manifest(manifest_path, [dcd, csv])
    return manifest_path, dcd, csv


def test_pull_accepts_intact_files(tmp_path):
    manifest_path, dcd, csv = remote_outputs(tmp_path)
    local = tmp_path / "local" / "results"
    transfer.pull(manifest_path, [dcd, csv], [local / "seg0.dcd", local / "seg0.csv"])
    assert (local / "seg0.dcd").read_bytes() == dcd.read_bytes()
    assert (local / "seg0.csv").read_text() == csv.read_text()
    assert sorted(p.name for p in local.iterdir()) == ["seg0.csv", "seg0.dcd"]


def test_pull_refuses_altered_source_and_creates_nothing(tmp_path):
    manifest_path, dcd, csv = remote_outputs(tmp_path)
    dcd.write_bytes(dcd.read_bytes()[:-7])  # truncated after the manifest was written
    local = tmp_path / "local"
    with pytest.raises(MdflowError) as info:
        transfer.pull(manifest_path, [dcd], [local / "seg0.dcd"])
    message = str(info.value)
    assert "refused" in message
    assert "traj.dcd" in message
    assert "manifest.json" in message
    assert not (local / "seg0.dcd").exists()
    assert not [p for p in local.rglob("*") if p.is_file()]


def test_pull_refuses_altered_source_and_keeps_existing_destination(tmp_path):
    manifest_path, dcd, csv = remote_outputs(tmp_path)
    local = tmp_path / "local"
    local.mkdir()
    (local / "seg0.csv").write_text("previous good copy\n")
    csv.write_text(csv.read_text().replace("0.4", "9.9"))
    with pytest.raises(MdflowError) as info:
        transfer.pull(manifest_path, [csv], [local / "seg0.csv"])
    assert "energies.csv" in str(info.value)
    assert (local / "seg0.csv").read_text() == "previous good copy\n"
    assert sorted(p.name for p in local.iterdir()) == ["seg0.csv"]


def test_pull_missing_source(tmp_path):
    manifest_path, dcd, csv = remote_outputs(tmp_path)
    dcd.unlink()
    with pytest.raises(MdflowError) as info:
        transfer.pull(manifest_path, [dcd], [tmp_path / "local" / "seg0.dcd"])
    assert "traj.dcd" in str(info.value)
    assert "missing" in str(info.value)
    assert not (tmp_path / "local" / "seg0.dcd").exists()


def test_pull_source_not_in_manifest(tmp_path):
    manifest_path, dcd, csv = remote_outputs(tmp_path)
    other = tmp_path / "remote" / "other.bin"
    other.write_bytes(b"x")
    with pytest.raises(MdflowError) as info:
        transfer.pull(manifest_path, [other], [tmp_path / "local" / "other.bin"])
    assert "other.bin" in str(info.value)
    assert not (tmp_path / "local" / "other.bin").exists()


def test_push_then_pull_roundtrip_after_verify(inputs, tmp_path):
    work, manifest_path, _ = push_inputs(inputs, tmp_path)
    staged = [work / p.name for p in inputs]
    transfer.verify(manifest_path, staged)
    back = tmp_path / "back"
    transfer.pull(manifest_path, staged, [back / p.name for p in inputs])
    for source in inputs:
        assert (back / source.name).read_bytes() == source.read_bytes()


def test_damaged_staged_file_loses_its_manifest_so_the_next_run_stages_it_again(inputs, tmp_path):
    work, manifest_path, _ = push_inputs(inputs, tmp_path)
    (work / "system.xml").write_bytes(b"<truncated")
    with pytest.raises(MdflowError) as info:
        transfer.verify(manifest_path, [work / "system.xml"], redo="pushes it again")
    assert not manifest_path.exists()
    assert f"removed {manifest_path} so that the next `mdflow` run pushes it again" in str(info.value)


def test_damaged_source_of_a_pull_loses_its_manifest(tmp_path):
    manifest_path, dcd, csv = remote_outputs(tmp_path)
    dcd.write_bytes(dcd.read_bytes()[:-7])
    with pytest.raises(MdflowError) as info:
        transfer.pull(manifest_path, [dcd], [tmp_path / "local" / "seg0.dcd"], redo="simulates segment 000 again")
    assert not manifest_path.exists() and "simulates segment 000 again" in str(info.value)


def test_copy_spoiled_on_the_way_is_copied_again(tmp_path, monkeypatch):
    manifest_path, dcd, csv = remote_outputs(tmp_path)
    real_copy, calls = transfer.atomic_copy, []

    def spoiled_once(source, destination, expected_sha256=None):
        calls.append(source)
        if len(calls) == 1:  # what a flaky network filesystem does to one read
            raise transfer.ChecksumMismatch(source, expected_sha256, "0" * 64)
        return real_copy(source, destination, expected_sha256=expected_sha256)

    monkeypatch.setattr(transfer, "atomic_copy", spoiled_once)
    transfer.pull(manifest_path, [dcd], [tmp_path / "local" / "seg0.dcd"])
    assert (tmp_path / "local" / "seg0.dcd").read_bytes() == dcd.read_bytes()
    assert len(calls) == 2 and manifest_path.exists()
