"""What do restart points cost? (issue 13 part 2)

On CPU a periodic (PME) segment continued past a checkpoint differs in the last bits from one resumed
from it, so mdflow makes every report interval a restart point (mdflow.md.simulate.restart_point:
rebuild the kernels and load a checkpoint of the current state). This prints, for alanine dipeptide in
water (PME, amber14, CPU, one thread, DeterministicForces: the ci system, 1 nm padding) and at each
report interval asked for, the mean time of one restart point, the mean time of one report interval's
stepping, and their ratio: the fraction of the loop the restart points add. Both are measured in the
same run, interleaved. The shipped campaign (config/config.yaml) reports every 1 ps = 500 steps; the ci
campaign every 10 steps.

    python benchmarks/restart_points.py [--intervals 10 500] [--chunks 20]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import openmm
from openmm import unit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mdflow.md.platforms import create_context  # noqa: E402
from mdflow.md.setup import prepare  # noqa: E402
from mdflow.md.simulate import restart_point  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, nargs="+", default=[10, 500], help="report intervals (steps)")
    parser.add_argument("--chunks", type=int, default=20, help="report intervals measured per setting")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="restart-points-"))
    prepare(REPO / "resources/alanine-dipeptide.pdb", "amber14", "explicit", 7.0, 1.0, 0.1, 100, "CPU", 1,
            work / "system.xml", work / "topology.pdb", work / "minimized.xml", work / "setup.json",
            deterministic_forces=True, seed=12)
    system = openmm.XmlSerializer.deserialize((work / "system.xml").read_text())
    start = openmm.XmlSerializer.deserialize((work / "minimized.xml").read_text())
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtosecond)
    context = create_context(system, integrator, "CPU", 1, deterministic_forces=True)
    context.setPeriodicBoxVectors(*start.getPeriodicBoxVectors())
    context.setPositions(start.getPositions())
    context.setVelocitiesToTemperature(300 * unit.kelvin, 1)
    integrator.step(100)  # warm up

    print(f"alanine dipeptide in water: {system.getNumParticles()} atoms, PME, CPU, 1 thread, DeterministicForces")
    print(f"{'report interval':>16} {'stepping ms':>12} {'restart point ms':>17} {'cost of the loop':>17}")
    for interval in args.intervals:
        stepping, restarting = [], []
        for _ in range(args.chunks):
            began = time.perf_counter()
            integrator.step(interval)
            context.getState(getEnergy=True)  # forces done (the loop writes a frame here)
            stepped = time.perf_counter()
            restart_point(context, context.createCheckpoint())
            restarting.append(time.perf_counter() - stepped)
            stepping.append(stepped - began)
        step_ms, restart_ms = statistics.mean(stepping) * 1e3, statistics.mean(restarting) * 1e3
        print(f"{interval:>10} steps {step_ms:>12.1f} {restart_ms:>17.2f} {restart_ms / step_ms:>16.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
