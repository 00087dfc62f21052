"""mdflow.md.trajfiles on real DCD files written by OpenMM's DCDFile and read back with mdtraj."""

import struct
from pathlib import Path

import mdtraj
import numpy as np
import pytest
from openmm import Vec3, app, unit

from mdflow.md import trajfiles

REPO = Path(__file__).resolve().parents[2]
PDB = REPO / "resources" / "alanine-dipeptide.pdb"
BOX_NM = (3.0, 3.5, 4.0)


def make_topology(periodic: bool):
    topology = app.PDBFile(str(PDB)).topology
    if periodic:
        a, b, c = BOX_NM
        topology.setPeriodicBoxVectors((Vec3(a, 0, 0), Vec3(0, b, 0), Vec3(0, 0, c)) * unit.nanometer)
    return topology


def frame_positions(count: int, start: int = 0) -> list[np.ndarray]:
    """Distinct, deterministic positions (nm) for frames start..start+count-1."""
    base = np.array(app.PDBFile(str(PDB)).positions.value_in_unit(unit.nanometer))
    rng = np.random.default_rng(1234)
    shifts = rng.normal(scale=0.05, size=(start + count, *base.shape))
    return [base + shifts[i] + 0.01 * i for i in range(start, start + count)]


def write_dcd(path: Path, topology, frames, append: bool = False) -> None:
    with open(path, "r+b" if append else "wb") as handle:
        dcd = app.DCDFile(handle, topology, 2 * unit.femtosecond, firstStep=100, interval=100, append=append)
        for positions in frames:
            dcd.writeModel(positions * unit.nanometer)


def load(path: Path) -> mdtraj.Trajectory:
    return mdtraj.load_dcd(str(path), top=str(PDB))


@pytest.fixture(params=[False, True], ids=["no-box", "periodic"])
def periodic(request):
    return request.param


@pytest.fixture
def dcd7(tmp_path, periodic):
    path = tmp_path / "trajectory.dcd"
    topology = make_topology(periodic)
    frames = frame_positions(7)
    write_dcd(path, topology, frames)
    return path, topology, frames


def test_dcd_layout_and_size_match_openmm(dcd7, periodic):
    path, topology, _ = dcd7
    atoms = topology.getNumAtoms()
    assert trajfiles.dcd_layout(path) == (7, periodic, atoms)
    frame_bytes = trajfiles.dcd_frame_bytes(atoms, periodic)
    assert path.stat().st_size == trajfiles.DCD_HEADER_BYTES + 7 * frame_bytes
    assert trajfiles.dcd_complete_frames(path) == 7


def test_written_dcd_reads_back(dcd7, periodic):
    path, _, frames = dcd7
    traj = load(path)
    assert traj.n_frames == 7
    np.testing.assert_allclose(traj.xyz, np.array(frames), atol=1e-5)
    if periodic:
        np.testing.assert_allclose(traj.unitcell_lengths, np.tile(BOX_NM, (7, 1)), atol=1e-5)
    else:
        assert traj.unitcell_lengths is None


def test_truncate_dcd_keeps_first_frames(dcd7, periodic):
    path, topology, frames = dcd7
    trajfiles.truncate_dcd(path, 3)

    assert trajfiles.dcd_layout(path) == (3, periodic, topology.getNumAtoms())
    assert trajfiles.dcd_complete_frames(path) == 3
    assert path.stat().st_size == trajfiles.DCD_HEADER_BYTES + 3 * trajfiles.dcd_frame_bytes(
        topology.getNumAtoms(), periodic)
    traj = load(path)
    assert traj.n_frames == 3
    np.testing.assert_allclose(traj.xyz, np.array(frames[:3]), atol=1e-5)


def test_append_after_truncation(dcd7, periodic):
    path, topology, frames = dcd7
    trajfiles.truncate_dcd(path, 3)
    more = frame_positions(4, start=10)
    write_dcd(path, topology, more, append=True)

    assert trajfiles.dcd_layout(path)[0] == 7
    assert trajfiles.dcd_complete_frames(path) == 7
    traj = load(path)
    assert traj.n_frames == 3 + 4
    np.testing.assert_allclose(traj.xyz, np.array(frames[:3] + more), atol=1e-5)
    if periodic:
        np.testing.assert_allclose(traj.unitcell_lengths, np.tile(BOX_NM, (7, 1)), atol=1e-5)


def test_truncate_to_zero_then_append(dcd7, periodic):
    path, topology, _ = dcd7
    trajfiles.truncate_dcd(path, 0)
    assert trajfiles.dcd_layout(path)[0] == 0
    assert path.stat().st_size == trajfiles.DCD_HEADER_BYTES
    more = frame_positions(2, start=20)
    write_dcd(path, topology, more, append=True)
    traj = load(path)
    assert traj.n_frames == 2
    np.testing.assert_allclose(traj.xyz, np.array(more), atol=1e-5)


def test_partial_frame_is_not_complete(dcd7):
    path, _, frames = dcd7
    with open(path, "ab") as handle:
        handle.write(b"\x01\x02\x03\x04\x05")
    assert trajfiles.dcd_complete_frames(path) == 7
    with pytest.raises(ValueError, match="fewer than 8 complete frames"):
        trajfiles.truncate_dcd(path, 8)
    trajfiles.truncate_dcd(path, 7)  # cuts the garbage off
    traj = load(path)
    assert traj.n_frames == 7
    np.testing.assert_allclose(traj.xyz, np.array(frames), atol=1e-5)


def test_header_ahead_of_data_after_kill(dcd7, periodic):
    """OpenMM bumps the header count before writing a frame; a kill mid-frame leaves it one ahead."""
    path, topology, frames = dcd7
    atoms = topology.getNumAtoms()
    frame_bytes = trajfiles.dcd_frame_bytes(atoms, periodic)
    with open(path, "r+b") as handle:
        handle.seek(8)
        handle.write(struct.pack("<i", 8))
        handle.seek(0, 2)
        handle.write(b"\x00" * (frame_bytes // 2))
    assert trajfiles.dcd_layout(path)[0] == 8
    assert trajfiles.dcd_complete_frames(path) == 7
    trajfiles.truncate_dcd(path, 5)
    assert trajfiles.dcd_layout(path) == (5, periodic, atoms)
    traj = load(path)
    np.testing.assert_allclose(traj.xyz, np.array(frames[:5]), atol=1e-5)


def test_dcd_layout_rejects_non_dcd(tmp_path):
    not_dcd = tmp_path / "x.dcd"
    not_dcd.write_bytes(b"\x54\x00\x00\x00NOPE" + b"\x00" * 400)
    with pytest.raises(ValueError, match="not a DCD"):
        trajfiles.dcd_layout(not_dcd)
    short = tmp_path / "short.dcd"
    short.write_bytes(b"\x54\x00\x00\x00CORD")
    with pytest.raises(ValueError, match="not a DCD"):
        trajfiles.dcd_complete_frames(short)


class FakeClock:
    """Stands in for the `time` module inside openmm.app.dcdfile, so the header's date is controlled."""

    def __init__(self, stamp: str):
        self.stamp = stamp

    def time(self):
        return 0.0

    def localtime(self, seconds):
        return None

    def asctime(self, _):
        return self.stamp


def test_stamp_dcd_title_makes_identical_runs_identical(tmp_path, monkeypatch, periodic):
    import openmm.app.dcdfile as dcdfile

    topology = make_topology(periodic)
    frames = frame_positions(4)
    first, second = tmp_path / "a.dcd", tmp_path / "b.dcd"
    monkeypatch.setattr(dcdfile, "time", FakeClock("Mon Jan  1 10:00:00 2024"))
    write_dcd(first, topology, frames)
    monkeypatch.setattr(dcdfile, "time", FakeClock("Tue Jan  2 11:11:11 2024"))
    write_dcd(second, topology, frames)
    assert first.read_bytes() != second.read_bytes()
    assert b"Created Mon Jan  1 10:00:00 2024" in first.read_bytes()[:trajfiles.DCD_HEADER_BYTES]

    trajfiles.stamp_dcd_title(first)
    trajfiles.stamp_dcd_title(second)

    assert first.read_bytes() == second.read_bytes()
    header = first.read_bytes()[:trajfiles.DCD_HEADER_BYTES]
    assert header[180:260] == b"Written by mdflow".ljust(80, b" ")
    assert b"Created by OpenMM" in header[100:180]  # first title untouched
    assert trajfiles.dcd_layout(first) == (4, periodic, topology.getNumAtoms())
    np.testing.assert_allclose(load(first).xyz, np.array(frames), atol=1e-5)


def test_stamp_dcd_title_long_title_does_not_overrun(dcd7, periodic):
    path, topology, frames = dcd7
    size = path.stat().st_size
    trajfiles.stamp_dcd_title(path, b"T" * 200)
    assert path.stat().st_size == size
    assert path.read_bytes()[180:260] == b"T" * 80
    assert trajfiles.dcd_layout(path) == (7, periodic, topology.getNumAtoms())
    np.testing.assert_allclose(load(path).xyz, np.array(frames), atol=1e-5)


# --- energy CSV ------------------------------------------------------------------------------

def write_energies(path: Path, rows: int, partial: str = "") -> list[str]:
    lines = [trajfiles.energy_row((100 * (i + 1), 0.2 * (i + 1), -10.5 * i, 3.25, -7.0, 300.0 + i, 27.0))
             for i in range(rows)]
    path.write_text(trajfiles.energy_header() + "".join(lines) + partial)
    return lines


def test_energy_header_and_row_format():
    assert trajfiles.energy_header() == (
        "step,time_ps,potential_kj_mol,kinetic_kj_mol,total_kj_mol,temperature_k,volume_nm3\n")
    assert trajfiles.energy_row((500.0, 1.0, -2.5, 3, 0.5, 299.9, 27)) == (
        "500,1.000000,-2.500000,3.000000,0.500000,299.900000,27.000000\n")


def test_truncate_csv_rows_keeps_header_and_first_rows(tmp_path):
    path = tmp_path / "energies.csv"
    rows = write_energies(path, 5, partial="600,1.2,-3")
    trajfiles.truncate_csv_rows(path, 3)
    assert path.read_text() == trajfiles.energy_header() + "".join(rows[:3])


def test_truncate_csv_rows_drops_partial_last_line(tmp_path):
    path = tmp_path / "energies.csv"
    rows = write_energies(path, 5, partial="600,1.2,-3")
    trajfiles.truncate_csv_rows(path, 5)
    assert path.read_text() == trajfiles.energy_header() + "".join(rows)
    assert path.read_text().endswith("\n")


def test_truncate_csv_rows_to_zero_keeps_header(tmp_path):
    path = tmp_path / "energies.csv"
    write_energies(path, 2)
    trajfiles.truncate_csv_rows(path, 0)
    assert path.read_text() == trajfiles.energy_header()


def test_truncate_csv_rows_too_many_raises_and_keeps_file(tmp_path):
    path = tmp_path / "energies.csv"
    write_energies(path, 4, partial="500,1.0")
    before = path.read_text()
    with pytest.raises(ValueError, match="fewer than 5 complete rows"):
        trajfiles.truncate_csv_rows(path, 5)
    assert path.read_text() == before
