"""The campaign's HTML report: a methods section (preparation, model, protocol, software) and a results
summary per system (per-replica means with errors, verdicts on equilibration and sampling, the protocol's
stages, links to the files, plots)."""

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from mdflow.io_atomic import atomic_write_text
from mdflow.md.analyze import JUDGED, PLOTS
from mdflow.md.methods import ANALYSIS, software, system_methods
from mdflow.md.preparation import lines as preparation_lines
from mdflow.paths import TEMPLATE_DIR

EXTRA_PLOTS = ("rmsf", "secondary")


def plus_minus(mean: float, se: float) -> str:
    """'-20800 ± 12', '300.2 ± 0.8': the error to two significant digits and the mean to the same place."""
    if not se > 0:
        return f"{mean:.4g}"
    decimals = max(0, 1 - math.floor(math.log10(se)))
    return f"{mean:.{decimals}f} ± {se:.{decimals}f}"


def _replica_rows(analysis: dict) -> list[dict]:
    """Per replica (and pooled): {"name", key: "mean ± se" or "-"} for the judged quantities."""
    def cell(stats):
        if not stats:
            return "-"
        if stats.get("fixed_volume"):
            return f"{stats['mean']:.4g} (fixed volume)"
        return plus_minus(stats["mean"], stats["se"])

    rows = []
    for replica, data in sorted(analysis.get("replicas", {}).items(), key=lambda item: int(item[0])):
        judged = data.get("judged", {})
        secondary = data.get("secondary_structure") or {}
        rows.append({"name": f"replica {replica}", **{key: cell(judged.get(key)) for key in JUDGED},
                     "helix": f"{secondary['helix']:.2f}" if secondary else "-"})
    pooled = analysis.get("pooled")
    if pooled and len(rows) > 1:
        rows.append({"name": f"pooled ({len(rows)})", **{key: cell(pooled.get(key)) for key in JUDGED}, "helix": ""})
    return rows


def render_report(rows: list[dict], run: dict | None = None) -> str:
    """Pure: `rows` hold each system's sheet values, setup summary ('atoms') and analysis 'overall'; an
    adaptive system's row has the segments actually run and 'adaptive' (its last convergence decision);
    'preparation' (setup.json's record, absent for setups made before there was one) becomes its log;
    'analysis' (the analysis summary) gives the per-replica table, verdicts and protocol. `run`: the
    campaign's 'settings', the software 'versions', the 'platform' and when it was 'generated'."""
    run = run or {}
    settings = run.get("settings", {})
    rows = [{**r, "preparation_lines": preparation_lines(r["preparation"]) if r.get("preparation") else [],
             "methods": system_methods(r, settings, r.get("analysis", {}).get("protocol")),
             "replica_rows": _replica_rows(r.get("analysis", {})),
             "flags": r.get("analysis", {}).get("flags", []),
             "stages": r.get("analysis", {}).get("protocol", {}).get("replicas", {}),
             # the overview shows equilibrated, pooled means where the analysis judged them
             "overview": {key: r.get("analysis", {}).get("pooled", {}).get(key, {}).get("mean", value)
                          for key, value in r["overall"].items()}}
            for r in rows]
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("report.html.j2").render(
        systems=rows,
        plots=[*PLOTS, *EXTRA_PLOTS],
        judged=JUDGED,
        total_replicas=sum(r["replicas"] for r in rows),
        total_ps=sum(r["replicas"] * r["length_ps"] for r in rows),
        software=software(run.get("versions", {}), run.get("platform")),
        analysis_methods=ANALYSIS,
        generated=run.get("generated", ""),
    )


def segments_run(system: dict, analysis: dict) -> dict:
    """Segments and length actually run: for an adaptive system the convergence checks decided them."""
    decision = analysis.get("convergence")
    if decision is None:
        return {}
    segments = analysis["segments"]
    return {"segments": segments, "length_ps": round(system["length_ps"] / system["segments"] * segments, 6),
            "adaptive": decision}


def write_report(systems, setup_summaries, analysis_summaries, output, settings: dict | None = None) -> None:
    from mdflow.provenance import package_versions

    rows, platforms = [], set()
    for system, setup_json, analysis_json in zip(systems, setup_summaries, analysis_summaries):
        setup = json.loads(Path(setup_json).read_text())
        analysis = json.loads(Path(analysis_json).read_text())
        platforms.add(setup.get("platform"))
        rows.append({**system, **segments_run(system, analysis), "atoms": setup["atoms"],
                     "preparation": setup.get("preparation"), "overall": analysis["overall"], "analysis": analysis})
    run = {"settings": settings or {}, "versions": package_versions(),
           "platform": ", ".join(sorted(p for p in platforms if p)) or None,
           "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    atomic_write_text(output, render_report(rows, run))
