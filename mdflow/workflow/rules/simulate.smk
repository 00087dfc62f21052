rule simulate:
    input:
        unpack(segment_start),
        system=rules.push.output.system,
        topology=rules.push.output.topology,
        manifest=rules.push.output.manifest,
    output:
        dcd=f"{SEGMENT}.dcd",
        csv=f"{SEGMENT}.csv",
        state=f"{SEGMENT}.state.xml",
        manifest=f"{SEGMENT}.json",
        provenance=f"{SEGMENT}.provenance.json",
    params:
        temperature_k=system_param("temperature_k"),
        seed=system_param("seed"),
        steps=system_param("steps_per_segment"),
        timestep_fs=campaign.settings["timestep_fs"],
        friction_per_ps=campaign.settings["friction_per_ps"],
        velocity_seed_offset=campaign.settings["velocity_seed_offset"],
        report_interval=campaign.report_interval_steps,
        pressure_bar=production_pressure_of,
        after_equilibration=continues_equilibration,
    threads: campaign.settings["threads"]
    resources:
        gpus=campaign.settings["gpus_per_simulation"],  # asked for only where the site has GPUs
    retries: SIMULATION_RETRIES
    log:
        f"{LOGS}/simulate/{{system}}/rep{{replica}}/seg{{segment}}.log",
    script:
        "../scripts/simulate.py"
