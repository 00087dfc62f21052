"""mdflow.pdbcheck.check_pdb on the shipped structures and on broken copies of them."""

import locale
from pathlib import Path

import pytest

from mdflow.errors import MdflowError
from mdflow.pdbcheck import check_pdb

REPO = Path(__file__).resolve().parents[2]
VILLIN = REPO / "resources" / "villin.pdb"
ALANINE = REPO / "resources" / "alanine-dipeptide.pdb"


def atom_line_numbers(path: Path) -> list[int]:
    return [n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(("ATOM  ", "HETATM"))]


def test_counts_atoms_in_villin():
    assert check_pdb(VILLIN) == 596
    assert check_pdb(VILLIN) == len(atom_line_numbers(VILLIN))


def test_counts_atom_and_hetatm_records():
    assert check_pdb(ALANINE) == 10  # 5 HETATM (ACE, NME) + 5 ATOM (ALA)


def test_accepts_str_path():
    assert check_pdb(str(ALANINE)) == 10


def test_malformed_coordinate_names_file_and_line(tmp_path):
    lines = VILLIN.read_text().splitlines(keepends=True)
    number = atom_line_numbers(VILLIN)[41]
    line = lines[number - 1]
    lines[number - 1] = line[:38] + "  12.x45" + line[46:]  # y coordinate no longer a number
    broken = tmp_path / "broken-villin.pdb"
    broken.write_text("".join(lines))

    with pytest.raises(MdflowError) as info:
        check_pdb(broken)
    message = str(info.value)
    assert "broken-villin.pdb" in message
    assert f"line {number}" in message
    assert "12.x45" in message
    assert "columns 31-54" in message


def test_whitespace_separated_coordinates_are_rejected(tmp_path):
    """A free-format line (coordinates not in columns 31-54) is not PDB."""
    broken = tmp_path / "free.pdb"
    broken.write_text(
        "REMARK test\n"
        "ATOM      1  N   ALA A   1       0.000   0.000   0.000  1.00  0.00           N\n"
        "ATOM      2 CA ALA A 1 1.0 2.0 3.0\n"
    )
    with pytest.raises(MdflowError) as info:
        check_pdb(broken)
    assert "free.pdb line 3" in str(info.value)


def test_display_name_is_used_in_message(tmp_path):
    broken = tmp_path / "x.pdb"
    broken.write_text("ATOM      1  N   ALA A   1       0.000   0.000\n")  # z missing
    with pytest.raises(MdflowError) as info:
        check_pdb(broken, display="config/systems.tsv: row 2 structure")
    message = str(info.value)
    assert message.startswith("config/systems.tsv: row 2 structure line 1")


def test_missing_residue_name(tmp_path):
    lines = ALANINE.read_text().splitlines(keepends=True)
    number = atom_line_numbers(ALANINE)[3]
    line = lines[number - 1]
    lines[number - 1] = line[:17] + "   " + line[20:]
    broken = tmp_path / "nores.pdb"
    broken.write_text("".join(lines))
    with pytest.raises(MdflowError) as info:
        check_pdb(broken)
    assert "nores.pdb" in str(info.value)
    assert f"line {number}" in str(info.value)
    assert "residue name" in str(info.value)


def test_file_without_atom_records(tmp_path):
    empty = tmp_path / "header-only.pdb"
    empty.write_text("".join(l for l in VILLIN.read_text().splitlines(keepends=True)
                             if not l.startswith(("ATOM", "HETATM"))))
    with pytest.raises(MdflowError) as info:
        check_pdb(empty)
    assert "header-only.pdb" in str(info.value)
    assert "no ATOM or HETATM records" in str(info.value)


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.pdb"
    empty.write_text("")
    with pytest.raises(MdflowError, match="empty.pdb: no ATOM or HETATM"):
        check_pdb(empty)


def test_binary_file_is_rejected(tmp_path):
    binary = tmp_path / "structure.pdb"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\xff\xfe\xfd" + bytes(range(256)) * 4)
    with pytest.raises(MdflowError) as info:
        check_pdb(binary)
    message = str(info.value)
    assert "structure.pdb" in message
    if locale.getpreferredencoding(False).lower().replace("-", "") == "utf8":
        assert "not a PDB file (not text)" in message
    else:  # a single-byte locale decodes anything; the file is still rejected for having no atoms
        assert "no ATOM or HETATM records" in message


def test_missing_file(tmp_path):
    with pytest.raises(MdflowError) as info:
        check_pdb(tmp_path / "nope.pdb")
    assert "nope.pdb" in str(info.value)
    assert "cannot be read" in str(info.value)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(MdflowError) as info:
        check_pdb(tmp_path)
    assert "cannot be read" in str(info.value)
