"""A workflow that is not an MD campaign, through mdflow's executor vs Snakemake's stock Slurm plugin (issue 18).

Both run tests/workflows/short_tasks (N tasks of `sleep S`, then one local rule over all of them:
a plain Snakemake workflow) on the local test Slurm (tests/slurm/start_slurm.sh must be running; this
script does not restart it), one after the other in one run, each with --jobs N:
  (a) plain `snakemake --executor mdflow --mdflow-profile <site>`: the plugin as any Snakemake user
      calls it, site = shipped `slurm` profile's keys with queue debug, no ensembles (one batch job
      per task, as the stock plugin submits);
  (b) `snakemake --executor slurm` with its defaults (status-check interval and so on), only the
      partition and a runtime/memory given as default resources, and `--slurm-status-command squeue`:
      its default status command here is sacct, which without slurmdbd never answers (the run sat
      for 12 minutes with all 50 outputs written).
Printed: makespan and sbatch calls of each, and the ratio b/a.

(b) needs the plugin, installed on first use into benchmarks/.slurm-plugin (git-ignored), as
benchmarks/ensembles.py does.

    .venv/bin/python benchmarks/foreign_workflow.py [--tasks 50] [--sleep 2]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from ensembles import PLUGIN_DIR, SHORT_TASKS, ensure_stock_plugin, run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--sleep", type=float, default=2.0)
    args = parser.parse_args()
    if subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        sys.exit("no Slurm answers here: bash tests/slurm/start_slurm.sh first")

    sys.path.insert(0, str(REPO / "tests/shims"))
    from shim import install

    root = Path(tempfile.mkdtemp(prefix="foreign-workflow-"))
    env = {**os.environ, "PATH": f"{install(root / 'bin', ['sbatch'])}{os.pathsep}{os.environ['PATH']}"}
    site = root / "site"
    site.mkdir()
    (site / "mdflow.yaml").write_text("extends: slurm\nqueue: debug\n")
    common = ["--snakefile", str(SHORT_TASKS), "--latency-wait", "30", "--quiet", "--jobs", str(args.tasks),
              "--config", f"tasks={args.tasks}", f"sleep={args.sleep}", "runtime=5"]
    mdflow = run("(a) mdflow executor (plugin)", root / "a",
                 [sys.executable, "-m", "snakemake", *common, "--executor", "mdflow", "--mdflow-profile", str(site)],
                 {**env, "PYTHONPATH": str(REPO)}, 3600)  # a checkout: Snakemake discovers the plugin package here
    ensure_stock_plugin()
    stock = run("(b) stock slurm plugin, defaults", root / "b",
                [sys.executable, "-m", "snakemake", *common, "--executor", "slurm", "--slurm-status-command", "squeue",
                 "--default-resources", "slurm_partition=debug", "runtime=5", "mem_mb=100"],
                {**env, "PYTHONPATH": str(PLUGIN_DIR)}, 3600)

    print(f"{args.tasks} tasks of `sleep {args.sleep}` + one local rule, a plain Snakemake workflow, on the local "
          f"Slurm ({os.cpu_count()} real cores), --jobs {args.tasks}")
    print(f"{'case':<36}{'makespan s':>12}{'sbatch calls':>14}")
    for case in (mdflow, stock):
        note = f"   FAILED: {case['failed']}" if case["failed"] else ""
        print(f"{case['label']:<36}{case['makespan']:>12.1f}{case['submissions']:>14}{note}")
    print(f"ratio stock / mdflow makespan: {stock['makespan'] / mdflow['makespan']:.2f}x")
    print(f"(work dir {root})")


if __name__ == "__main__":
    main()
