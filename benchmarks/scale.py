"""Planning cost of big campaigns: `mdflow -n` vs plain `snakemake -n` on the same workflow.

Generates campaigns of N systems x 4 replicas x 5 segments (the demo's structures, rows cycled)
under --root (default /tmp/scale), sized to about 1k, 10k, 50k (and, with --sizes, 100k) jobs.
For each size it runs `mdflow -n` (profile local, and the ones named by --profiles) and plain
`snakemake -n` on the same Snakefile and project, one after the other, and prints per size the
jobs planned, CPU seconds (user + sys of the process), ms of CPU per job and peak RSS of each, and
the ratio mdflow / snakemake. Then `mdflow status` on a campaign of 50,000 segments, cold (first
call: structures checked and cached) and warm (cache hit).

    .venv/bin/python benchmarks/scale.py [--sizes 1000,10000,50000] [--profiles local,stampede] \
        [--root /tmp/scale] | tee /tmp/scale/scale.out
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from mdflow.paths import SNAKEFILE

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
REPLICAS, SEGMENTS = 4, 5
DEMO_ROWS = [  # name, structure, forcefield, solvent, segment_ps (the demo's systems)
    ("ala-implicit", "resources/alanine-dipeptide.pdb", "amber99sbildn", "implicit", 50),
    ("ala-water", "resources/alanine-dipeptide.pdb", "amber14", "explicit", 10),
    ("villin", "resources/villin.pdb", "amber99sbildn", "implicit", 5),
]
HEADER = "name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\tph\n"


def jobs_per_system() -> float:
    """Jobs of one system, averaged over DEMO_ROWS: setup, push, analyze; per replica, simulate + pull
    per segment and equilibrate + pull_stage per equilibration stage of the demo's config (its NPT
    stages only for explicit solvent)."""
    stages = yaml.safe_load((REPO / "config/config.yaml").read_text()).get("equilibration") or []
    npt = sum(1 for stage in stages if stage.get("ensemble") == "NPT")
    per_row = [len(stages) - (0 if solvent == "explicit" else npt) for _, _, _, solvent, _ in DEMO_ROWS]
    return 3 + 2 * REPLICAS * (SEGMENTS + sum(per_row) / len(per_row))


def systems_for(jobs: int) -> int:
    """Systems whose campaign has about `jobs` jobs (report and all included)."""
    return max(1, round((jobs - 2) / jobs_per_system()))


def sheet_text(systems: int) -> str:
    rows = []
    for i in range(systems):
        base, structure, forcefield, solvent, segment_ps = DEMO_ROWS[i % len(DEMO_ROWS)]
        rows.append(f"{base}-{i:05d}\t{structure}\t{forcefield}\t{solvent}\t300\t{REPLICAS}\t"
                    f"{segment_ps * SEGMENTS}\t{segment_ps}\t{1000 + i}\t7.0\n")
    return HEADER + "".join(rows)


def make_campaign(root: Path, systems: int) -> Path:
    """A project directory with the demo's config, a generated sheet and the demo's structures."""
    project = root / f"n{systems}"
    if (project / "config/systems.tsv").exists():
        return project
    (project / "config").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "resources", project / "resources", dirs_exist_ok=True)
    config = (REPO / "config/config.yaml").read_text().replace("campaign: demo", f"campaign: scale{systems}")
    (project / "config/config.yaml").write_text(config)
    (project / "config/systems.tsv").write_text(sheet_text(systems))
    return project


def measure(argv: list, cwd: Path, log: Path) -> dict:
    """Run argv; CPU seconds (user+sys), wall seconds and peak RSS (MB) of it and its children."""
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "MDFLOW_PROGRESS": "0", "PYTHONUNBUFFERED": "1"})
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    text = log.read_text(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({code}) in {cwd}; see {log}:\n{text[-2000:]}")
    total = re.search(r"^total\s+(\d+)", text, re.M)
    return {"cpu": usage.ru_utime + usage.ru_stime, "wall": wall, "rss_mb": usage.ru_maxrss / 1024,
            "jobs": int(total.group(1)) if total else None}


def mdflow_argv(profile: str) -> list:
    return [str(VENV_BIN / "mdflow"), "--profile", profile, "-n"]


def snakemake_argv(project: Path) -> list:
    return [str(VENV_BIN / "snakemake"), "--snakefile", str(SNAKEFILE), "-d", str(project),
            "-n", "--cores", "all", "--config", "site_name=local", "site_workdir=scratch"]


def clear_caches(project: Path) -> None:
    shutil.rmtree(project / ".mdflow" / "cache", ignore_errors=True)


def run_size(root: Path, target: int, profiles: list) -> dict:
    systems = systems_for(target)
    project = make_campaign(root, systems)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    row = {"systems": systems}
    for profile in profiles:
        clear_caches(project)  # each side pays for checking the structures once, as a first run does
        row[f"mdflow-{profile}"] = measure(mdflow_argv(profile), project, logs / f"n{systems}.mdflow-{profile}.log")
    clear_caches(project)
    row["snakemake"] = measure(snakemake_argv(project), project, logs / f"n{systems}.snakemake.log")
    return row


def status_timing(root: Path, segments: int) -> dict:
    systems = segments // (REPLICAS * SEGMENTS)
    project = make_campaign(root, systems)
    clear_caches(project)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = [str(VENV_BIN / "mdflow"), "status"]
    cold = measure(argv, project, logs / f"n{systems}.status-cold.log")
    warm = measure(argv, project, logs / f"n{systems}.status-warm.log")
    return {"systems": systems, "segments": segments, "cold": cold, "warm": warm}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="jobs per campaign, comma-separated")
    parser.add_argument("--profiles", default="local", help="mdflow profiles to dry-run, comma-separated")
    parser.add_argument("--root", default="/tmp/scale", type=Path)
    parser.add_argument("--status-segments", default=50000, type=int, help="0: skip the status timing")
    args = parser.parse_args()
    profiles = args.profiles.split(",")
    args.root.mkdir(parents=True, exist_ok=True)
    columns = [f"mdflow-{p}" for p in profiles] + ["snakemake"]
    print(f"{'jobs':>7} {'systems':>7} " + " ".join(f"{c + ' CPU s':>20} {'ms/job':>7} {'RSS MB':>7}" for c in columns)
          + "  " + " ".join(f"{'ratio ' + p:>14}" for p in profiles), flush=True)
    for size in [int(s) for s in args.sizes.split(",")]:
        row = run_size(args.root, size, profiles)
        jobs = row["snakemake"]["jobs"] or row[columns[0]]["jobs"]
        cells = []
        for column in columns:
            m = row[column]
            if m["jobs"] is not None and m["jobs"] != jobs:
                print(f"WARNING: {column} planned {m['jobs']} jobs, snakemake {jobs}", file=sys.stderr)
            cells.append(f"{m['cpu']:>20.1f} {1000 * m['cpu'] / jobs:>7.2f} {m['rss_mb']:>7.0f}")
        ratios = [f"{row[f'mdflow-{p}']['cpu'] / row['snakemake']['cpu']:>14.2f}" for p in profiles]
        print(f"{jobs:>7} {row['systems']:>7} " + " ".join(cells) + "  " + " ".join(ratios), flush=True)
    if args.status_segments:
        s = status_timing(args.root, args.status_segments)
        print(f"mdflow status, {s['segments']} segments ({s['systems']} systems): "
              f"cold {s['cold']['cpu']:.2f} s CPU ({s['cold']['wall']:.2f} s wall, {s['cold']['rss_mb']:.0f} MB), "
              f"warm {s['warm']['cpu']:.2f} s CPU ({s['warm']['wall']:.2f} s wall, {s['warm']['rss_mb']:.0f} MB)",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
