# Adaptive continuation. For a system with max_length_ps > length_ps the checkpoint `converge` runs
# after segment length_ps/segment_ps - 1 and after every segment added since: its decision (drift of
# the metric over the last segments, mdflow/md/convergence.py) says whether one more segment is
# scheduled, up to max_length_ps. Systems without max_length_ps never touch it.
import json

from snakemake.exceptions import IncompleteCheckpointException

from mdflow.md.convergence import compared_segments

DECISION = CONVERGENCE + "/after_seg{segment}.json"


def decision_after(system, last):
    """The decision file after segment `last` once Snakemake knows it is final, else None (not made yet).

    A decision file that exists but is not confirmed yet raises IncompleteCheckpointException, so that
    Snakemake re-decides it if needed and then re-evaluates the job asking. One that does not exist is
    returned as None instead: the caller names it as a plain input, since Snakemake does not run a
    missing checkpoint whose dependant's outputs already exist (say, after max_length_ps was raised).
    """
    try:
        return checkpoints.converge.get(system=system, segment=f"{last:03d}").output[0]
    except IncompleteCheckpointException:
        if Path(DECISION.format(system=system, segment=f"{last:03d}")).exists():
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
            return count, files + [DECISION.format(system=system, segment=f"{count - 1:03d}")]
        files.append(decision)
        if count >= s.max_segments or not json.loads(Path(decision).read_text())["continue"]:
            return count, files
        count += 1


def segment_count(system):
    return adaptive_decisions(system)[0]


def decision_files(system):
    return adaptive_decisions(system)[1]


def compared_pairs(wc):
    """{replica: [(dcd, csv), ...]} of the segments the decision after segment `wc.segment` compares."""
    previous, latest = compared_segments(int(wc.segment), SYSTEMS[wc.system].converge_window)
    return pulled_pairs(wc.system, [f"{k:03d}" for k in previous + latest])


checkpoint converge:
    input:
        topology=rules.setup.output.topology,
        segments=lambda wc: [f for pairs in compared_pairs(wc).values() for pair in pairs for f in pair],
    output:
        decision=DECISION,
        provenance=CONVERGENCE + "/after_seg{segment}.provenance.json",
    params:
        segments=compared_pairs,
        metric=system_param("converge_metric"),
        tolerance=system_param("converge_tolerance"),
        window_segments=system_param("converge_window"),
        max_segments=system_param("max_segments"),
    log:
        LOGS + "/converge/{system}/after_seg{segment}.log",
    script:
        "../scripts/converge.py"
