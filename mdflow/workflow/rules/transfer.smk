rule push:
    input:
        system=rules.setup.output.system,
        topology=rules.setup.output.topology,
        state=rules.setup.output.state,
    output:
        system=STAGED + "/system.xml",
        topology=STAGED + "/topology.pdb",
        state=STAGED + "/minimized.xml",
        manifest=STAGED + "/manifest.json",
    log:
        LOGS + "/push/{system}.log",
    script:
        "../scripts/push.py"


rule pull:
    input:
        dcd=SEGMENT + ".dcd",
        csv=SEGMENT + ".csv",
        manifest=SEGMENT + ".json",
        provenance=SEGMENT + ".provenance.json",
    output:
        dcd=PULLED + ".dcd",
        csv=PULLED + ".csv",
        manifest=PULLED + ".json",
        provenance=PULLED + ".provenance.json",
    log:
        LOGS + "/pull/{system}/rep{replica}/seg{segment}.log",
    script:
        "../scripts/pull.py"
