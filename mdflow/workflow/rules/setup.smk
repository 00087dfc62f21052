rule setup:
    input:
        structure=system_param("structure"),
    output:
        system=f"{SETUP}/system.xml",
        topology=f"{SETUP}/topology.pdb",
        state=f"{SETUP}/minimized.xml",
        summary=f"{SETUP}/setup.json",
        provenance=f"{SETUP}/provenance.json",
    params:
        forcefield=system_param("forcefield"),
        solvent=system_param("solvent"),
        ph=system_param("ph"),
        seed=system_param("seed"),
        gaps=system_param("gaps"),
        padding_nm=campaign.settings["padding_nm"],
        ionic_strength_molar=campaign.settings["ionic_strength_molar"],
        minimize_iterations=campaign.settings["minimize_iterations"],
        hydrogen_mass_amu=campaign.settings["hydrogen_mass_amu"],
    threads: campaign.settings["threads"]
    log:
        f"{LOGS}/setup/{{system}}.log",
    script:
        "../scripts/setup.py"
