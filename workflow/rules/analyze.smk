rule analyze:
    input:
        topology=rules.setup.output.topology,
        segments=lambda wc: [f for pairs in pulled_segments(wc.system).values() for pair in pairs for f in pair],
        decisions=lambda wc: decision_files(wc.system),
    output:
        timeseries=ANALYSIS + "/timeseries.csv",
        energies=ANALYSIS + "/energies.csv",
        summary=ANALYSIS + "/summary.json",
        rmsd=ANALYSIS + "/rmsd.png",
        rg=ANALYSIS + "/rg.png",
        energy=ANALYSIS + "/energy.png",
        temperature=ANALYSIS + "/temperature.png",
        provenance=ANALYSIS + "/provenance.json",
    params:
        # counted from the input list: params must not ask the convergence checkpoints themselves
        segments=lambda wc, input: pulled_segments(
            wc.system, len(input.segments) // (2 * SYSTEMS[wc.system].replicas)
        ),
    log:
        LOGS + "/analyze/{system}.log",
    script:
        "../scripts/analyze.py"


rule report:
    input:
        setup=expand(rules.setup.output.summary, system=SYSTEMS),
        analysis=expand(rules.analyze.output.summary, system=SYSTEMS),
    output:
        html=RESULTS + "/report.html",
        provenance=RESULTS + "/report.provenance.json",
    params:
        systems=[
            {k: getattr(s, k) for k in ("name", "structure", "forcefield", "solvent", "temperature_k",
                                        "replicas", "length_ps", "segments")}
            for s in SYSTEMS.values()
        ],
    log:
        LOGS + "/report.log",
    script:
        "../scripts/report.py"
