"""The campaign's HTML report: a table of systems and each system's plots."""

import json
from pathlib import Path

import jinja2

from mdflow.io_atomic import atomic_write_text
from mdflow.md.analyze import PLOTS
from mdflow.paths import TEMPLATE_DIR


def render_report(rows: list[dict]) -> str:
    """Pure: `rows` hold each system's sheet values, setup summary ('atoms') and analysis 'overall'; an
    adaptive system's row has the segments actually run and 'adaptive' (its last convergence decision)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("report.html.j2").render(
        systems=rows,
        plots=list(PLOTS),
        total_replicas=sum(r["replicas"] for r in rows),
        total_ps=sum(r["replicas"] * r["length_ps"] for r in rows),
    )


def segments_run(system: dict, analysis: dict) -> dict:
    """Segments and length actually run: for an adaptive system the convergence checks decided them."""
    decision = analysis.get("convergence")
    if decision is None:
        return {}
    segments = analysis["segments"]
    return {"segments": segments, "length_ps": round(system["length_ps"] / system["segments"] * segments, 6),
            "adaptive": decision}


def write_report(systems, setup_summaries, analysis_summaries, output) -> None:
    rows = []
    for system, setup_json, analysis_json in zip(systems, setup_summaries, analysis_summaries):
        setup = json.loads(Path(setup_json).read_text())
        analysis = json.loads(Path(analysis_json).read_text())
        rows.append({**system, **segments_run(system, analysis), "atoms": setup["atoms"],
                     "overall": analysis["overall"]})
    atomic_write_text(output, render_report(rows))
