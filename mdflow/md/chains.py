"""Carrying out the gap decisions of mdflow.md.gaps on a PDBFixer: which loops it builds, and
splitting a chain at a capped gap (OpenMM's PDB reader bonded across it)."""

from openmm import app

from mdflow.md.gaps import action


def treat_gaps(fixer, found: list, policy: str) -> None:
    """Set fixer.missingResidues to the loops to build; for capped gaps split the chain there and
    ask for NME after the piece before the gap and ACE before the piece after it."""
    todo = {(g.chain_index, g.index): action(g, policy) for g in found}
    cuts = {key for key, what in todo.items() if what == "cap"}
    place, sizes = split_chains(fixer, cuts) if cuts else ((lambda c, i: (c, i)), None)
    missing = {place(*key): list(g.residues) for g in found
               for key in [(g.chain_index, g.index)] if todo[key] == "model"}
    for c, i in cuts:
        piece, _ = place(c, i)  # the piece that starts at the cut
        missing[(piece - 1, sizes[piece - 1])] = ["NME"]
        missing[(piece, 0)] = ["ACE"]
    fixer.missingResidues = missing


def split_chains(fixer, cuts: set):
    """Start a new chain (same id) at each (chain index, residue index) in `cuts`, dropping the
    bonds across; atom order and positions are unchanged. Returns (old (chain, index) -> new,
    residues per new chain)."""
    topology = app.Topology()
    topology.setPeriodicBoxVectors(fixer.topology.getPeriodicBoxVectors())
    mapping, atoms, sizes = {}, {}, []
    for chain in fixer.topology.chains():
        start = 0
        for index, residue in enumerate(chain.residues()):
            if index == 0 or (chain.index, index) in cuts:
                new_chain, start = topology.addChain(chain.id), index
                sizes.append(0)
            mapping[(chain.index, index)] = (new_chain.index, index - start)
            sizes[-1] += 1
            new_residue = topology.addResidue(residue.name, new_chain, residue.id, residue.insertionCode)
            for atom in residue.atoms():
                atoms[atom] = topology.addAtom(atom.name, atom.element, new_residue, atom.id, atom.formalCharge)
    for bond in fixer.topology.bonds():
        a, b = atoms[bond[0]], atoms[bond[1]]
        if bond[0].residue.chain is bond[1].residue.chain and a.residue.chain is not b.residue.chain:
            continue  # the bond PDB reading made across the gap
        topology.addBond(a, b, bond.type, bond.order)
    fixer.topology = topology
    return (lambda c, i: mapping[(c, i)]), sizes
