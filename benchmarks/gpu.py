"""mdflow on GPUs: simulate vs bare OpenMM at the shipped defaults, and N members on N GPUs.

(a) `simulate_overhead.py --platform CUDA` on villin in water (amber14, PME, ~9.9k atoms) with the
    campaign's shipped cadence (a frame per 1 ps, a checkpoint every 10 minutes): ratio of mdflow's
    ns/day to a bare OpenMM loop (goal >= 0.95).
(b) one segment alone on GPU 0, then N segments at once, member i on GPU i the way an ensemble
    places them (CUDA_VISIBLE_DEVICES=i, its own share of the cores): aggregate ns/day over
    N x the single one (goal >= 0.9). Also, for information, M members sharing GPU 0
    (members_per_gpu > 1).

Without a CUDA platform it says so and exits 0 (`--platform CPU` runs (b) on CPU "devices" to check
the script itself). Output: two tables and the two ratios.

    .venv/bin/pip install -e '.[cuda]'       # openmm-cuda-12 (or openmm-cuda-13 with CUDA 13 drivers)
    .venv/bin/python benchmarks/gpu.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--platform", default="CUDA")
    p.add_argument("--system", default="villin-water")
    p.add_argument("--steps", type=int, default=50_000, help="per run (2 fs each)")
    p.add_argument("--report-interval", type=int, default=500)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--devices", type=int, default=None, help="GPUs to use for (b) (default: all)")
    p.add_argument("--shared", type=int, default=4, help="members sharing GPU 0 in the information row")
    p.add_argument("--member", nargs=2, metavar=("FILES_JSON", "OUT"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def cuda_devices() -> int:
    """GPUs nvidia-smi lists (honouring CUDA_VISIBLE_DEVICES); 0 when there is none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def run_member(files_json: str, out: str, args) -> None:
    """One segment, the way simulate runs it; prints its ns/day as JSON (child process)."""
    from mdflow.md import simulate

    files = json.loads(Path(files_json).read_text())
    Path(out).mkdir(parents=True)
    spec = simulate.SegmentSpec(
        system_xml=files["system_xml"], start_state_xml=files["state_xml"], topology_pdb=files["topology_pdb"],
        out_dcd=f"{out}/seg.dcd", out_csv=f"{out}/seg.csv", out_state=f"{out}/final.xml", temperature_k=300.0,
        friction_per_ps=1.0, timestep_fs=2.0, steps=args.steps, report_interval=args.report_interval,
        checkpoint_interval=None, checkpoint_interval_min=10.0, seed=13, replica=0, segment=0,
        platform=args.platform, cpu_threads=1)
    result = simulate.run_segment(spec, log=lambda *_: None)
    print(json.dumps({"ns_per_day": result["ns_per_day"], "platform": result["platform"],
                      "device": os.environ.get("CUDA_VISIBLE_DEVICES", "-")}))


def concurrent(files_json: Path, work: Path, args, devices: list) -> list:
    """Start one member per entry of `devices` at once; their ns/day."""
    children = []
    for index, device in enumerate(devices):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(device), "OPENMM_CPU_THREADS": "1"}
        argv = [sys.executable, __file__, "--platform", args.platform, "--steps", str(args.steps),
                "--report-interval", str(args.report_interval), "--member", str(files_json),
                str(work / f"run-{time.monotonic_ns()}-{index}")]
        children.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True))
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"a member failed ({child.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1])["ns_per_day"])
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.member:
        run_member(*args.member, args)
        return 0
    from mdflow.md.platforms import available_platforms

    names = available_platforms()
    if args.platform not in names:
        print(f"no OpenMM {args.platform} platform here (platforms: {', '.join(names)}): nothing measured. "
              f"On a GPU machine: pip install -e '.[cuda]' and run again.")
        return 0
    count = cuda_devices() if args.platform == "CUDA" else (args.devices or 2)
    if args.platform == "CUDA" and count == 0:
        print("the CUDA platform is installed but no GPU is visible (nvidia-smi -L lists none): nothing measured")
        return 0
    count = min(count, args.devices or count)

    import simulate_overhead

    print(f"(a) mdflow vs bare OpenMM, {args.system}, platform {args.platform}, shipped defaults")
    simulate_overhead.main(["--platform", args.platform, "--system", args.system, "--steps", str(args.steps),
                            "--report-interval", str(args.report_interval), "--repeats", str(args.repeats)])

    print(f"\n(b) members on {count} device(s), {args.steps} steps each")
    with tempfile.TemporaryDirectory(prefix="mdflow-gpu-") as tmp:
        work = Path(tmp)
        overhead_args = simulate_overhead.parse_args(["--platform", args.platform, "--system", args.system])
        prepared = simulate_overhead.prepare(overhead_args, work)
        files_json = work / "files.json"
        files_json.write_text(json.dumps({k: str(v) for k, v in prepared["files"].items()}))
        single = concurrent(files_json, work, args, [0])[0]
        spread = concurrent(files_json, work, args, list(range(count)))
        shared = concurrent(files_json, work, args, [0] * args.shared)
        print(f"{'case':<34}{'members':>8}{'aggregate ns/day':>18}")
        print(f"{'one member, device 0':<34}{1:>8}{single:>18.1f}")
        print(f"{f'one member per device':<34}{count:>8}{sum(spread):>18.1f}")
        print(f"{f'{args.shared} members sharing device 0':<34}{args.shared:>8}{sum(shared):>18.1f}")
        print(f"ratio aggregate/(N x single) = {sum(spread) / (count * single):.2f} (goal >= 0.9; N = {count})")
        print(f"sharing one device: {sum(shared) / single:.2f} x one member's throughput with {args.shared} members")
    return 0


if __name__ == "__main__":
    sys.exit(main())
