"""The controller's own CPU per job on a real Slurm with ensembles (issue 17).

Runs tests/workflows/short_tasks (N tasks of `sleep S`) through mdflow's executor on the local test
Slurm (tests/slurm/start_slurm.sh, one node advertising 64 CPUs) with ensembles on, and prints the CPU
seconds the controller used — its own process plus the scheduler commands it ran and waited for
(sbatch, squeue, scontrol), from wait4()'s rusage; the batch jobs themselves run under slurmd and are
not counted — divided by the number of jobs. Also printed: the same workflow's plain dry-run (the
planning part alone) so the submission+polling share shows. Goal: <= 5 ms per job.

The MD campaign itself cannot run 1,000 jobs on this 2-core machine in reasonable time (each setup
minimizes a structure); the controller's work per job does not depend on what the job runs.

    .venv/bin/python benchmarks/controller_cpu.py [--tasks 1000] [--sleep 0.2]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from ensembles import RUN_WITH_MDFLOW, SHORT_TASKS, advertised_cpus, site_yaml  # noqa: E402


def run_measured(argv: list, cwd: Path, env: dict) -> tuple[float, float, int]:
    """(wall s, CPU s of the process and the children it waited for, exit code)."""
    started = time.perf_counter()
    with open(cwd / "controller.log", "w") as log:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--max-queued", type=int, default=20)
    parser.add_argument("--scheduler", default="ilp", help="Snakemake's job scheduler (ilp: its default; greedy)")
    args = parser.parse_args()

    slurm_env = {**os.environ, "MDFLOW_TEST_SLURM_CPUS": os.environ.get("MDFLOW_TEST_SLURM_CPUS", "64")}
    subprocess.run(["bash", str(REPO / "tests/slurm/start_slurm.sh")], check=True, stdout=subprocess.DEVNULL,
                   env=slurm_env)
    cpus = advertised_cpus()
    root = Path(tempfile.mkdtemp(prefix="controller-cpu-"))
    site = root / "site"
    site.mkdir()
    (site / "mdflow.yaml").write_text(site_yaml(True, args.max_queued, members=128, cores=cpus))
    env = {**os.environ, "MDFLOW_SITE_PROFILE": str(site)}
    options = ["--snakefile", str(SHORT_TASKS), "--seconds-between-status-checks", "2", "--latency-wait", "30",
               "--quiet", "--config", f"tasks={args.tasks}", f"sleep={args.sleep}", "runtime=1",
               "--executor", "mdflow", "--jobs", "1000", "--scheduler", args.scheduler]

    plan_dir, run_dir = root / "plan", root / "run"
    plan_dir.mkdir()
    run_dir.mkdir()
    _, plan_cpu, plan_rc = run_measured([sys.executable, "-c", RUN_WITH_MDFLOW, *options, "-n"], plan_dir, env)
    wall, run_cpu, run_rc = run_measured([sys.executable, "-c", RUN_WITH_MDFLOW, *options], run_dir, env)
    done = len(list((run_dir / "out").glob("*.txt")))
    batch_jobs = sum(1 for _ in (run_dir / "logs").rglob("*.outcome.json")) if (run_dir / "logs").exists() else 0

    print(f"{args.tasks} tasks of `sleep {args.sleep}` through the real Slurm ({cpus} advertised CPUs, "
          f"{os.cpu_count()} real cores), ensembles on, max {args.max_queued} queued")
    if run_rc != 0 or done != args.tasks:
        print(f"RUN FAILED (exit {run_rc}, {done}/{args.tasks} outputs): see {run_dir / 'controller.log'}")
        sys.exit(1)
    print(f"{'':<36}{'CPU s':>8}{'ms/job':>9}")
    print(f"{'planning only (dry-run)':<36}{plan_cpu:>8.1f}{1000 * plan_cpu / args.tasks:>9.2f}")
    print(f"{'whole run (plan+submit+poll)':<36}{run_cpu:>8.1f}{1000 * run_cpu / args.tasks:>9.2f}   "
          f"(goal <= 5 ms/job; wall {wall:.0f} s, {batch_jobs} batch jobs)")
    print(f"{'submission + polling':<36}{run_cpu - plan_cpu:>8.1f}{1000 * (run_cpu - plan_cpu) / args.tasks:>9.2f}")
    print(f"(plan exit {plan_rc}; work dir {root})")


if __name__ == "__main__":
    main()
