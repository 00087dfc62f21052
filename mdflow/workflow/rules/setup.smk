rule setup:
    input:
        structure=lambda wc: SYSTEMS[wc.system].structure,
    output:
        system=SETUP + "/system.xml",
        topology=SETUP + "/topology.pdb",
        state=SETUP + "/minimized.xml",
        summary=SETUP + "/setup.json",
        provenance=SETUP + "/provenance.json",
    params:
        forcefield=lambda wc: SYSTEMS[wc.system].forcefield,
        solvent=lambda wc: SYSTEMS[wc.system].solvent,
        ph=lambda wc: SYSTEMS[wc.system].ph,
        seed=lambda wc: SYSTEMS[wc.system].seed,
        gaps=lambda wc: SYSTEMS[wc.system].gaps,
        padding_nm=campaign.settings["padding_nm"],
        ionic_strength_molar=campaign.settings["ionic_strength_molar"],
        minimize_iterations=campaign.settings["minimize_iterations"],
        hydrogen_mass_amu=campaign.settings["hydrogen_mass_amu"],
    threads: campaign.settings["threads"]
    log:
        LOGS + "/setup/{system}.log",
    script:
        "../scripts/setup.py"
