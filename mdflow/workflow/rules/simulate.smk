def start_state(wc):
    """Segment 0 starts from the last equilibration stage's final state (or, without stages, from the
    staged minimized state), segment k from segment k-1's final state."""
    k = int(wc.segment)
    if k == 0 and last_stage(wc.system):
        stage = last_stage(wc.system).format(replica=wc.replica)
        return {"start_state": stage + ".state.xml", "start_manifest": stage + ".json"}
    if k == 0:
        return {"start_state": rules.push.output.state, "start_manifest": rules.push.output.manifest}
    previous = SEGMENT.format(system="{system}", replica="{replica}", segment=f"{k - 1:03d}")
    return {"start_state": previous + ".state.xml", "start_manifest": previous + ".json"}


def system_param(name):
    return lambda wc: getattr(SYSTEMS[wc.system], name)


rule simulate:
    input:
        unpack(start_state),
        system=rules.push.output.system,
        topology=rules.push.output.topology,
        manifest=rules.push.output.manifest,
    output:
        dcd=SEGMENT + ".dcd",
        csv=SEGMENT + ".csv",
        state=SEGMENT + ".state.xml",
        manifest=SEGMENT + ".json",
        provenance=SEGMENT + ".provenance.json",
    params:
        temperature_k=system_param("temperature_k"),
        seed=system_param("seed"),
        steps=system_param("steps_per_segment"),
        timestep_fs=campaign.settings["timestep_fs"],
        friction_per_ps=campaign.settings["friction_per_ps"],
        velocity_seed_offset=campaign.settings["velocity_seed_offset"],
        report_interval=campaign.report_interval_steps,
        pressure_bar=lambda wc: production_pressure(campaign.settings, SYSTEMS[wc.system].solvent),
        after_equilibration=lambda wc: int(wc.segment) == 0 and last_stage(wc.system) is not None,
    threads: campaign.settings["threads"]
    resources:
        gpus=campaign.settings["gpus_per_simulation"],  # asked for only where the site has GPUs
    # A killed or timed-out segment resumes from its checkpoint, so one retry is cheap and always
    # right, even where the profile retries nothing (local); more when the profile asks for more.
    # Only the controller retries: inside a batch job (remote mode) a retry would run again in the
    # same allocation, behind the controller's back. (execution_settings is None in a dry-run.)
    retries: max(1, getattr(workflow.execution_settings, "retries", 0)) if workflow.is_main_process else 0
    log:
        LOGS + "/simulate/{system}/rep{replica}/seg{segment}.log",
    script:
        "../scripts/simulate.py"
