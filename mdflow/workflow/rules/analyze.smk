rule analyze:
    input:
        topology=rules.setup.output.topology,
        segments=analyzed_segments,
        decisions=decision_files,
        stages=stage_tables,
    output:
        timeseries=f"{ANALYSIS}/timeseries.csv",
        energies=f"{ANALYSIS}/energies.csv",
        summary=f"{ANALYSIS}/summary.json",
        rmsd=f"{ANALYSIS}/rmsd.png",
        rg=f"{ANALYSIS}/rg.png",
        energy=f"{ANALYSIS}/energy.png",
        temperature=f"{ANALYSIS}/temperature.png",
        density=f"{ANALYSIS}/density.png",
        rmsf=f"{ANALYSIS}/rmsf.png",
        secondary=f"{ANALYSIS}/secondary.png",
        rmsf_table=f"{ANALYSIS}/rmsf.csv",
        secondary_table=f"{ANALYSIS}/secondary.csv",
        provenance=f"{ANALYSIS}/provenance.json",
    params:
        temperature_k=system_param("temperature_k"),
        stages=stage_tables_by_replica,
        protocol=protocol_summary,
        segments=segments_analyzed,
    log:
        f"{LOGS}/analyze/{{system}}.log",
    script:
        "../scripts/analyze.py"


rule report:
    input:
        setup=expand(rules.setup.output.summary, system=SYSTEMS),
        analysis=expand(rules.analyze.output.summary, system=SYSTEMS),
    output:
        html=f"{RESULTS}/report.html",
        provenance=f"{RESULTS}/report.provenance.json",
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
        f"{LOGS}/report.log",
    script:
        "../scripts/report.py"
