# Helpers shared by the .smk files: the campaign's file layout and the functions that compute inputs
# and params. The other .smk files hold only rules (snakemake --lint) and use nothing else.
#
# RESULTS is the campaign's results directory (config key `results`); SCRATCH is its directory in the
# site's work directory (cluster scratch; a local directory under the local profile): <workdir>/<campaign>;
# LOGS is logs/<campaign>. Two campaigns share no file.
import json

from snakemake.exceptions import IncompleteCheckpointException

from mdflow.layout import SEGMENT_STEM, STAGE_STEM, replica_dir, segment_id, stage_id
from mdflow.md.convergence import compared_segments
from mdflow.protocol import production_pressure, stages_for

SETUP = f"{RESULTS}/{{system}}/setup"
STAGED = f"{SCRATCH}/{{system}}/input"
SEGMENT = f"{replica_dir(SCRATCH, '{system}', '{replica}')}/{SEGMENT_STEM}"
PULLED = f"{replica_dir(RESULTS, '{system}', '{replica}')}/{SEGMENT_STEM}"
STAGE = f"{replica_dir(SCRATCH, '{system}', '{replica}')}/{STAGE_STEM}"
PULLED_STAGE = f"{replica_dir(RESULTS, '{system}', '{replica}')}/{STAGE_STEM}"
ANALYSIS = f"{RESULTS}/{{system}}/analysis"
CONVERGENCE = f"{RESULTS}/{{system}}/convergence"
DECISION = f"{CONVERGENCE}/after_seg{{segment}}.json"


def system_param(name):
    """An input/param function: the sheet's value `name` for the job's system."""
    def value(wc):
        return getattr(SYSTEMS[wc.system], name)

    value.__name__ = f"system_{name}"
    return value


# --- segments ------------------------------------------------------------------------------------

def segment_ids(system, count=None):
    """Ids of the first `count` segments; by default of all segments `system` runs (for adaptive
    systems that depends on the convergence checkpoints: segment_count)."""
    return [segment_id(k) for k in range(segment_count(system) if count is None else count)]


def pulled_pairs(system, ids):
    """{replica: [(dcd, csv), ...]} of the segments `ids` of every replica of `system`."""
    return {
        str(r): [
            (f"{PULLED.format(system=system, replica=r, segment=k)}.dcd",
             f"{PULLED.format(system=system, replica=r, segment=k)}.csv")
            for k in ids
        ]
        for r in range(SYSTEMS[system].replicas)
    }


def pulled_segments(system, count=None):
    """{replica: [(dcd, csv), ...]} for every segment (or the first `count`) of every replica of `system`."""
    return pulled_pairs(system, segment_ids(system, count))


def flat_files(pairs_by_replica):
    return [f for pairs in pairs_by_replica.values() for pair in pairs for f in pair]


def segment_start(wc):
    """Segment 0 starts from the last equilibration stage's final state (or, without stages, from the
    staged minimized state), segment k from segment k-1's final state."""
    k = int(wc.segment)
    if k == 0 and last_stage(wc.system):
        stage = last_stage(wc.system).format(replica=wc.replica)
        return {"start_state": f"{stage}.state.xml", "start_manifest": f"{stage}.json"}
    if k == 0:
        return {"start_state": rules.push.output.state, "start_manifest": rules.push.output.manifest}
    previous = SEGMENT.format(system="{system}", replica="{replica}", segment=segment_id(k - 1))
    return {"start_state": f"{previous}.state.xml", "start_manifest": f"{previous}.json"}


def production_pressure_of(wc):
    return production_pressure(campaign.settings, SYSTEMS[wc.system].solvent)


def continues_equilibration(wc):
    return int(wc.segment) == 0 and last_stage(wc.system) is not None


# --- equilibration stages (mdflow/protocol.py) ---------------------------------------------------

def system_stages(system):
    s = SYSTEMS[system]
    return stages_for(campaign.settings, system, s.solvent, s.temperature_k, campaign.report_interval_steps)


def stage_param(name):
    """A param function: attribute `name` of the job's stage."""
    def value(wc):
        return getattr(system_stages(wc.system)[int(wc.stage)], name)

    value.__name__ = f"stage_{name}"
    return value


def stage_start(wc):
    """Stage 0 starts from the staged minimized state, stage k from stage k-1's final state."""
    k = int(wc.stage)
    if k == 0:
        return {"start_state": rules.push.output.state, "start_manifest": rules.push.output.manifest}
    previous = STAGE.format(system="{system}", replica="{replica}", stage=stage_id(k - 1))
    return {"start_state": f"{previous}.state.xml", "start_manifest": f"{previous}.json"}


def last_stage(system):
    """Path pattern (replica left open) of a system's last stage, or None without stages."""
    stages = system_stages(system)
    return STAGE.format(system=system, replica="{replica}", stage=stages[-1].id) if stages else None


def pulled_stages(system):
    """{replica: [(name, csv), ...]} of a system's pulled stage energy tables."""
    return {str(r): [(s.name, f"{PULLED_STAGE.format(system=system, replica=r, stage=s.id)}.csv")
                     for s in system_stages(system)]
            for r in range(SYSTEMS[system].replicas)}


# --- adaptive continuation (the converge checkpoint) ---------------------------------------------

def decision_after(system, last):
    """The decision file after segment `last` once Snakemake knows it is final, else None (not made yet).

    A decision file that exists but is not confirmed yet raises IncompleteCheckpointException, so that
    Snakemake re-decides it if needed and then re-evaluates the job asking. One that does not exist is
    returned as None instead: the caller names it as a plain input, since Snakemake does not run a
    missing checkpoint whose dependant's outputs already exist (say, after max_length_ps was raised).
    """
    try:
        return checkpoints.converge.get(system=system, segment=segment_id(last)).output[0]
    except IncompleteCheckpointException:
        if Path(DECISION.format(system=system, segment=segment_id(last))).exists():
            raise
        return None


def adaptive_decisions(system):
    """(number of segments `system` runs as far as decided, decision files that number rests on).
    While the decision after the last of them is still to be made, its file is the last one listed,
    and the job asking is re-evaluated once the converge checkpoint has made it."""
    s = SYSTEMS[system]
    count, files = s.segments, []
    if not s.adaptive:
        return count, files
    while True:
        decision = decision_after(system, count - 1)
        if decision is None:
            return count, files + [DECISION.format(system=system, segment=segment_id(count - 1))]
        files.append(decision)
        if count >= s.max_segments or not json.loads(Path(decision).read_text())["continue"]:
            return count, files
        count += 1


def segment_count(system):
    return adaptive_decisions(system)[0]


def compared_pairs(wc):
    """{replica: [(dcd, csv), ...]} of the segments the decision after segment `wc.segment` compares."""
    previous, latest = compared_segments(int(wc.segment), SYSTEMS[wc.system].converge_window)
    return pulled_pairs(wc.system, [segment_id(k) for k in previous + latest])


def compared_files(wc):
    return flat_files(compared_pairs(wc))


# --- analysis ------------------------------------------------------------------------------------

def analyzed_segments(wc):
    return flat_files(pulled_segments(wc.system))


def decision_files(wc):
    return adaptive_decisions(wc.system)[1]


def stage_tables(wc):
    return [csv for pairs in pulled_stages(wc.system).values() for _, csv in pairs]


def stage_tables_by_replica(wc):
    return pulled_stages(wc.system)


def protocol_summary(wc):
    return {
        "stages": [s.describe(campaign.settings["timestep_fs"]) for s in system_stages(wc.system)],
        "production": "NPT" if production_pressure_of(wc) else "NVT",
    }


def segments_analyzed(wc, input):
    """Counted from the input list: params must not ask the convergence checkpoints themselves."""
    return pulled_segments(wc.system, len(input.segments) // (2 * SYSTEMS[wc.system].replicas))


# One retry always (a killed or timed-out segment resumes from its checkpoint), more when the profile
# asks; only the controller retries: inside a batch job (remote mode) a retry would run again in the
# same allocation, behind the controller's back. (execution_settings is None in a dry-run.)
SIMULATION_RETRIES = max(1, getattr(workflow.execution_settings, "retries", 0)) if workflow.is_main_process else 0
