"""Status-query load on a real Slurm: mdflow's executor vs Snakemake's cluster-generic executor.

A campaign of N short jobs (default 200 × `sleep 2`) runs twice on the local test Slurm
(tests/slurm/start_slurm.sh), once through each executor, with the same --jobs and status-check
interval. Every scheduler command (sbatch, squeue, scontrol, sacct) goes through a counting shim
(tests/shims/shim.py). Printed: status-query invocations, submissions and makespan for each, and
the ratio cluster-generic / mdflow.

    .venv/bin/pip install snakemake-executor-plugin-cluster-generic   # the baseline
    .venv/bin/python benchmarks/status_load.py [--tasks 200] [--jobs 20] [--interval 2]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/shims"))
from shim import install  # noqa: E402

STATUS_COMMANDS = ("squeue", "scontrol", "sacct", "slurm_status.sh")
SNAKEFILE = """
rule all:
    input: expand("out/{{i}}.txt", i=range({tasks}))

rule task:
    output: "out/{{i}}.txt"
    resources: runtime=10, mem_mb=100
    shell: "sleep {sleep}; echo {{wildcards.i}} > {{output}}"
"""


def run_case(label: str, workdir: Path, argv: list, env: dict) -> dict:
    workdir.mkdir(parents=True)
    log = workdir / "calls.log"
    env = {**env, "SHIM_LOG": str(log)}
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True)
    makespan = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{label} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    calls = [line.split(" ", 1)[0] for line in log.read_text().splitlines()] if log.exists() else []
    return {
        "label": label,
        "status": sum(1 for c in calls if c in STATUS_COMMANDS and c != "slurm_status.sh"),
        "status_scripts": calls.count("slurm_status.sh"),
        "submissions": calls.count("sbatch"),
        "makespan": makespan,
    }


def workload_arguments(doc: str, tasks: int):
    """The status-load workload's options (also benchmarks/remote.py's)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=tasks)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--interval", type=int, default=2, help="seconds between status checks (both)")
    return parser.parse_args()


def main() -> None:
    args = workload_arguments(__doc__, tasks=200)

    subprocess.run(["bash", str(REPO / "tests/slurm/start_slurm.sh")], check=True, stdout=subprocess.DEVNULL)
    python = sys.executable
    root = Path(tempfile.mkdtemp(prefix="status-load-"))
    shim_bin = install(root / "bin", ["sbatch", "squeue", "scontrol", "sacct", "scancel"])
    status_script = shim_bin / "slurm_status.sh"
    status_script.write_text(f"#!/bin/bash\necho \"slurm_status.sh $*\" >> \"$SHIM_LOG\"\nexec {REPO}/benchmarks/slurm_status.sh \"$@\"\n")
    status_script.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim_bin}{os.pathsep}{os.environ['PATH']}"}
    snakefile = root / "Snakefile"
    snakefile.write_text(SNAKEFILE.format(tasks=args.tasks, sleep=args.sleep))
    common = ["--snakefile", str(snakefile), "--jobs", str(args.jobs), "--seconds-between-status-checks",
              str(args.interval), "--max-status-checks-per-second", "100", "--latency-wait", "30", "--quiet"]

    site = root / "site"
    site.mkdir()
    (site / "mdflow.yaml").write_text("name: bench\nscheduler: slurm\nqueue: debug\nlogdir: logs\n")
    mdflow_code = ("import sys, mdflow.cli as c, snakemake.cli as s; c.register_executor(); "
                   "sys.argv = ['snakemake'] + sys.argv[1:]; s.main()")
    mdflow = run_case("mdflow", root / "mdflow", [python, "-c", mdflow_code, *common, "--executor", "mdflow"],
                      {**env, "MDFLOW_SITE_PROFILE": str(site)})

    generic = run_case("cluster-generic", root / "generic", [
        python, "-m", "snakemake", *common, "--executor", "cluster-generic",
        "--cluster-generic-submit-cmd", "mkdir -p logs && sbatch --parsable -p debug -t 10 -c 1 --mem 100 -o logs/%j.log",
        "--cluster-generic-status-cmd", str(status_script),
        "--cluster-generic-cancel-cmd", "scancel",
    ], env)

    print(f"{args.tasks} jobs of `sleep {args.sleep}` on the local Slurm, --jobs {args.jobs}, "
          f"status checks every {args.interval} s")
    print(f"{'executor':<18}{'status queries':>16}{'status scripts':>16}{'submissions':>13}{'makespan s':>12}")
    for case in (mdflow, generic):
        print(f"{case['label']:<18}{case['status']:>16}{case['status_scripts']:>16}{case['submissions']:>13}"
              f"{case['makespan']:>12.1f}")
    ratio = generic["status"] / max(mdflow["status"], 1)
    print(f"status-query invocations cluster-generic / mdflow = {ratio:.1f}  "
          f"(cluster-generic also ran its status script {generic['status_scripts']} times)")


if __name__ == "__main__":
    main()
