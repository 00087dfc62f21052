"""Named force-field combinations a systems sheet may ask for.

Each name maps to the OpenMM XML files for the protein and for each solvent model. For implicit
solvent the amber99 family uses `amber99_obc.xml`, which builds OpenMM's native GBSAOBCForce:
measured ~6x faster on CPU than the CustomGBForce that `implicit/obc2.xml` builds.
"""

FORCEFIELDS = {
    "amber14": {
        "protein": ["amber14-all.xml"],
        "explicit": ["amber14/tip3pfb.xml"],
        "implicit": ["implicit/obc2.xml"],
        "water_model": "tip3p",
    },
    "amber99sbildn": {
        "protein": ["amber99sbildn.xml"],
        "explicit": ["tip3p.xml"],
        "implicit": ["amber99_obc.xml"],
        "water_model": "tip3p",
    },
    "charmm36": {
        "protein": ["charmm36.xml"],
        "explicit": ["charmm36/water.xml"],
        "water_model": "tip3p",  # CHARMM TIP3P (charmm36/water.xml) uses the TIP3P box; "charmm" is no Modeller model
        # CHARMM caps are patches of the terminal residue (ACE, CT3); OpenMM finds no template for a
        # separate ACE or NME residue, and two ambiguous ones for ACE-ALA-NME (measured, OpenMM 8.6.1).
        "cap_residues": False,
    },
}

SOLVENTS = ("implicit", "explicit")


def forcefield_files(name: str, solvent: str) -> list[str]:
    """The XML files for force field `name` in `solvent`; KeyError if the pair is unknown."""
    entry = FORCEFIELDS[name]
    return entry["protein"] + entry[solvent]


def caps_supported(name: str) -> bool:
    """Whether force field `name` parameterizes separate ACE/NME cap residues."""
    return FORCEFIELDS.get(name, {}).get("cap_residues", True)


def supports(name: str, solvent: str) -> bool:
    return name in FORCEFIELDS and solvent in FORCEFIELDS[name]
