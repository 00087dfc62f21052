rule push:
    input:
        system=rules.setup.output.system,
        topology=rules.setup.output.topology,
        state=rules.setup.output.state,
    output:
        system=f"{STAGED}/system.xml",
        topology=f"{STAGED}/topology.pdb",
        state=f"{STAGED}/minimized.xml",
        manifest=f"{STAGED}/manifest.json",
    log:
        f"{LOGS}/push/{{system}}.log",
    script:
        "../scripts/push.py"


rule pull:
    input:
        dcd=f"{SEGMENT}.dcd",
        csv=f"{SEGMENT}.csv",
        manifest=f"{SEGMENT}.json",
        provenance=f"{SEGMENT}.provenance.json",
    output:
        dcd=f"{PULLED}.dcd",
        csv=f"{PULLED}.csv",
        manifest=f"{PULLED}.json",
        provenance=f"{PULLED}.provenance.json",
    log:
        f"{LOGS}/pull/{{system}}/rep{{replica}}/seg{{segment}}.log",
    script:
        "../scripts/pull.py"
