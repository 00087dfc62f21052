"""How much slower is mdflow's simulate step than a bare OpenMM loop doing the same work?

Both sides run the same prepared system (mdflow's own setup, done once), on the same platform with
the same properties, with the same integrator (LangevinMiddleIntegrator, 300 K, 1/ps, 2 fs, same
seed), for the same number of steps, writing one DCD frame and one energy row every
`--report-interval` steps:

* bare:   `openmm.app.Simulation` + `DCDReporter` + `StateDataReporter` (to a file), then
          `simulation.step(steps)`.
* mdflow: `mdflow.md.simulate.run_segment(spec)`, which in addition fsyncs the DCD/CSV and writes
          a checkpoint, a state XML and progress.json (atomically) every `--checkpoint-interval`
          steps and at the end.

Two walls are measured for each run:

* loop wall (primary figure): bare = the `simulation.step()` call only; mdflow = the `wall_s`
  that `run_segment` returns, which covers its step loop only (integrator steps, frame and energy
  writes, checkpoints). Context creation is excluded on both sides.
* end-to-end wall: bare = deserialize System, read topology, create the Simulation (context), set
  the state, step, close the files; mdflow = the whole `run_segment()` call (which also hashes the
  start state, writes the final state XML and moves the files into place).

Repeats are interleaved (bare, mdflow, bare, mdflow, ...) so drift of a noisy machine hits both
sides alike; the table shows every run and the medians, and the last line is the ratio of median
loop ns/day, mdflow/bare (goal >= 0.95). Every mdflow repeat writes into a fresh directory, since
`run_segment` would otherwise resume a previous partial run.

While the loops run, mdflow's `_write_frame` and `_save_checkpoint` and the bare side's
`Simulation._generate_reports` (one getState + both reporters) are wrapped with timers (one
`perf_counter` pair per call, ~1 us against milliseconds of work) so the report can say where
the loop time goes besides stepping (the `io s` column: loop time spent in getState, frame and
energy writes and checkpoints; the rest of the loop is integrator.step, the same work on both
sides, so a difference there is machine noise); `--no-breakdown` turns that off. Both sides
compute the same trajectory (same seed, same start), which the script checks via the final
potential energy.

Defaults: villin headpiece (amber99sbildn, OBC implicit solvent, 596 atoms), 1500 steps (3 ps),
report every 500, checkpoint every 10 minutes of wall time (config.yaml's shipped campaign
settings: a frame per 1 ps, `checkpoint_interval_min: 10`; `--checkpoint-interval 1000` adds the
old every-2-ps cadence), 2 repeats, CPU platform, 1 thread, 100 minimization steps in setup. On a
2-core machine at 1 thread villin runs ~10-13 ns/day, so one 1500-step run takes 20-26 s and
the whole benchmark (setup ~10 s included) takes 1.5-2 minutes (2000 steps took 2m06-2m14 there).
Run-to-run noise on such a machine is several percent (up to ~20% between consecutive identical
runs was seen), larger than mdflow's overhead for villin; use more --repeats to tighten it.
For the explicit-solvent case use `--system ala-water`; `--system ala-implicit` is tiny (22 atoms)
and therefore the worst case for fixed per-report costs.

    .venv/bin/python benchmarks/simulate_overhead.py
    .venv/bin/python benchmarks/simulate_overhead.py --system ala-water --steps 5000 --repeats 3
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SYSTEMS = {
    # name: (structure, force field, solvent)  -- as in config/systems.tsv
    "villin": ("resources/villin.pdb", "amber99sbildn", "implicit"),
    "ala-implicit": ("resources/alanine-dipeptide.pdb", "amber99sbildn", "implicit"),
    "ala-water": ("resources/alanine-dipeptide.pdb", "amber14", "explicit"),
    "villin-water": ("resources/villin.pdb", "amber14", "explicit"),  # ~9.9k atoms: a GPU-sized system
}
TEMPERATURE_K = 300.0
FRICTION_PER_PS = 1.0
TIMESTEP_FS = 2.0
SEED = 13


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", choices=sorted(SYSTEMS), default="villin")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--report-interval", type=int, default=500)
    p.add_argument("--checkpoint-interval", type=int, default=0,
                   help="also checkpoint every this many steps (0: not by steps; the campaign default)")
    p.add_argument("--checkpoint-interval-min", type=float, default=10.0,
                   help="checkpoint every this many minutes of wall time (the campaign default: 10)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--platform", default="CPU")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--minimize-iterations", type=int, default=100,
                   help="setup minimization (not timed; the campaign uses 500)")
    p.add_argument("--workdir", help="keep all files here instead of a deleted temp dir")
    p.add_argument("--no-breakdown", action="store_true",
                   help="do not time mdflow's frame writes and checkpoints separately")
    args = p.parse_args(argv)
    if args.steps % args.report_interval:
        p.error("--steps must be a multiple of --report-interval (run_segment steps in report chunks)")
    if args.checkpoint_interval and args.checkpoint_interval % args.report_interval:
        p.error("--checkpoint-interval must be a multiple of --report-interval")
    return args


def ns_per_day(steps, wall_s):
    return steps * TIMESTEP_FS * 1e-6 / wall_s * 86400


def prepare(args, work: Path) -> dict:
    from mdflow.md.setup import prepare as mdflow_prepare

    structure, forcefield, solvent = SYSTEMS[args.system]
    setup = work / "setup"
    setup.mkdir()
    files = {
        "system_xml": setup / "system.xml",
        "topology_pdb": setup / "topology.pdb",
        "state_xml": setup / "minimized.xml",
        "summary_json": setup / "summary.json",
    }
    summary = mdflow_prepare(
        structure=REPO / structure, forcefield=forcefield, solvent=solvent, ph=7.0, padding_nm=1.2,
        ionic_strength_molar=0.1, minimize_iterations=args.minimize_iterations,
        platform=args.platform, cpu_threads=args.threads, **files,
    )
    return {"files": files, "summary": summary}


def run_bare(args, files, out: Path) -> dict:
    import openmm
    from openmm import app, unit

    from mdflow.md.platforms import choose_platform
    from mdflow.md.simulate import derive_seed

    out.mkdir()
    t0 = time.perf_counter()
    system = openmm.XmlSerializer.deserialize(Path(files["system_xml"]).read_text())
    topology = app.PDBFile(str(files["topology_pdb"])).topology
    seed = derive_seed(SEED, 0, 0)
    integrator = openmm.LangevinMiddleIntegrator(
        TEMPERATURE_K * unit.kelvin, FRICTION_PER_PS / unit.picosecond, TIMESTEP_FS * unit.femtosecond)
    integrator.setRandomNumberSeed(seed)
    platform, properties = choose_platform(args.platform, args.threads)
    simulation = app.Simulation(topology, system, integrator, platform, properties)
    state = openmm.XmlSerializer.deserialize(Path(files["state_xml"]).read_text())
    if state.getPeriodicBoxVectors() is not None:
        simulation.context.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
    simulation.context.setPositions(state.getPositions())
    simulation.context.setVelocitiesToTemperature(TEMPERATURE_K * unit.kelvin, seed)
    # mdflow writes unwrapped coordinates (enforcePeriodicBox=False); do the same.
    dcd = app.DCDReporter(str(out / "trajectory.dcd"), args.report_interval, enforcePeriodicBox=False)
    csv_handle = open(out / "energies.csv", "w")
    data = app.StateDataReporter(
        csv_handle, args.report_interval, step=True, time=True, potentialEnergy=True,
        kineticEnergy=True, totalEnergy=True, temperature=True, volume=True)
    simulation.reporters.extend([dcd, data])
    # Simulation._generate_reports is private OpenMM API (8.x): skip the breakdown if it is gone.
    timed = not args.no_breakdown and hasattr(app.Simulation, "_generate_reports")
    timer = _Timed(app.Simulation, "_generate_reports") if timed else None
    t1 = time.perf_counter()
    if timer is not None:
        with timer:
            simulation.step(args.steps)
    else:
        simulation.step(args.steps)
    t2 = time.perf_counter()
    dcd._out.close()  # DCDReporter has no close() in OpenMM 8; it closes in __del__
    csv_handle.close()
    t3 = time.perf_counter()
    last = (out / "energies.csv").read_text().splitlines()[-1].split(",")
    row = {"loop_s": t2 - t1, "e2e_s": t3 - t0, "setup_s": t1 - t0,
           "platform": simulation.context.getPlatform().getName(),
           "final_potential": float(last[2])}
    if timer is not None:
        row["_generate_reports"] = (timer.total, timer.calls)
    return row


class _Timed:
    """Temporarily replace `owner.name` (a module function or class method) with a timed wrapper."""

    def __init__(self, owner, name):
        self.owner, self.name, self.original = owner, name, getattr(owner, name)
        self.total = 0.0
        self.calls = 0

    def __enter__(self):
        def wrapper(*a, **kw):
            start = time.perf_counter()
            try:
                return self.original(*a, **kw)
            finally:
                self.total += time.perf_counter() - start
                self.calls += 1

        setattr(self.owner, self.name, wrapper)
        return self

    def __exit__(self, *exc):
        setattr(self.owner, self.name, self.original)


def run_mdflow(args, files, out: Path) -> dict:
    import contextlib

    from mdflow.md import simulate

    out.mkdir()
    spec = simulate.SegmentSpec(
        system_xml=str(files["system_xml"]), start_state_xml=str(files["state_xml"]),
        topology_pdb=str(files["topology_pdb"]), out_dcd=str(out / "trajectory.dcd"),
        out_csv=str(out / "energies.csv"), out_state=str(out / "final.xml"),
        temperature_k=TEMPERATURE_K, friction_per_ps=FRICTION_PER_PS, timestep_fs=TIMESTEP_FS,
        steps=args.steps, report_interval=args.report_interval,
        checkpoint_interval=args.checkpoint_interval or None, checkpoint_interval_min=args.checkpoint_interval_min,
        seed=SEED, replica=0, segment=0,
        platform=args.platform, cpu_threads=args.threads,
    )
    with contextlib.ExitStack() as stack:
        timers = {}
        if not args.no_breakdown:
            for name in ("_write_frame", "_save_checkpoint"):
                timers[name] = stack.enter_context(_Timed(simulate, name))
        t0 = time.perf_counter()
        result = simulate.run_segment(spec, log=print)
        t1 = time.perf_counter()
    if result["resumed_from_step"] is not None:
        raise RuntimeError("run_segment resumed a previous run; the timing would be meaningless")
    last = Path(spec.out_csv).read_text().splitlines()[-1].split(",")
    row = {"loop_s": result["wall_s"], "e2e_s": t1 - t0, "platform": result["platform"],
           "final_potential": float(last[2])}
    for name, timer in timers.items():
        row[name] = (timer.total, timer.calls)
    return row


def _io_s(row) -> float:
    """Time of the loop spent outside integrator.step: getState + writes (+ checkpoints); nan if
    not measured."""
    parts = [row[k][0] for k in ("_generate_reports", "_write_frame", "_save_checkpoint") if k in row]
    return sum(parts) if parts else float("nan")


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OPENMM_CPU_THREADS", str(args.threads))
    import openmm

    with _WorkDir(args.workdir) as work:
        t = time.perf_counter()
        prepared = prepare(args, work)
        summary = prepared["summary"]
        print(f"system {args.system}: {summary['atoms']} atoms, {summary['forcefield']} "
              f"{summary['solvent']}; setup {time.perf_counter() - t:.1f} s")
        print(f"OpenMM {openmm.__version__}, platform {summary['platform']}, threads {args.threads}; "
              f"{args.steps} steps x {TIMESTEP_FS} fs = {args.steps * TIMESTEP_FS / 1000:g} ps, "
              f"report every {args.report_interval}, checkpoint every "
              f"{str(args.checkpoint_interval) + ' steps and ' if args.checkpoint_interval else ''}"
              f"{args.checkpoint_interval_min:g} min (and at the end), "
              f"{args.repeats} interleaved repeats")
        print()
        runs = {"bare": [], "mdflow": []}
        header = (f"{'run':<10}{'loop s':>9}{'loop ns/day':>13}{'e2e s':>9}{'e2e ns/day':>12}"
                  f"{'io s':>8}{'final Epot':>14}")
        print(header)
        print("-" * len(header))
        for i in range(args.repeats):
            for kind, fn in (("bare", run_bare), ("mdflow", run_mdflow)):
                row = fn(args, prepared["files"], work / f"{kind}-{i}")
                runs[kind].append(row)
                print(f"{kind + ' ' + str(i + 1):<10}{row['loop_s']:>9.3f}"
                      f"{ns_per_day(args.steps, row['loop_s']):>13.3f}{row['e2e_s']:>9.3f}"
                      f"{ns_per_day(args.steps, row['e2e_s']):>12.3f}{_io_s(row):>8.3f}"
                      f"{row['final_potential']:>14.4f}",
                      flush=True)
        print("-" * len(header))
        med = {}
        for kind in runs:
            loop = statistics.median(ns_per_day(args.steps, r["loop_s"]) for r in runs[kind])
            e2e = statistics.median(ns_per_day(args.steps, r["e2e_s"]) for r in runs[kind])
            med[kind] = (loop, e2e)
            print(f"{kind + ' med':<10}{'':>9}{loop:>13.3f}{'':>9}{e2e:>12.3f}")
        print()
        same = {round(r["final_potential"], 3) for k in runs for r in runs[k]}
        print("same trajectory on both sides (final potential energy): "
              + ("yes" if len(same) == 1 else f"no ({len(same)} distinct values)"))
        bare_setup = statistics.median(r["setup_s"] for r in runs["bare"])
        mdflow_outside = statistics.median(r["e2e_s"] - r["loop_s"] for r in runs["mdflow"])
        print(f"outside the loop: bare {bare_setup:.3f} s (deserialize + context + state), "
              f"mdflow {mdflow_outside:.3f} s (run_segment total - wall_s)")
        if not args.no_breakdown:
            for kind, names in (("bare", ("_generate_reports",)),
                                ("mdflow", ("_write_frame", "_save_checkpoint"))):
                loop = statistics.median(r["loop_s"] for r in runs[kind])
                parts = []
                for name in names:
                    if name not in runs[kind][0]:
                        continue
                    total = statistics.median(r[name][0] for r in runs[kind])
                    calls = runs[kind][0][name][1]
                    parts.append(f"{name} {total * 1000:.1f} ms / {calls} calls "
                                 f"({total / calls * 1000:.2f} ms each, {100 * total / loop:.2f}% of loop)")
                print(f"{kind} loop breakdown (median): " + "; ".join(parts))
        print(f"end-to-end ratio mdflow/bare = {med['mdflow'][1] / med['bare'][1]:.3f}")
        ratio = med["mdflow"][0] / med["bare"][0]
        print(f"ratio mdflow/bare = {ratio:.2f} (goal >= 0.95)")
    return 0


class _WorkDir:
    """A temp dir that is deleted afterwards, or `path` (kept) when given."""

    def __init__(self, path):
        self.path = path
        self._tmp = None

    def __enter__(self) -> Path:
        if self.path:
            Path(self.path).mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="simulate-overhead-", dir=self.path))
        self._tmp = tempfile.TemporaryDirectory(prefix="simulate-overhead-")
        return Path(self._tmp.name)

    def __exit__(self, *exc):
        if self._tmp is not None:
            self._tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
