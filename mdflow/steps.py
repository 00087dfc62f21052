"""Glue between Snakemake rules and mdflow's modules: one function per rule.

mdflow/workflow/scripts/*.py are one-liners that call `run(<step>, snakemake)`. A user mistake
(MdflowError) becomes one line on stderr and in the rule's log, and a failed job; nothing else.
"""

import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import sys
from pathlib import Path

from mdflow import provenance, transfer
from mdflow.errors import MdflowError
from mdflow.io_atomic import atomic_write_text


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
        deterministic_forces=smk.config.get("deterministic_forces", False),
        seed=smk.params.seed,
        gaps=smk.params.gaps,
        hydrogen_mass_amu=smk.params.hydrogen_mass_amu,
        system_xml=smk.output.system,
        topology_pdb=smk.output.topology,
        state_xml=smk.output.state,
        summary_json=smk.output.summary,
    )
    print(f"setup {smk.wildcards.system}: {summary['atoms']} atoms, potential "
          f"{summary['potential_before_kj_mol']:.1f} -> {summary['potential_after_kj_mol']:.1f} kJ/mol")
    return {"platform": summary["platform"], "seeds": {"system": smk.params.seed}, "atoms": summary["atoms"]}


def push(smk) -> None:
    files = [smk.input.system, smk.input.topology, smk.input.state]
    transfer.push(files, Path(smk.output.manifest).parent, smk.output.manifest)
    print(f"pushed {len(files)} files to {Path(smk.output.manifest).parent}")


def _run_md(smk, k: int, previous: str, **stage) -> dict:
    """Run one segment or equilibration stage `k` of a replica (a restartable segment either way)."""
    from mdflow.campaign import checkpoint_cadence
    from mdflow.md.simulate import SegmentSpec, run_segment

    transfer.verify(smk.input.manifest, [smk.input.system, smk.input.topology], redo="pushes it again")
    transfer.verify(smk.input.start_manifest, [smk.input.start_state], redo="pushes it again" if k == 0 and
                    not stage.get("keep_velocities") else previous)
    p = smk.params
    checkpoint_steps, checkpoint_min = checkpoint_cadence(smk.config)
    spec = SegmentSpec(
        system_xml=smk.input.system, start_state_xml=smk.input.start_state, topology_pdb=smk.input.topology,
        out_dcd=smk.output.dcd, out_csv=smk.output.csv, out_state=smk.output.state,
        temperature_k=p.temperature_k, friction_per_ps=p.friction_per_ps, timestep_fs=p.timestep_fs,
        steps=p.steps, report_interval=p.report_interval, checkpoint_interval=checkpoint_steps,
        checkpoint_interval_min=checkpoint_min,
        seed=p.seed, replica=int(smk.wildcards.replica), segment=k,
        platform=smk.config.get("platform", "auto"), cpu_threads=smk.threads,
        deterministic_forces=smk.config.get("deterministic_forces", False),
        velocity_seed_offset=p.velocity_seed_offset, **stage,
    )
    summary = run_segment(spec, log=print)
    transfer.write_manifest(smk.output.manifest, [smk.output.dcd, smk.output.csv, smk.output.state],
                            segment=summary)
    print(f"{'stage' if stage.get('seed_stream') else 'segment'} done: {summary}")
    return {"platform": summary["platform"], "seeds": {"system": p.seed, "integrator": summary["integrator_seed"]},
            "resumed_from_step": summary["resumed_from_step"], "ns_per_day": summary["ns_per_day"],
            **({"gpu": summary["gpu"]} if summary.get("gpu") else {})}


def simulate(smk) -> None:
    k = int(smk.wildcards.segment)
    return _run_md(smk, k, f"simulates segment {k - 1:03d} again", pressure_bar=smk.params.pressure_bar,
                   keep_velocities=smk.params.after_equilibration)


def equilibrate(smk) -> None:
    k, p = int(smk.wildcards.stage), smk.params
    print(f"equilibration stage {k + 1} ({p.name}) of replica {smk.wildcards.replica}")
    return _run_md(smk, k, f"runs equilibration stage {k - 1:02d} again", seed_stream="eq",
                   restraint_k_kj_mol_nm2=p.restraint_kj_mol_nm2, heat_from_k=p.heat_from_k,
                   pressure_bar=p.pressure_bar)


def pull(smk) -> None:
    redo = (f"simulates segment {smk.wildcards.segment} again" if "segment" in smk.wildcards.keys()
            else f"runs equilibration stage {smk.wildcards.stage} again")
    transfer.pull(smk.input.manifest, [smk.input.dcd, smk.input.csv], [smk.output.dcd, smk.output.csv], redo=redo)
    shutil.copyfile(smk.input.manifest, smk.output.manifest)
    print(f"pulled {smk.output.dcd} and {smk.output.csv} (sha256 verified)")


def analyze(smk) -> None:
    from mdflow.md.analyze import analyze_system

    replicas = {int(r): [tuple(pair) for pair in pairs] for r, pairs in smk.params.segments.items()}
    decisions = list(smk.input.get("decisions", []))
    convergence = json.loads(Path(decisions[-1]).read_text()) if decisions else None
    stages = {int(r): [tuple(pair) for pair in pairs] for r, pairs in smk.params.stages.items()}
    analyze_system(smk.wildcards.system, smk.input.topology, replicas, dict(smk.output.items()), convergence,
                   smk.params.temperature_k, stages, smk.params.protocol)


def converge(smk) -> None:
    from mdflow.md.analyze import replica_series
    from mdflow.md.convergence import Criterion, decide, describe

    system, p = smk.wildcards.system, smk.params
    if p.metric is None:
        raise MdflowError(f"system {system!r}: no convergence check without max_length_ps in the systems sheet")
    criterion = Criterion(p.metric, p.tolerance, p.window_segments, p.max_segments)
    values = {replica: [replica_series(smk.input.topology, [tuple(pair)])[p.metric] for pair in pairs]
              for replica, pairs in p.segments.items()}
    decision = {"system": system, **decide(values, criterion, segments_done=int(smk.wildcards.segment) + 1)}
    atomic_write_text(smk.output.decision, json.dumps(decision, indent=2) + "\n")
    print(f"{system}: {describe(decision)}")


def report(smk) -> None:
    from mdflow.md.report import write_report

    write_report(smk.params.systems, smk.input.setup, smk.input.analysis, smk.output.html, smk.params.settings)


STEPS = {f.__name__: f for f in (setup, push, simulate, equilibrate, pull, converge, analyze, report)}


def write_provenance(step: str, smk, meter, details) -> None:
    """The step's provenance JSON (its `provenance` output); an upstream record (input `provenance`,
    e.g. the simulate step's, pulled along with its segment) is embedded as 'upstream'."""
    outputs = dict(smk.output.items())
    target = outputs.pop("provenance", None)
    if target is None:
        return
    inputs = dict(smk.input.items())
    upstream = inputs.pop("provenance", None)
    record = provenance.collect(
        step=step, wildcards=dict(smk.wildcards.items()), site=smk.config.get("site_name"),
        input_files=[f for files in inputs.values() for f in ([files] if isinstance(files, str) else files)],
        output_files=list(outputs.values()), meter=meter, details=details,
    )
    if upstream:
        record["upstream"] = json.loads(Path(upstream).read_text())
    atomic_write_text(target, json.dumps(record, indent=2, sort_keys=True) + "\n")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def stop_like_sigterm() -> None:
    """A job process stops on SIGINT and SIGHUP as on SIGTERM: at once (the default action, even inside
    a long C++ call such as OpenMM's minimizer), except where a segment or stage checkpoints first
    (mdflow.md.simulate). And it is killed when its parent dies (Linux: PR_SET_PDEATHSIG), so a
    controller that was killed (SIGKILL, a crash: no chance to stop its jobs) leaves no job running
    under PID 1; SIGKILL, like the controller's own death: a segment resumes from its last checkpoint,
    and a job frozen mid-write (tests/faults) dies there too. A signal ignored on entry (nohup) stays so."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        try:
            if signal.getsignal(signum) != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
        except ValueError:  # not the main thread (e.g. called from a test runner's thread)
            return
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def c_stdout_to(handle):
    """Point file descriptor 1 at `handle` too: C code (MDTraj's DCD plugin prints "dcdplugin) detected
    standard 32-bit DCD file") writes there, past sys.stdout, and would reach the user's terminal.
    Steps run as `script:` processes of their own, so no other thread shares the descriptor."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(handle.fileno(), 1)
    try:
        yield
    finally:
        handle.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(step: str, smk) -> None:
    """Run one step with stdout/stderr appended to the rule's log, then write its provenance."""
    stop_like_sigterm()
    log_path = Path(smk.log[0]) if len(smk.log) else None
    stderr = sys.stderr
    with contextlib.ExitStack() as stack:
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(open(log_path, "a", buffering=1))
            stack.enter_context(contextlib.redirect_stdout(handle))
            stack.enter_context(contextlib.redirect_stderr(handle))
            stack.enter_context(c_stdout_to(handle))
        try:
            with provenance.Meter() as meter:
                details = STEPS[step](smk)
            write_provenance(step, smk, meter, details)
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            message = out_of_space(step, error)
            print(f"mdflow: {message}", file=stderr)
            print(f"mdflow: {message}")
            sys.exit(1)
        except MdflowError as error:
            print(f"mdflow: {error}", file=stderr)
            print(f"mdflow: {error}")
            sys.exit(1)
        except SystemExit as stop:  # e.g. a segment checkpointed on SIGTERM (walltime): say so in the
            # batch log too, which survives the retry (the rule log does not); a local job stopped by its
            # controller stays quiet: the controller prints the one line about the interrupt
            if getattr(stop, "message", "") and not os.environ.get("MDFLOW_LOCAL_JOB"):
                print(f"mdflow: {step}: {stop.message} (the next attempt resumes there)", file=stderr)
            raise
        print(f"{step} finished in {meter.usage.wall_s:.2f} s")


def out_of_space(step: str, error: OSError) -> str:
    """One line for a full disk or quota: where, and what to do (writes are atomic, so the files
    under their final names are whole; the half-written temp file was removed)."""
    where = Path(error.filename).parent if error.filename else Path.cwd()
    kind = "disk quota exceeded" if error.errno == errno.EDQUOT else "no space left on device"
    return (f"{step}: {kind} writing in {where}/; nothing half-written was kept — free space there "
            f"(`df -h {where}`) and run mdflow again")
