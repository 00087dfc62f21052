# Equilibration stages (mdflow/protocol.py): every replica runs its system's stages in order before
# production; each stage is a restartable segment (mdflow/md/simulate.py with mdflow/md/stages.py), and
# production segment 0 continues from the last stage's positions, velocities and box. Stage outputs are
# pulled beside the segments (results/<system>/rep<k>/eq<NN>.*) for the report.
from mdflow.protocol import production_pressure, stages_for

STAGE = SCRATCH + "/{system}/rep{replica}/eq{stage}"
PULLED_STAGE = RESULTS + "/{system}/rep{replica}/eq{stage}"


def system_stages(system):
    s = SYSTEMS[system]
    return stages_for(campaign.settings, system, s.solvent, s.temperature_k, campaign.report_interval_steps)


def stage_of(wc):
    return system_stages(wc.system)[int(wc.stage)]


def stage_start(wc):
    """Stage 0 starts from the staged minimized state, stage k from stage k-1's final state."""
    k = int(wc.stage)
    if k == 0:
        return {"start_state": rules.push.output.state, "start_manifest": rules.push.output.manifest}
    previous = STAGE.format(system="{system}", replica="{replica}", stage=f"{k - 1:02d}")
    return {"start_state": previous + ".state.xml", "start_manifest": previous + ".json"}


def last_stage(system):
    """Path pattern (replica left open) of a system's last stage, or None without stages."""
    stages = system_stages(system)
    return STAGE.format(system=system, replica="{replica}", stage=stages[-1].id) if stages else None


def pulled_stages(system):
    """{replica: [(name, csv), ...]} of a system's pulled stage energy tables."""
    return {str(r): [(s.name, PULLED_STAGE.format(system=system, replica=r, stage=s.id) + ".csv")
                     for s in system_stages(system)]
            for r in range(SYSTEMS[system].replicas)}


rule equilibrate:
    input:
        unpack(stage_start),
        system=rules.push.output.system,
        topology=rules.push.output.topology,
        manifest=rules.push.output.manifest,
    output:
        dcd=STAGE + ".dcd",
        csv=STAGE + ".csv",
        state=STAGE + ".state.xml",
        manifest=STAGE + ".json",
        provenance=STAGE + ".provenance.json",
    params:
        name=lambda wc: stage_of(wc).name,
        steps=lambda wc: stage_of(wc).steps,
        restraint_kj_mol_nm2=lambda wc: stage_of(wc).restraint_kj_mol_nm2,
        heat_from_k=lambda wc: stage_of(wc).heat_from_k,
        pressure_bar=lambda wc: stage_of(wc).pressure_bar,
        temperature_k=system_param("temperature_k"),
        seed=system_param("seed"),
        timestep_fs=campaign.settings["timestep_fs"],
        friction_per_ps=campaign.settings["friction_per_ps"],
        velocity_seed_offset=campaign.settings["velocity_seed_offset"],
        report_interval=campaign.report_interval_steps,
    threads: campaign.settings["threads"]
    resources:
        gpus=campaign.settings["gpus_per_simulation"],
    retries: max(1, getattr(workflow.execution_settings, "retries", 0)) if workflow.is_main_process else 0
    log:
        LOGS + "/equilibrate/{system}/rep{replica}/eq{stage}.log",
    script:
        "../scripts/equilibrate.py"


rule pull_stage:
    input:
        dcd=STAGE + ".dcd",
        csv=STAGE + ".csv",
        manifest=STAGE + ".json",
        provenance=STAGE + ".provenance.json",
    output:
        dcd=PULLED_STAGE + ".dcd",
        csv=PULLED_STAGE + ".csv",
        manifest=PULLED_STAGE + ".json",
        provenance=PULLED_STAGE + ".provenance.json",
    log:
        LOGS + "/pull/{system}/rep{replica}/eq{stage}.log",
    script:
        "../scripts/pull.py"
