"""Chain gaps: residues in a chain's SEQRES sequence that have no coordinates, and chain breaks.

OpenMM's PDB reader bonds consecutive residues of a chain whatever their distance, so a gap that is
left alone is closed by one stretched peptide bond (1BHL: 16 missing residues, 19.4 Å pulled to
1.4 Å by minimization). Setup therefore decides per gap, and the systems sheet's `gaps` column says
how for long ones:

- up to GAP_LIMIT missing residues: always modelled (PDBFixer builds the short loop);
- longer: `refuse` (the default; one line naming the gap and this column), `model` (PDBFixer
  builds the loop) or `cap` (no residues invented: the chain is split at the gap, ACE caps the
  piece after it and NME the piece before it).
Missing residues before a chain's first or after its last residue are never modelled (the chain
keeps its observed termini); they are recorded. A break without SEQRES residues (consecutive
residues whose C and N are more than BREAK_NM apart: a file without SEQRES, or one that hides the
gap) has no known residues to build: it is refused unless the column says `cap`.

`gaps_in_pdb` reads the SEQRES and ATOM/HETATM records the way PDBFixer's findMissingResidues
does, without importing OpenMM, so the campaign check refuses a gap before any job runs; setup
asks PDBFixer itself (`gaps_from_fixer`) and applies the same rules.
"""

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from mdflow.errors import MdflowError

GAP_LIMIT = 3  # missing residues a gap may have and still be modelled without being asked to
POLICIES = ("refuse", "model", "cap")
BREAK_NM = 0.25  # C(i)-N(i+1) farther apart than this is no peptide bond (1.33 Å), but a break
BACKBONE = {"C": 0, "N": 1, "CA": 2}  # atom name -> slot in a residue's backbone entry
COLUMN = "gaps"


@dataclass(frozen=True)
class Gap:
    chain: str            # chain id as in the file
    chain_index: int      # PDBFixer's chain index (chains split at TER and chain-id changes)
    index: int            # where the residues would be inserted: residue index within the chain
    after: str | None     # "GLN 137", the observed residue before the gap (None: N-terminal)
    before: str | None    # "MET 154", the observed residue after it (None: C-terminal)
    residues: tuple | None  # the missing residue names from SEQRES; None: a break with none known
    break_nm: float | None = None  # C-N distance across a break

    @property
    def length(self) -> int | None:
        return None if self.residues is None else len(self.residues)

    @property
    def terminal(self) -> bool:
        return self.after is None or self.before is None

    @property
    def where(self) -> str:
        if self.after is None and self.before is None:
            return f"chain {self.chain}"
        if self.after is None:
            return f"chain {self.chain} before {self.before} (N-terminal)"
        if self.before is None:
            return f"chain {self.chain} after {self.after} (C-terminal)"
        return f"chain {self.chain} between {self.after} and {self.before}"


def action(gap: Gap, policy: str) -> str:
    """What setup does with `gap` under sheet policy `policy`: 'terminal' (left out), 'model',
    'cap' or 'refuse'."""
    if gap.terminal:
        return "terminal"
    if gap.residues is None:
        return "cap" if policy == "cap" else "refuse"
    if gap.length <= GAP_LIMIT:
        return "model"
    return policy


ACTION_WORDS = {
    "terminal": "not modelled (chain terminus kept as observed)",
    "model": "modelled by PDBFixer",
    "cap": "not modelled: chain split, capped with NME and ACE",
    "refuse": "refused",
}


def refusal(display: str, gap: Gap) -> str:
    """The one-line error for a long gap nobody said how to treat."""
    if gap.residues is None:
        return (f"{display}: chain {gap.chain} is broken between {gap.after} and {gap.before} (C to N "
                f"{gap.break_nm * 10:.1f} Å; no SEQRES residues for the gap, so none can be modelled); setup would "
                f"close it with one stretched bond. Set the systems sheet column '{COLUMN}' to 'cap' (split the "
                f"chain there, ACE/NME caps), or add the chain's SEQRES records so that 'model' can build the "
                f"missing residues")
    names = " ".join(gap.residues) if gap.length <= 6 else f"{' '.join(gap.residues[:3])} … {' '.join(gap.residues[-2:])}"
    return (f"{display}: {gap.length} residues missing in {gap.where} ({names}); setup would close the gap "
            f"with one stretched bond. Gaps of more than {GAP_LIMIT} residues need the systems sheet column "
            f"'{COLUMN}': 'model' (PDBFixer builds the loop) or 'cap' (split the chain there, ACE/NME caps)")


def check(gaps: list, policy: str, display: str) -> None:
    """MdflowError for the first gap `policy` refuses."""
    for gap in gaps:
        if action(gap, policy) == "refuse":
            raise MdflowError(refusal(display, gap))


def record(gaps: list, policy: str) -> list[dict]:
    """setup.json's account of the gaps and what was done with each."""
    return [{"chain": gap.chain, "after": gap.after, "before": gap.before, "length": gap.length,
             "residues": None if gap.residues is None else list(gap.residues),
             **({"break_nm": round(gap.break_nm, 3)} if gap.break_nm is not None else {}),
             "action": action(gap, policy), "done": ACTION_WORDS[action(gap, policy)]} for gap in gaps]


def breaks(chain_ids: list, residue_labels: list, backbone: list, missing: dict) -> list[Gap]:
    """Gaps no SEQRES accounts for: consecutive amino acids of a chain whose C and N (nm; `backbone[c][i]`
    is residue i's (C, N, CA), each None where absent) are more than BREAK_NM apart, where `missing`
    inserts nothing. Residues without CA (caps, ligands, lipids) are not judged."""
    found = []
    for c, residues in enumerate(backbone):
        for i in range(1, len(residues)):
            carbon, nitrogen = residues[i - 1][0], residues[i][1]
            if None in (carbon, nitrogen, residues[i - 1][2], residues[i][2]) or (c, i) in missing:
                continue
            distance = sum((a - b) ** 2 for a, b in zip(carbon, nitrogen)) ** 0.5
            if distance > BREAK_NM:
                found.append(Gap(chain=chain_ids[c] or "-", chain_index=c, index=i, after=residue_labels[c][i - 1],
                                 before=residue_labels[c][i], residues=None, break_nm=round(distance, 4)))
    return found


# ------------------------------------------------------------------ PDBFixer's algorithm on text

def _missing(chains: list, sequences: list) -> dict:
    """PDBFixer.findMissingResidues on plain data. `chains`: [(chain id, [(number, insertion code,
    name)])]; `sequences`: [(chain id, [names])]. Returns {(chain index, insert index): [names]}."""
    with_gaps = {}
    for c, (_, residues) in enumerate(chains):
        if not residues:
            continue
        ids = [number for number, _, _ in residues]
        for i, (_, code, _) in enumerate(residues):
            if code not in ("", " "):
                for j in range(i, len(residues)):
                    ids[j] += 1
        low = min(ids)
        slots = [None] * (max(ids) - low + 1)
        for (_, _, name), number in zip(residues, ids):
            slots[number - low] = name
        with_gaps[c] = slots
    matched = {}
    for chain_id, sequence in sequences:
        for c, (cid, _) in enumerate(chains):
            if cid != chain_id or c not in with_gaps or c in matched:
                continue
            slots = with_gaps[c]
            for offset in range(len(sequence) - len(slots) + 1):
                if all(a == b or b is None for a, b in zip(sequence[offset:], slots)):
                    matched[c] = (sequence, offset)
                    break
            if c in matched:
                break
    missing = {}
    for c, (sequence, offset) in sorted(matched.items()):
        slots, index = with_gaps[c], 0
        for i, name in enumerate(sequence):
            if i < offset or i >= len(slots) + offset or slots[i - offset] is None:
                missing.setdefault((c, index), []).append(name)
            else:
                index += 1
    return missing


def to_gaps(chain_ids: list, residue_labels: list, missing: dict) -> list[Gap]:
    """Gap records from PDBFixer-style `missing` ({(chain index, index): names}); `residue_labels[c]`
    is chain c's observed residues as 'NAME NUMBER'."""
    gaps = []
    for (c, index), names in sorted(missing.items()):
        labels = residue_labels[c]
        gaps.append(Gap(chain=chain_ids[c] or "-", chain_index=c, index=index,
                        after=labels[index - 1] if index > 0 else None,
                        before=labels[index] if index < len(labels) else None, residues=tuple(names)))
    return gaps


def parse_pdb(text: str) -> tuple[list, list]:
    """(chains, sequences, backbone) of a PDB text as PDBFixer sees them: chains split at TER and
    chain-id changes, first model only; backbone[c][i] = residue i's (C, N) positions in nm (None
    where absent, first altloc). ValueError on residue numbers that are not integers."""
    chains, sequences, backbone, current, last = [], {}, [], None, None
    for line in text.splitlines():
        record = line[:6]
        if record == "SEQRES":
            sequences.setdefault(line[11:12], []).extend(line[19:].split())
        elif record in ("ATOM  ", "HETATM"):
            chain_id = line[21:22]
            if current is None or current[0] != chain_id:
                current, last = (chain_id, []), None
                chains.append(current)
                backbone.append([])
            key = (line[22:26].strip(), line[26:27], line[17:20].strip())
            if key != last:
                current[1].append((int(key[0]), key[1], key[2]))
                backbone[-1].append([None, None, None])
                last = key
            slot = BACKBONE.get(line[12:16].strip())
            if slot is not None and backbone[-1][-1][slot] is None:
                backbone[-1][-1][slot] = tuple(float(line[a:a + 8]) / 10 for a in (30, 38, 46))
        elif record.startswith("TER"):
            current, last = None, None
        elif record.startswith("ENDMDL") or record.startswith("END"):
            break
    return chains, list(sequences.items()), backbone


def gaps_in_text(text: str) -> list[Gap]:
    try:
        chains, sequences, backbone = parse_pdb(text)
    except ValueError:  # hybrid-36 or garbled numbers: setup's PDBFixer pass checks instead
        return []
    labels = [[f"{name} {number}{code.strip()}" for number, code, name in residues] for _, residues in chains]
    ids = [cid.strip() for cid, _ in chains]
    missing = _missing(chains, sequences) if sequences else {}
    return _in_order(to_gaps(ids, labels, missing) + breaks(ids, labels, backbone, missing))


def _in_order(gaps: list) -> list[Gap]:
    return sorted(gaps, key=lambda g: (g.chain_index, g.index))


@functools.lru_cache(maxsize=64)
def _gaps_cached(path: str, size: int, mtime_ns: int) -> tuple:
    return tuple(gaps_in_text(Path(path).read_text(errors="replace")))


def gaps_in_pdb(path: Path) -> list[Gap]:
    """The gaps of a PDB file (cached per file version within the process: many rows share one)."""
    stat = os.stat(path)
    return list(_gaps_cached(os.path.abspath(path), stat.st_size, stat.st_mtime_ns))


def check_pdb_gaps(path: Path, policy: str, label: str, display: str, forcefield: str) -> None:
    """The campaign check of one sheet row (`label`): a policy the force field cannot carry out, or a
    long gap the sheet does not say how to treat."""
    from mdflow.md.forcefields import caps_supported

    if policy == "cap" and not caps_supported(forcefield):
        raise MdflowError(f"{label}, column '{COLUMN}': 'cap' does not work with force field {forcefield!r} "
                          f"(it has no separate ACE/NME cap residues); use 'model', or an amber force field")
    check(gaps_in_pdb(path), policy, f"{label}, structure {display}")


def gaps_from_fixer(fixer) -> list[Gap]:
    """Gap records of a PDBFixer after findMissingResidues(), breaks included."""
    chains = list(fixer.topology.chains())
    labels = [[f"{r.name} {r.id}{(r.insertionCode or '').strip()}" for r in chain.residues()] for chain in chains]
    ids = [chain.id for chain in chains]
    backbone = [[tuple(_position(fixer, residue, name) for name in BACKBONE) for residue in chain.residues()]
                for chain in chains]
    return _in_order(to_gaps(ids, labels, fixer.missingResidues) + breaks(ids, labels, backbone, fixer.missingResidues))


def _position(fixer, residue, name: str):
    for atom in residue.atoms():
        if atom.name == name:
            from openmm import unit

            return tuple(fixer.positions[atom.index].value_in_unit(unit.nanometer))
    return None
