"""What structure preparation did, as data for setup.json and as lines for the log and the report.

Readers of OpenMM topologies (duck-typed: chains/residues/atoms/bonds) and pure formatters; nothing
here changes a structure.
"""

from collections import Counter

WATER_NAMES = {"HOH", "WAT", "H2O", "TIP3", "SOL"}
TITRATABLE = {"HIS": "HIS", "HID": "HIS", "HIE": "HIS", "HIP": "HIS", "ASP": "ASP", "ASH": "ASP",
              "GLU": "GLU", "GLH": "GLU", "LYS": "LYS", "LYN": "LYS", "CYS": "CYS", "CYX": "CYS", "CYM": "CYS"}
STANDARD_STATE = {"ASP": "ASP", "GLU": "GLU", "LYS": "LYS", "CYS": "CYS"}  # HIS has none: always listed


def residue_label(residue) -> str:
    chain = (residue.chain.id or "-").strip() or "-"
    return f"{chain} {residue.name} {residue.id}{(residue.insertionCode or '').strip()}"


def titratable_state(kind: str, atom_names: set, disulfide: bool = False) -> str:
    """The protonation state of a titratable residue from its hydrogens, named as Amber/Modeller
    name the variants: HIS -> HID/HIE/HIP, ASP/ASH, GLU/GLH, LYS/LYN, CYS/CYX (disulfide)/CYM."""
    if kind == "HIS":
        delta, epsilon = "HD1" in atom_names, "HE2" in atom_names
        return "HIP" if delta and epsilon else "HID" if delta else "HIE" if epsilon else "HIS (no ring H)"
    if kind == "ASP":
        return "ASH" if atom_names & {"HD1", "HD2"} else "ASP"
    if kind == "GLU":
        return "GLH" if atom_names & {"HE1", "HE2"} else "GLU"
    if kind == "LYS":
        return "LYS" if {"HZ1", "HZ2", "HZ3"} <= atom_names else "LYN"
    if kind == "CYS":
        return "CYS" if "HG" in atom_names else "CYX" if disulfide else "CYM"
    raise ValueError(kind)


def protonation(topology) -> dict:
    """Counts of each titratable residue's states, and the residues not in the usual pH-7 state
    (every HIS, since it has no single one)."""
    bonded_sg = set()
    for a, b in topology.bonds():
        if a.name == "SG" and b.name == "SG" and a.residue is not b.residue:
            bonded_sg.update((a.residue.index, b.residue.index))
    counts, listed = {}, []
    for residue in topology.residues():
        kind = TITRATABLE.get(residue.name)
        if kind is None:
            continue
        state = titratable_state(kind, {atom.name for atom in residue.atoms()}, residue.index in bonded_sg)
        counts.setdefault(kind, Counter())[state] += 1
        if state != STANDARD_STATE.get(kind):
            listed.append({"residue": residue_label(residue), "state": state})
    return {"counts": {kind: dict(sorted(c.items())) for kind, c in sorted(counts.items())}, "residues": listed}


def residue_names(residues) -> dict:
    return dict(sorted(Counter(r.name for r in residues).items()))


def added_solvent(topology, solute_residues: int) -> dict:
    """Waters and ions Modeller appended after the first `solute_residues` residues."""
    added = [r for r in topology.residues() if r.index >= solute_residues]
    waters = sum(1 for r in added if r.name in WATER_NAMES)
    ions = residue_names(r for r in added if r.name not in WATER_NAMES)
    return {"waters": waters, "ions": ions}


def net_charge(system, atoms: int) -> float:
    """Net charge (e) of the first `atoms` particles in the System's NonbondedForce."""
    from openmm import NonbondedForce, unit

    for force in system.getForces():
        if isinstance(force, NonbondedForce):
            total = sum(force.getParticleParameters(i)[0].value_in_unit(unit.elementary_charge) for i in range(atoms))
            return round(total, 3) + 0.0
    return 0.0


def heterogens(topology) -> dict:
    """Residues that are neither protein, nucleic acid nor ACE/NME caps (ligands, ions, ...), by name."""
    from pdbfixer.pdbfixer import dnaResidues, proteinResidues, rnaResidues

    known = set(proteinResidues) | set(dnaResidues) | set(rnaResidues) | {"ACE", "NME"}
    return residue_names(r for r in topology.residues() if r.name not in known)


def missing_atoms(fixer) -> dict:
    """The heavy atoms (and terminal OXT) a PDBFixer found missing, per residue, before it adds them."""
    residues = {}
    for residue, atoms in list(fixer.missingAtoms.items()) + list(fixer.missingTerminals.items()):
        names = [a if isinstance(a, str) else a.name for a in atoms]
        residues.setdefault(residue_label(residue), []).extend(names)
    return {"count": sum(len(v) for v in residues.values()),
            "residues": [{"residue": label, "atoms": names} for label, names in residues.items()]}


# ------------------------------------------------------------------ words


def _counts(mapping: dict) -> str:
    return ", ".join(f"{n} {name}" for name, n in mapping.items())


def lines(prep: dict) -> list[str]:
    """One sentence per preparation step, for the setup log and the report. Pure."""
    out = []
    gaps = prep.get("gaps", {})
    found = gaps.get("found", [])
    if not found:
        out.append("Chain gaps: none (every SEQRES residue has coordinates; no chain breaks)." if gaps.get("seqres", True)
                   else "Chain gaps: no chain breaks (no SEQRES records to find missing residues with).")
    for gap in found:
        where = (f"between {gap['after']} and {gap['before']}" if gap["after"] and gap["before"]
                 else f"before {gap['before']}" if gap["before"] else f"after {gap['after']}")
        if gap["residues"] is None:
            out.append(f"Chain {gap['chain']} break {where} (C to N {gap['break_nm'] * 10:.1f} Å, residues unknown: "
                       f"no SEQRES for them): {gap['done']}.")
            continue
        out.append(f"Chain {gap['chain']} gap {where}: {gap['length']} residue{'s' if gap['length'] != 1 else ''} "
                   f"missing ({' '.join(gap['residues'])}): {gap['done']}.")
    for item in prep.get("nonstandard_replaced", []):
        out.append(f"Nonstandard residue {item['residue']} replaced by {item['to']}.")
    if prep.get("waters_removed"):
        out.append(f"Crystal waters removed: {prep['waters_removed']}.")
    if prep.get("heterogens_kept"):
        out.append(f"Other heterogens kept: {_counts(prep['heterogens_kept'])}.")
    missing = prep.get("missing_atoms", {})
    if missing.get("count"):
        shown = "; ".join(f"{r['residue']}: {' '.join(r['atoms'])}" for r in missing["residues"][:20])
        more = f"; … {len(missing['residues']) - 20} more residues" if len(missing["residues"]) > 20 else ""
        out.append(f"Missing heavy atoms added: {missing['count']} ({shown}{more}).")
    else:
        out.append("Missing heavy atoms: none.")
    if "hydrogens_added" in prep:
        out.append(f"Hydrogens added at pH {prep['ph']:g}: {prep['hydrogens_added']}.")
    proton = prep.get("protonation", {})
    if proton.get("counts"):
        states = "; ".join(f"{kind}: {', '.join(f'{n} {s}' for s, n in c.items())}" for kind, c in proton["counts"].items())
        out.append(f"Protonation states: {states}.")
        odd = [f"{r['residue']} {r['state']}" for r in proton.get("residues", [])]
        if odd:
            out.append(f"Residue states: {', '.join(odd[:40])}{' …' if len(odd) > 40 else ''}.")
    if "net_charge_e" in prep:
        charge = prep["net_charge_e"]
        out.append(f"Net charge of the solute: {charge:+g} e." if charge else "Net charge of the solute: 0 e.")
    solvent = prep.get("solvent")
    if solvent:
        ions = _counts(solvent["ions"]) or "none"
        box = " × ".join(f"{x:g}" for x in prep.get("box_nm") or [])
        out.append(f"Solvent added: {solvent['waters']} waters, ions {ions}; box {box} nm.")
    return out
