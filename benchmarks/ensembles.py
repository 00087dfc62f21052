"""Short jobs on a real Slurm: one batch job per task vs the stock Slurm plugin's groups vs mdflow ensembles.

In one run on the local test Slurm (tests/slurm/start_slurm.sh; ensembles use every CPU its one node
advertises — 64 by default (MDFLOW_TEST_SLURM_CPUS to change), a realistic node size, since with 16
CPUs the 400 task-seconds alone take 25 s and a/c cannot exceed ~4; the one-job-per-task case is
bounded by max_queued and by the ~0.9 s CPU of each job's inner Snakemake, not by CPUs):
  (a) mdflow's executor, one batch job per task, max_queued 20
  (b) Snakemake's stock Slurm plugin with groups of --group-size tasks, --jobs 20 (the queue limit)
  (c) mdflow ensembles, max_queued 20
for N tasks of `sleep S` (default 200 × 2 s). Printed: makespan and number of submissions each, and
the ratios a/c and b/c (goal a/c >= 5). Then the parallel efficiency of one ensemble of 8 one-core
members on 8 cores: sum of the members' own run times / the ensemble's wall time (goal >= 6).

(b) needs the plugin, which this script installs with pip into a private directory on first use:
snakemake-executor-plugin-slurm(+jobstep, pandas) into benchmarks/.slurm-plugin (git-ignored).

    .venv/bin/python benchmarks/ensembles.py [--tasks 200] [--sleep 2] [--skip-stock]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHORT_TASKS = REPO / "tests/workflows/short_tasks/Snakefile"
PLUGIN_DIR = REPO / "benchmarks/.slurm-plugin"
RUN_WITH_MDFLOW = ("import sys, mdflow.cli as c, snakemake.cli as s; c.register_executor(); "
                   "sys.argv = ['snakemake'] + sys.argv[1:]; s.main()")


def advertised_cpus() -> int:
    """CPUs of the test Slurm's one node (tests/slurm/start_slurm.sh, $MDFLOW_TEST_SLURM_CPUS)."""
    return int(subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True).stdout.split()[0])


def site_yaml(ensemble: bool, max_queued: int, members: int = 128, cores: int = 16) -> str:
    text = (f"name: bench\nscheduler: slurm\nqueue: debug\nlogdir: logs\ncores_per_node: {cores}\n"
            f"queues:\n  debug: {{max_walltime: 30, max_queued: {max_queued}}}\n")
    if ensemble:
        text += f"ensemble:\n  short_runtime: 5\n  max_walltime: 20\n  max_members: {members}\n  gather_s: 1\n"
    return text


def ensure_stock_plugin() -> None:
    if (PLUGIN_DIR / "snakemake_executor_plugin_slurm").exists():
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(PLUGIN_DIR),
                    "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-slurm-jobstep", "pandas"], check=True)


def submissions(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith("sbatch")) if log.exists() else 0


def run(label: str, workdir: Path, argv: list, env: dict, timeout: float) -> dict:
    workdir.mkdir(parents=True)
    env = {**env, "SHIM_LOG": str(workdir / "calls.log")}
    started = time.perf_counter()
    try:
        result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
        failed = result.returncode != 0 and f"exit {result.returncode}: {result.stderr.strip().splitlines()[-1:]}"
    except subprocess.TimeoutExpired:
        failed = f"did not finish within {timeout:.0f} s"
    return {"label": label, "makespan": time.perf_counter() - started, "submissions": submissions(workdir / "calls.log"),
            "failed": failed, "workdir": workdir}


def member_times(workdir: Path) -> list:
    times = []
    for start in (workdir / "out").glob("*.start"):
        end = start.with_suffix(".end")
        if end.exists():
            times.append((float(start.read_text()), float(end.read_text())))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--max-queued", type=int, default=20)
    parser.add_argument("--group-size", type=int, default=10)
    parser.add_argument("--member-sleep", type=float, default=20.0, help="for the efficiency run")
    parser.add_argument("--skip-stock", action="store_true", help="skip (b)")
    args = parser.parse_args()

    # 64 CPUs unless asked otherwise: a realistic node (Theta KNL 64, Stampede2 KNL 68). The tests'
    # fixture restarts Slurm at its own 16 when they next run.
    slurm_env = {**os.environ, "MDFLOW_TEST_SLURM_CPUS": os.environ.get("MDFLOW_TEST_SLURM_CPUS", "64")}
    subprocess.run(["bash", str(REPO / "tests/slurm/start_slurm.sh")], check=True, stdout=subprocess.DEVNULL, env=slurm_env)
    sys.path.insert(0, str(REPO / "tests/shims"))
    from shim import install

    cpus = advertised_cpus()
    root = Path(tempfile.mkdtemp(prefix="ensembles-bench-"))
    shim_bin = install(root / "bin", ["sbatch"])
    env = {**os.environ, "PATH": f"{shim_bin}{os.pathsep}{os.environ['PATH']}"}
    def options(runtime_min: int) -> list:
        return ["--snakefile", str(SHORT_TASKS), "--seconds-between-status-checks", "2", "--latency-wait", "30", "--quiet",
                "--config", f"tasks={args.tasks}", f"sleep={args.sleep}", f"runtime={runtime_min}"]
    common = options(1)

    cases = []
    for label, ensemble in (("(a) one job per task", False), ("(c) mdflow ensembles", True)):
        site = root / f"site-{ensemble}"
        site.mkdir()
        (site / "mdflow.yaml").write_text(site_yaml(ensemble, args.max_queued, cores=cpus))
        cases.append(run(label, root / label[1], [sys.executable, "-c", RUN_WITH_MDFLOW, *common, "--executor", "mdflow",
                                                  "--jobs", "1000"], {**env, "MDFLOW_SITE_PROFILE": str(site)}, 3600))
    if not args.skip_stock:
        ensure_stock_plugin()
        stock_env = {**env, "PYTHONPATH": str(PLUGIN_DIR)}
        # The plugin asks for the walltime of one member (one layer: max) but runs the members one
        # after another: with the honest 1 min per task, groups of 10 (~6 s a member here, with the
        # srun step and the inner Snakemake) hit their walltime and failed. With 5 min per task they
        # finish; makespans are compared, not walltimes.
        cases.insert(1, run("(b) stock slurm plugin, groups", root / "b", [
            sys.executable, "-m", "snakemake", *options(5), "--executor", "slurm", "--jobs", str(args.max_queued),
            "--slurm-status-command", "squeue", "--groups", "task=g", "--group-components", f"g={args.group_size}",
            "--default-resources", "slurm_partition=debug", "runtime=5", "mem_mb=100"], stock_env, 3600))

    print(f"{args.tasks} tasks of `sleep {args.sleep}` on the local Slurm ({cpus} advertised CPUs on one node, "
          f"{os.cpu_count()} real cores), "
          f"max {args.max_queued} queued jobs")
    print(f"{'case':<34}{'makespan s':>12}{'submissions':>13}")
    by_label = {}
    for case in cases:
        by_label[case["label"][:3]] = case
        note = f"   FAILED: {case['failed']}" if case["failed"] else ""
        print(f"{case['label']:<34}{case['makespan']:>12.1f}{case['submissions']:>13}{note}")
    c = by_label["(c)"]["makespan"]
    print(f"ratio a/c = {by_label['(a)']['makespan'] / c:.1f} (goal >= 5)")
    if "(b)" in by_label and not by_label["(b)"]["failed"]:
        print(f"ratio b/c = {by_label['(b)']['makespan'] / c:.1f}")

    # Parallel efficiency of one ensemble of 8 one-core members on 8 cores.
    site = root / "site-eff"
    site.mkdir()
    (site / "mdflow.yaml").write_text(site_yaml(True, 1, members=8, cores=8))
    eff = run("efficiency", root / "eff", [sys.executable, "-c", RUN_WITH_MDFLOW, "--snakefile", str(SHORT_TASKS),
                                          "--executor", "mdflow", "--jobs", "1000", "--seconds-between-status-checks", "1",
                                          "--quiet", "--config", "tasks=8", f"sleep={args.member_sleep}", "runtime=1"],
              {**env, "MDFLOW_SITE_PROFILE": str(site)}, 600)
    times = member_times(eff["workdir"])
    serial = sum(end - start for start, end in times)
    wall = eff["makespan"]
    print(f"one ensemble of {len(times)} one-core members (sleep {args.member_sleep}) on 8 cores: serial sum {serial:.1f} s, "
          f"wall {wall:.1f} s (submission to completion), parallel efficiency {serial / wall:.1f} (goal >= 6)")


if __name__ == "__main__":
    main()
