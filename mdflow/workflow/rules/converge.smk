# Adaptive continuation. For a system with max_length_ps > length_ps the checkpoint `converge` runs
# after segment length_ps/segment_ps - 1 and after every segment added since: its decision (drift of
# the metric over the last segments, mdflow/md/convergence.py) says whether one more segment is
# scheduled, up to max_length_ps. Systems without max_length_ps never touch it. The decision chain is
# read in common.smk (adaptive_decisions).


checkpoint converge:
    input:
        topology=rules.setup.output.topology,
        segments=compared_files,
    output:
        decision=DECISION,
        provenance=f"{CONVERGENCE}/after_seg{{segment}}.provenance.json",
    params:
        segments=compared_pairs,
        metric=system_param("converge_metric"),
        tolerance=system_param("converge_tolerance"),
        window_segments=system_param("converge_window"),
        max_segments=system_param("max_segments"),
    log:
        f"{LOGS}/converge/{{system}}/after_seg{{segment}}.log",
    script:
        "../scripts/converge.py"
