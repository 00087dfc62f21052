# Equilibration stages (mdflow/protocol.py): every replica runs its system's stages in order before
# production; each stage is a restartable segment (mdflow/md/simulate.py with mdflow/md/stages.py), and
# production segment 0 continues from the last stage's positions, velocities and box. Stage outputs are
# pulled beside the segments (results/<system>/rep<k>/eq<NN>.*) for the report.


rule equilibrate:
    input:
        unpack(stage_start),
        system=rules.push.output.system,
        topology=rules.push.output.topology,
        manifest=rules.push.output.manifest,
    output:
        dcd=f"{STAGE}.dcd",
        csv=f"{STAGE}.csv",
        state=f"{STAGE}.state.xml",
        manifest=f"{STAGE}.json",
        provenance=f"{STAGE}.provenance.json",
    params:
        name=stage_param("name"),
        steps=stage_param("steps"),
        restraint_kj_mol_nm2=stage_param("restraint_kj_mol_nm2"),
        heat_from_k=stage_param("heat_from_k"),
        pressure_bar=stage_param("pressure_bar"),
        temperature_k=system_param("temperature_k"),
        seed=system_param("seed"),
        timestep_fs=campaign.settings["timestep_fs"],
        friction_per_ps=campaign.settings["friction_per_ps"],
        velocity_seed_offset=campaign.settings["velocity_seed_offset"],
        report_interval=campaign.report_interval_steps,
    threads: campaign.settings["threads"]
    resources:
        gpus=campaign.settings["gpus_per_simulation"],
    retries: SIMULATION_RETRIES
    log:
        f"{LOGS}/equilibrate/{{system}}/rep{{replica}}/eq{{stage}}.log",
    script:
        "../scripts/equilibrate.py"


rule pull_stage:
    input:
        dcd=f"{STAGE}.dcd",
        csv=f"{STAGE}.csv",
        manifest=f"{STAGE}.json",
        provenance=f"{STAGE}.provenance.json",
    output:
        dcd=f"{PULLED_STAGE}.dcd",
        csv=f"{PULLED_STAGE}.csv",
        manifest=f"{PULLED_STAGE}.json",
        provenance=f"{PULLED_STAGE}.provenance.json",
    log:
        f"{LOGS}/pull/{{system}}/rep{{replica}}/eq{{stage}}.log",
    script:
        "../scripts/pull.py"
