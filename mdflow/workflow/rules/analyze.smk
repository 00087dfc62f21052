rule analyze:
    input:
        topology=rules.setup.output.topology,
        segments=lambda wc: [f for pairs in pulled_segments(wc.system).values() for pair in pairs for f in pair],
        decisions=lambda wc: decision_files(wc.system),
        stages=lambda wc: [csv for pairs in pulled_stages(wc.system).values() for _, csv in pairs],
    output:
        timeseries=ANALYSIS + "/timeseries.csv",
        energies=ANALYSIS + "/energies.csv",
        summary=ANALYSIS + "/summary.json",
        rmsd=ANALYSIS + "/rmsd.png",
        rg=ANALYSIS + "/rg.png",
        energy=ANALYSIS + "/energy.png",
        temperature=ANALYSIS + "/temperature.png",
        density=ANALYSIS + "/density.png",
        rmsf=ANALYSIS + "/rmsf.png",
        secondary=ANALYSIS + "/secondary.png",
        rmsf_table=ANALYSIS + "/rmsf.csv",
        secondary_table=ANALYSIS + "/secondary.csv",
        provenance=ANALYSIS + "/provenance.json",
    params:
        temperature_k=lambda wc: SYSTEMS[wc.system].temperature_k,
        stages=lambda wc: pulled_stages(wc.system),
        protocol=lambda wc: {
            "stages": [s.describe(campaign.settings["timestep_fs"]) for s in system_stages(wc.system)],
            "production": "NPT" if production_pressure(campaign.settings, SYSTEMS[wc.system].solvent) else "NVT",
        },
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
                                        "replicas", "length_ps", "segments", "ph")}
            for s in SYSTEMS.values()
        ],
        settings={k: campaign.settings.get(k) for k in (
            "timestep_fs", "friction_per_ps", "report_interval_ps", "padding_nm", "ionic_strength_molar",
            "minimize_iterations", "pressure_bar")},
    log:
        LOGS + "/report.log",
    script:
        "../scripts/report.py"
