"""Glue between Snakemake rules and mdflow's modules: one function per rule.

workflow/scripts/*.py are one-liners that call `run(<step>, snakemake)`. A user mistake
(MdflowError) becomes one line on stderr and in the rule's log, and a failed job; nothing else.
"""

import contextlib
import shutil
import sys
import time
from pathlib import Path

from mdflow import transfer
from mdflow.errors import MdflowError


def setup(smk) -> None:
    from mdflow.md.setup import prepare

    summary = prepare(
        structure=smk.input.structure,
        forcefield=smk.params.forcefield,
        solvent=smk.params.solvent,
        ph=smk.params.ph,
        padding_nm=smk.params.padding_nm,
        ionic_strength_molar=smk.params.ionic_strength_molar,
        minimize_iterations=smk.params.minimize_iterations,
        platform=smk.config.get("platform", "auto"),
        cpu_threads=smk.threads,
        system_xml=smk.output.system,
        topology_pdb=smk.output.topology,
        state_xml=smk.output.state,
        summary_json=smk.output.summary,
    )
    print(f"setup {smk.wildcards.system}: {summary['atoms']} atoms, potential "
          f"{summary['potential_before_kj_mol']:.1f} -> {summary['potential_after_kj_mol']:.1f} kJ/mol")


def push(smk) -> None:
    files = [smk.input.system, smk.input.topology, smk.input.state]
    transfer.push(files, Path(smk.output.manifest).parent, smk.output.manifest)
    print(f"pushed {len(files)} files to {Path(smk.output.manifest).parent}")


def simulate(smk) -> None:
    from mdflow.md.simulate import SegmentSpec, run_segment

    transfer.verify(smk.input.manifest, [smk.input.system, smk.input.topology])
    transfer.verify(smk.input.start_manifest, [smk.input.start_state])
    p = smk.params
    spec = SegmentSpec(
        system_xml=smk.input.system, start_state_xml=smk.input.start_state, topology_pdb=smk.input.topology,
        out_dcd=smk.output.dcd, out_csv=smk.output.csv, out_state=smk.output.state,
        temperature_k=p.temperature_k, friction_per_ps=p.friction_per_ps, timestep_fs=p.timestep_fs,
        steps=p.steps, report_interval=p.report_interval, checkpoint_interval=p.checkpoint_interval,
        seed=p.seed, replica=int(smk.wildcards.replica), segment=int(smk.wildcards.segment),
        platform=smk.config.get("platform", "auto"), cpu_threads=smk.threads,
    )
    summary = run_segment(spec, log=print)
    transfer.write_manifest(smk.output.manifest, [smk.output.dcd, smk.output.csv, smk.output.state],
                            segment=summary)
    print(f"segment done: {summary}")


def pull(smk) -> None:
    transfer.pull(smk.input.manifest, [smk.input.dcd, smk.input.csv], [smk.output.dcd, smk.output.csv])
    shutil.copyfile(smk.input.manifest, smk.output.manifest)
    print(f"pulled {smk.output.dcd} and {smk.output.csv} (sha256 verified)")


def analyze(smk) -> None:
    from mdflow.md.analyze import analyze_system

    replicas = {int(r): [tuple(pair) for pair in pairs] for r, pairs in smk.params.segments.items()}
    analyze_system(smk.wildcards.system, smk.input.topology, replicas, dict(smk.output.items()))


def report(smk) -> None:
    from mdflow.md.report import write_report

    write_report(smk.params.systems, smk.input.setup, smk.input.analysis, smk.output.html)


STEPS = {f.__name__: f for f in (setup, push, simulate, pull, analyze, report)}


def run(step: str, smk) -> None:
    """Run one step with stdout/stderr appended to the rule's log."""
    log_path = Path(smk.log[0]) if len(smk.log) else None
    stderr = sys.stderr
    with contextlib.ExitStack() as stack:
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(open(log_path, "a", buffering=1))
            stack.enter_context(contextlib.redirect_stdout(handle))
            stack.enter_context(contextlib.redirect_stderr(handle))
        started = time.time()
        try:
            STEPS[step](smk)
        except MdflowError as error:
            print(f"mdflow: {error}", file=stderr)
            print(f"mdflow: {error}")
            sys.exit(1)
        print(f"{step} finished in {time.time() - started:.2f} s")
