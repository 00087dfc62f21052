"""Driving a site over SSH vs on the site itself: the status-load workload (benchmarks/status_load.py)
through mdflow's executor twice on the local test Slurm, once as a local site and once as a remote
site reached over the test sshd (tests/ssh/start_sshd.sh) as the account mdsitea.

Every scheduler command on the site (sbatch, squeue, scontrol, scancel) and every ssh/rsync this
host starts go through counting shims (tests/shims/shim.py). Printed per case: status queries,
submissions, ssh processes, ssh processes per status query, makespan; and the makespan ratio
remote / local (goal: at most 1.2).

    .venv/bin/python benchmarks/remote.py [--tasks 100] [--jobs 20] [--interval 2]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/shims"))
from shim import install  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from status_load import SNAKEFILE, workload_arguments  # noqa: E402  (the same workload)

SSH_STATE = Path("/tmp/mdflow-sshd")
MDFLOW = ("import sys, mdflow.cli as c, snakemake.cli as s; c.register_executor(); "
          "sys.argv = ['snakemake'] + sys.argv[1:]; s.main()")


def calls_in(log: Path) -> list:
    return [line.split(" ", 1)[0] for line in log.read_text().splitlines()] if log.exists() else []


def run_case(label: str, workdir: Path, site: dict, args, env: dict, site_log: Path, local_log: Path) -> dict:
    (workdir / "site").mkdir(parents=True)
    (workdir / "site/mdflow.yaml").write_text(json.dumps(site))
    (workdir / "Snakefile").write_text(SNAKEFILE.format(tasks=args.tasks, sleep=args.sleep))
    argv = [sys.executable, "-c", MDFLOW, "--snakefile", "Snakefile", "--jobs", str(args.jobs),
            "--seconds-between-status-checks", str(args.interval), "--max-status-checks-per-second", "100",
            "--latency-wait", "30", "--quiet", "--executor", "mdflow"]
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=workdir, capture_output=True, text=True,
                            env={**env, "MDFLOW_SITE_PROFILE": str(workdir / "site"), "SHIM_LOG": str(local_log)})
    makespan = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{label} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    missing = [i for i in range(args.tasks) if not (workdir / f"out/{i}.txt").exists()]
    if missing:
        sys.exit(f"{label}: outputs missing here: {missing[:5]}")
    site_calls, local_calls = calls_in(site_log), calls_in(local_log)
    return {"label": label, "status": sum(site_calls.count(c) for c in ("squeue", "scontrol", "sacct")),
            "submissions": site_calls.count("sbatch"), "ssh": local_calls.count("ssh"),
            "rsync": local_calls.count("rsync"), "makespan": makespan}


def main() -> None:
    args = workload_arguments(__doc__, tasks=100)

    subprocess.run(["bash", str(REPO / "tests/slurm/start_slurm.sh")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["bash", str(REPO / "tests/ssh/start_sshd.sh")], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "MDFLOW_TEST_SSH_STATE": str(SSH_STATE)})
    root = Path(tempfile.mkdtemp(prefix="remote-bench-"))
    root.chmod(0o755)
    scheduler_bin = install(root / "site-bin", ["sbatch", "squeue", "scontrol", "sacct", "scancel"])
    local_bin = install(root / "local-bin", ["ssh", "rsync"])
    logs = root / "logs"
    logs.mkdir(mode=0o777)
    logs.chmod(0o777)  # the site account appends its calls here
    env = {**os.environ, "PATH": f"{local_bin}{os.pathsep}{scheduler_bin}{os.pathsep}{os.environ['PATH']}"}
    base = {"scheduler": "slurm", "queue": "debug", "logdir": "logs"}

    local_site_log = logs / "local-site.log"
    local = run_case("local site", root / "local", {"name": "here", **base}, args,
                     env, local_site_log, local_site_log)

    remote_site_log = logs / "remote-site.log"
    remote_dir = f"remote-bench-{os.getpid()}"
    remote = run_case("remote (ssh)", root / "remote", {
        "name": "there", **base, "host": "127.0.0.1", "port": 2222, "user": "mdsitea",
        "ssh_options": [f"IdentityFile={SSH_STATE}/id_ed25519", "IdentitiesOnly=yes",
                        f"UserKnownHostsFile={SSH_STATE}/known_hosts"],
        "python": str(SSH_STATE / "site-python/bin/python"), "remote_dir": remote_dir,
        "login_env": [f"export PATH={scheduler_bin}:$PATH", f"export SHIM_LOG={remote_site_log}"]},
        args, env, remote_site_log, logs / "remote-local.log")
    subprocess.run(["ssh", "-o", f"IdentityFile={SSH_STATE}/id_ed25519", "-o", "IdentitiesOnly=yes", "-o",
                    f"UserKnownHostsFile={SSH_STATE}/known_hosts", "-p", "2222", "mdsitea@127.0.0.1",
                    "rm", "-rf", remote_dir], check=False)

    print(f"{args.tasks} jobs of `sleep {args.sleep}` on the local Slurm through mdflow's executor, --jobs {args.jobs}, "
          f"status checks every {args.interval} s")
    print(f"{'site':<16}{'status queries':>16}{'submissions':>13}{'ssh':>7}{'rsync':>7}{'ssh/query':>11}{'makespan s':>12}")
    for case in (local, remote):
        per_query = case["ssh"] / max(case["status"], 1)
        print(f"{case['label']:<16}{case['status']:>16}{case['submissions']:>13}{case['ssh']:>7}{case['rsync']:>7}"
              f"{per_query:>11.1f}{case['makespan']:>12.1f}")
    print(f"makespan remote / local = {remote['makespan'] / local['makespan']:.2f}  (goal <= 1.2)")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
