"""Structure preparation that says what it did: chain gaps (parsing, rules, the one-line refusal), the
preparation record's pure parts, the minimization progress lines, and the sheet's `gaps` column."""

import json
from pathlib import Path

import pytest

from mdflow.campaign import load_campaign
from mdflow.errors import MdflowError
from mdflow.md import gaps as G
from mdflow.md.preparation import lines, protonation, titratable_state

REPO = Path(__file__).resolve().parents[2]
FRAGMENT = REPO / "tests/data/structures/1bhl_gap_fragment.pdb"
HEADER = "name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed"


def _pdbfixer_data(name: str) -> Path:
    import pdbfixer

    return Path(pdbfixer.__file__).parent / "tests/data" / name


def _atom(serial, name, resname, chain, number, code=" ", record="ATOM  "):
    return f"{record}{serial:5d} {name:<4} {resname:>3} {chain}{number:4d}{code}   {0.0:8.3f}{0.0:8.3f}{0.0:8.3f}  1.00  0.00"


def _pdb(seqres: dict, residues: list) -> str:
    """A PDB text: SEQRES per chain, then one CA per (chain, number, name[, insertion code]), TER per chain."""
    out = []
    for chain, names in seqres.items():
        for i in range(0, len(names), 13):
            out.append(f"SEQRES{i // 13 + 1:4d} {chain}{len(names):5d}  " + " ".join(names[i:i + 13]))
    previous = None
    for serial, (chain, number, name, *code) in enumerate(residues, 1):
        if previous and previous != chain:
            out.append("TER")
        out.append(_atom(serial, "CA", name, chain, number, code[0] if code else " "))
        previous = chain
    return "\n".join(out + ["TER", "END"]) + "\n"


# ------------------------------------------------------------------ finding gaps


def test_1bhl_gap_is_found_as_pdbfixer_finds_it():
    from pdbfixer import PDBFixer

    path = _pdbfixer_data("1BHL.pdb")
    found = G.gaps_in_pdb(path)
    assert [(g.chain, g.after, g.before, g.length) for g in found] == [("A", "GLN 137", "MET 154", 16)]
    assert found[0].residues[:3] == ("GLU", "PHE", "GLY") and not found[0].terminal
    fixer = PDBFixer(filename=str(path))
    fixer.findMissingResidues()
    assert G.gaps_from_fixer(fixer) == found


def test_fragment_in_tests_data_keeps_the_gap():
    assert [(g.where, g.length) for g in G.gaps_in_pdb(FRAGMENT)] == [("chain A between GLN 137 and MET 154", 16)]


def test_short_terminal_and_no_seqres_cases():
    seq = ["MET", "ALA", "GLY", "SER", "LYS", "ALA", "GLY", "LEU"]
    # observed 3..4 and 7..8 of MET ALA GLY SER LYS ALA GLY LEU: N-terminal 2 missing, internal 2 missing
    text = _pdb({"A": seq}, [("A", 3, "GLY"), ("A", 4, "SER"), ("A", 7, "GLY"), ("A", 8, "LEU")])
    found = G.gaps_in_text(text)
    assert [(g.after, g.before, g.residues) for g in found] == [
        (None, "GLY 3", ("MET", "ALA")), ("SER 4", "GLY 7", ("LYS", "ALA"))]
    assert [G.action(g, "refuse") for g in found] == ["terminal", "model"]
    G.check(found, "refuse", "x.pdb")  # nothing long: no refusal
    assert G.gaps_in_text(text.replace("SEQRES", "REMARK")) == []  # without SEQRES nobody knows


def test_insertion_codes_and_second_chain():
    text = _pdb({"A": ["ALA", "GLY", "SER"], "B": ["LYS"] + ["GLY"] * 5 + ["LEU"]},
                [("A", 1, "ALA"), ("A", 1, "GLY", "A"), ("A", 2, "SER"), ("B", 10, "LYS"), ("B", 16, "LEU")])
    found = G.gaps_in_text(text)
    assert [(g.chain, g.chain_index, g.index, g.after, g.before, g.length) for g in found] == [
        ("B", 1, 1, "LYS 10", "LEU 16", 5)]


def _without_seqres(tmp_path) -> Path:
    path = tmp_path / "noseq.pdb"
    path.write_text("".join(line for line in FRAGMENT.read_text().splitlines(True) if not line.startswith("SEQRES")))
    return path


def test_a_break_without_seqres_is_found_by_distance(tmp_path):
    from pdbfixer import PDBFixer

    path = _without_seqres(tmp_path)
    found = G.gaps_in_pdb(path)
    assert [(g.where, g.residues, round(g.break_nm, 2)) for g in found] == [
        ("chain A between GLN 137 and MET 154", None, 1.93)]
    fixer = PDBFixer(filename=str(path))
    fixer.findMissingResidues()
    assert G.gaps_from_fixer(fixer) == found
    assert [G.action(found[0], policy) for policy in G.POLICIES] == ["refuse", "refuse", "cap"]
    with pytest.raises(MdflowError) as error:
        G.check(found, "model", "noseq.pdb")
    assert "\n" not in str(error.value)
    for words in ("noseq.pdb: chain A is broken between GLN 137 and MET 154", "19.3 Å", "no SEQRES", "'gaps'", "'cap'"):
        assert words in str(error.value), words


def test_unparseable_numbers_leave_the_check_to_setup():
    line = _atom(1, "CA", "ALA", "A", 1)
    assert G.gaps_in_text(f"SEQRES   1 A    2  ALA GLY\n{line[:22]}A0Z1{line[26:]}\n") == []  # hybrid-36 number


# ------------------------------------------------------------------ rules and the refusal


@pytest.mark.parametrize("length,policy,expected", [
    (1, "refuse", "model"), (3, "refuse", "model"), (4, "refuse", "refuse"), (16, "model", "model"),
    (16, "cap", "cap"), (2, "cap", "model"),
])
def test_actions(length, policy, expected):
    gap = G.Gap("A", 0, 5, "ALA 4", "GLY 10", ("GLY",) * length)
    assert G.action(gap, policy) == expected


def test_refusal_is_one_line_naming_file_chain_residues_length_and_column():
    gap = G.gaps_in_pdb(FRAGMENT)[0]
    with pytest.raises(MdflowError) as error:
        G.check([gap], "refuse", "resources/frag.pdb")
    message = str(error.value)
    assert "\n" not in message
    for words in ("resources/frag.pdb", "chain A", "GLN 137", "MET 154", "16 residues", "more than 3",
                  "column 'gaps'", "'model'", "'cap'"):
        assert words in message, words


# ------------------------------------------------------------------ the sheet column


def _campaign(tmp_path, row: str, header: str = HEADER):
    (tmp_path / "resources").mkdir(exist_ok=True)
    (tmp_path / "resources/frag.pdb").write_bytes(FRAGMENT.read_bytes())
    (tmp_path / "resources/ala.pdb").write_bytes((REPO / "resources/alanine-dipeptide.pdb").read_bytes())
    (tmp_path / "systems.tsv").write_text(f"{header}\n{row}\n")
    (tmp_path / "c.yaml").write_text("systems: systems.tsv\nresults: r\n")
    return load_campaign(tmp_path, ["c.yaml"], {})


ROW = "bhl\tresources/frag.pdb\tamber99sbildn\timplicit\t300\t1\t1\t1\t3"


def test_sheet_refuses_the_gap_at_validation(tmp_path):
    with pytest.raises(MdflowError, match=r"systems.tsv line 2 \(bhl\), structure resources/frag.pdb: 16 residues "
                                          r"missing in chain A between GLN 137 and MET 154"):
        _campaign(tmp_path, ROW)


@pytest.mark.parametrize("policy", ["model", "cap"])
def test_sheet_column_gaps_lets_it_through(tmp_path, policy):
    campaign = _campaign(tmp_path, f"{ROW}\t{policy}", HEADER + "\tgaps")
    assert campaign.systems["bhl"].gaps == policy


def test_gaps_defaults_to_refuse_and_bad_values_are_one_line(tmp_path):
    ala = ROW.replace("resources/frag.pdb", "resources/ala.pdb")
    assert _campaign(tmp_path, ala).systems["bhl"].gaps == "refuse"
    with pytest.raises(MdflowError, match=r"column 'gaps': 'fill' is not allowed; expected one of: refuse, model, cap"):
        _campaign(tmp_path, f"{ala}\tfill", HEADER + "\tgaps")


def test_cap_with_charmm36_is_refused(tmp_path):
    row = ROW.replace("amber99sbildn\timplicit", "charmm36\texplicit")
    with pytest.raises(MdflowError, match=r"column 'gaps': 'cap' does not work with force field 'charmm36'"):
        _campaign(tmp_path, f"{row}\tcap", HEADER + "\tgaps")


def test_ace_nme_caps_with_charmm36_are_refused(tmp_path):
    row = ROW.replace("resources/frag.pdb", "resources/ala.pdb").replace("amber99sbildn\timplicit", "charmm36\texplicit")
    with pytest.raises(MdflowError, match=r"cap residue 'ACE' .* force field 'charmm36'"):
        _campaign(tmp_path, row)


@pytest.mark.parametrize("forcefield,solvent,ok", [
    ("amber14", "implicit", True), ("amber14", "explicit", True), ("amber99sbildn", "implicit", True),
    ("amber99sbildn", "explicit", True), ("charmm36", "explicit", True), ("charmm36", "implicit", False),
])
def test_forcefield_solvent_combinations(tmp_path, forcefield, solvent, ok):
    """The sheet accepts the combinations OpenMM ships force-field files for (amber14 and amber99sbildn
    with implicit or explicit water, charmm36 with explicit); charmm36 has no implicit model and is
    refused in one line."""
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources/v.pdb").write_bytes((REPO / "resources/villin.pdb").read_bytes())
    (tmp_path / "systems.tsv").write_text(f"{HEADER}\nv\tresources/v.pdb\t{forcefield}\t{solvent}\t300\t1\t1\t1\t3\n")
    (tmp_path / "c.yaml").write_text("systems: systems.tsv\nresults: r\n")
    if ok:
        load_campaign(tmp_path, ["c.yaml"], {})
    else:
        with pytest.raises(MdflowError, match=r"column 'solvent': force field 'charmm36' has no implicit solvent"):
            load_campaign(tmp_path, ["c.yaml"], {})


# ------------------------------------------------------------------ the record


@pytest.mark.parametrize("kind,atoms,disulfide,state", [
    ("HIS", {"HD1"}, False, "HID"), ("HIS", {"HE2"}, False, "HIE"), ("HIS", {"HD1", "HE2"}, False, "HIP"),
    ("ASP", set(), False, "ASP"), ("ASP", {"HD2"}, False, "ASH"), ("GLU", {"HE2"}, False, "GLH"),
    ("LYS", {"HZ1", "HZ2", "HZ3"}, False, "LYS"), ("LYS", {"HZ1", "HZ2"}, False, "LYN"),
    ("CYS", {"HG"}, False, "CYS"), ("CYS", set(), True, "CYX"), ("CYS", set(), False, "CYM"),
])
def test_titratable_states(kind, atoms, disulfide, state):
    assert titratable_state(kind, atoms, disulfide) == state


def test_protonation_of_villin():
    from openmm.app import PDBFile

    record = protonation(PDBFile(str(REPO / "resources/villin.pdb")).topology)
    assert record["counts"] == {"ASP": {"ASP": 2}, "GLU": {"GLU": 2}, "LYS": {"LYS": 5}}
    assert record["residues"] == []


def test_lines_say_what_was_done():
    prep = {
        "waters_removed": 6,
        "gaps": {"policy": "cap", "found": G.record(G.gaps_in_pdb(FRAGMENT), "cap")},
        "nonstandard_replaced": [{"residue": "A CAS 130", "from": "CAS", "to": "CYS"}],
        "heterogens_kept": {"NAG": 2},
        "missing_atoms": {"count": 1, "residues": [{"residue": "A GLU 170", "atoms": ["OXT"]}]},
        "hydrogens_added": 296, "ph": 7.0,
        "protonation": {"counts": {"HIS": {"HID": 1, "HIE": 2}}, "residues": [{"residue": "A HIS 12", "state": "HID"}]},
        "net_charge_e": -3.0, "solvent": {"waters": 418, "ions": {"CL": 1, "NA": 4}}, "box_nm": [2.4, 2.4, 2.4],
    }
    assert lines(prep) == [
        "Chain A gap between GLN 137 and MET 154: 16 residues missing (GLU PHE GLY ILE PRO TYR ASN PRO GLN SER GLN "
        "GLY VAL ILE GLU SER): not modelled: chain split, capped with NME and ACE.",
        "Nonstandard residue A CAS 130 replaced by CYS.",
        "Crystal waters removed: 6.",
        "Other heterogens kept: 2 NAG.",
        "Missing heavy atoms added: 1 (A GLU 170: OXT).",
        "Hydrogens added at pH 7: 296.",
        "Protonation states: HIS: 1 HID, 2 HIE.",
        "Residue states: A HIS 12 HID.",
        "Net charge of the solute: -3 e.",
        "Solvent added: 418 waters, ions 1 CL, 4 NA; box 2.4 × 2.4 × 2.4 nm.",
    ]
    assert lines({"gaps": {"seqres": True, "found": []}, "missing_atoms": {"count": 0}, "net_charge_e": 0.0}) == [
        "Chain gaps: none (every SEQRES residue has coordinates; no chain breaks).", "Missing heavy atoms: none.",
        "Net charge of the solute: 0 e."]
    assert lines({"gaps": {"seqres": False, "found": []}})[0] == (
        "Chain gaps: no chain breaks (no SEQRES records to find missing residues with).")
    broken = G.record([G.Gap("A", 0, 18, "GLN 137", "MET 154", None, 1.935)], "cap")
    assert lines({"gaps": {"seqres": False, "found": broken}})[0] == (
        "Chain A break between GLN 137 and MET 154 (C to N 19.4 Å, residues unknown: no SEQRES for them): "
        "not modelled: chain split, capped with NME and ACE.")


# ------------------------------------------------------------------ minimization progress


def test_minimization_progress_lines_at_most_every_interval():
    from mdflow.md.setup import MinimizationProgress

    now, out = [0.0], []
    progress = MinimizationProgress(out.append, 100, every_s=10.0, clock=lambda: now[0])
    for iteration in [*range(100), *range(30)]:  # two L-BFGS rounds
        now[0] += 0.25
        assert progress.report(iteration, [], [], {"system energy": -float(iteration)}) is False
    assert progress.iterations == 130 and progress.rounds == 2
    assert out == ["minimizing: iteration 1 (round 1: 1 of at most 100), potential -0.0 kJ/mol",
                   "minimizing: iteration 41 (round 1: 41 of at most 100), potential -40.0 kJ/mol",
                   "minimizing: iteration 81 (round 1: 81 of at most 100), potential -80.0 kJ/mol",
                   "minimizing: iteration 121 (round 2: 21 of at most 100), potential -20.0 kJ/mol"]


# ------------------------------------------------------------------ setup on the gap fragment


def test_setup_caps_the_gap_and_records_it(tmp_path):
    import numpy as np
    from openmm import app, unit

    from mdflow.md.setup import prepare

    out, log = tmp_path, []
    summary = prepare(FRAGMENT, "amber99sbildn", "implicit", 7.0, 1.0, 0.1, 10, "CPU", 1, out / "system.xml",
                      out / "topology.pdb", out / "minimized.xml", out / "setup.json", seed=5, gaps="cap",
                      log=log.append)
    prep = json.loads((out / "setup.json").read_text())["preparation"]
    assert prep == summary["preparation"]
    assert [(g["after"], g["before"], g["action"]) for g in prep["gaps"]["found"]] == [("GLN 137", "MET 154", "cap")]
    assert prep["nonstandard_replaced"] == [{"residue": "A CAS 130", "from": "CAS", "to": "CYS"}]
    assert prep["waters_removed"] == 6 and prep["solvent"] is None
    assert prep["missing_atoms"]["residues"] == [{"residue": "A GLU 170", "atoms": ["OXT"]}]
    assert prep["net_charge_e"] == 3.0  # neutral caps, the loop's two GLU absent (modelled: +1)
    pdb = app.PDBFile(str(out / "topology.pdb"))
    chains = [[r.name for r in c.residues()] for c in pdb.topology.chains()]
    assert [(c[0], c[-1], len(c)) for c in chains] == [("ASN", "NME", 19), ("ACE", "GLU", 18)]
    positions = pdb.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    gln_c = next(a.index for a in pdb.topology.atoms() if a.residue.id == "137" and a.name == "C")
    met_n = next(a.index for a in pdb.topology.atoms() if a.residue.id == "154" and a.name == "N")
    assert np.linalg.norm(positions[gln_c] - positions[met_n]) > 10  # not pulled together by a bond
    assert any(line.startswith("preparation: Chain A gap between GLN 137 and MET 154") for line in log)
    assert log[-1].startswith("minimized: ") and any(line.startswith("minimizing: iteration 1 ") for line in log)


def test_setup_caps_a_break_without_seqres(tmp_path):
    from openmm import app

    from mdflow.md.setup import prepare

    summary = prepare(_without_seqres(tmp_path), "amber99sbildn", "implicit", 7.0, 1.0, 0.1, 5, "CPU", 1,
                      tmp_path / "s.xml", tmp_path / "t.pdb", tmp_path / "m.xml", tmp_path / "setup.json", seed=5,
                      gaps="cap", log=lambda line: None)
    gap, = summary["preparation"]["gaps"]["found"]
    assert (gap["residues"], gap["action"], gap["break_nm"]) == (None, "cap", 1.935)
    chains = [[r.name for r in c.residues()] for c in app.PDBFile(str(tmp_path / "t.pdb")).topology.chains()]
    assert [(c[0], c[-1]) for c in chains] == [("ASN", "NME"), ("ACE", "GLU")]


def test_setup_refuses_the_gap_without_the_column(tmp_path):
    from mdflow.md.setup import prepare

    with pytest.raises(MdflowError, match="16 residues missing in chain A between GLN 137 and MET 154"):
        prepare(FRAGMENT, "amber99sbildn", "implicit", 7.0, 1.0, 0.1, 10, "CPU", 1, tmp_path / "s.xml",
                tmp_path / "t.pdb", tmp_path / "m.xml", tmp_path / "setup.json", seed=5, log=lambda line: None)
    assert not (tmp_path / "setup.json").exists()


def test_sheet_schema_offers_exactly_the_policies():
    import yaml

    schema = yaml.safe_load((REPO / "mdflow/workflow/schemas/systems.schema.yaml").read_text())
    assert schema["properties"]["gaps"]["enum"] == list(G.POLICIES) and schema["properties"]["gaps"]["default"] == "refuse"
