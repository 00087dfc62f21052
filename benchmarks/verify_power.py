"""Does `mdflow verify` judge physics, not chaos? False alarms and power of its statistical checks (issue 13).

Every run below is the ci campaign (`mdflow --profile ci`, config/ci.yaml + config/ci_systems.tsv) in
its own fresh project, judged with `mdflow verify --profile ci --skip-exact` against one reference,
i.e. as a machine with another CPU is judged (exact checksums skipped, statistics and widened energy
tolerances only).

* reference: N runs that differ only by the velocity seed (`velocity_seed_offset` 0..N-1); written with
  `mdflow verify --update --repeat ...` (run 0 gives the checksums and time series, all N the spread).
* (a) false alarms: M more runs that differ only by chaos (offsets 1000..), each judged: goal 0 FAILs.
* (b) power: runs with a real physics change, each must FAIL. Printed per kind of check: the model
  checks (force-field parameters of system.xml, the integrator each replica ran with) and the
  statistical ones (means of the time series) separately, so the table shows what each can see:
  thermostat at 310 K instead of 300 K (sheet temperature_k);
  a 10 % longer timestep (timestep_fs 2.2 with the same steps, frames and checkpoints per segment);
  changed force-field files (every system amber99sbildn <-> amber14, i.e. other protein and
  water/implicit-solvent XML files);
  charges scaled by 5 % (every particle charge in the setup's system.xml, after setup, before simulate).

    python benchmarks/verify_power.py [--reference-runs 20] [--chaos-runs 20] [--workdir DIR]
                                      [--write-reference]   (copy the reference to config/ci_reference.json)

Finished runs are kept under --workdir and not run again, so an interrupted benchmark resumes.
Each run takes ~40 s on 2 cores.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MDFLOW = [sys.executable, "-m", "mdflow.cli"]


def user_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "OPENMM_CPU_THREADS"}


def mdflow(project: Path, *args, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([*MDFLOW, *args], cwd=project, env=user_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"mdflow {' '.join(args)} failed in {project}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


def fresh_project(path: Path, sheet_edit=None, config_edit=None) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    for name in ("config", "resources"):
        shutil.copytree(REPO / name, path / name)
    if config_edit:
        config = path / "config/ci.yaml"
        config.write_text(yaml.safe_dump(config_edit(yaml.safe_load(config.read_text())), sort_keys=False))
    if sheet_edit:
        sheet = path / "config/ci_systems.tsv"
        sheet.write_text(sheet_edit(sheet.read_text()))
    return path


def results_of(project: Path) -> Path:
    return project / yaml.safe_load((project / "config/ci.yaml").read_text())["results"]


def campaign_run(path: Path, *args, sheet_edit=None, config_edit=None, before_simulate=None) -> Path:
    """A finished ci campaign in `path` (kept from an earlier call when it finished then)."""
    if (path / ".finished").exists():
        return path
    project = fresh_project(path, sheet_edit, config_edit)
    if before_simulate:
        systems = [line.split("\t")[0] for line in (project / "config/ci_systems.tsv").read_text().splitlines()[1:]]
        mdflow(project, "--profile", "ci", *args,
               *[str((results_of(project) / s / "setup/system.xml").relative_to(project)) for s in systems])
        before_simulate(project, systems)
    began = time.time()
    mdflow(project, "--profile", "ci", *args)
    (project / ".finished").write_text(f"{time.time() - began:.1f} s\n")
    return project


def judge(project: Path, reference: Path) -> dict:
    result = mdflow(project, "verify", "--profile", "ci", "--reference", str(reference), "--skip-exact", check=False)
    if result.returncode not in (0, 1):
        raise SystemExit(f"verify failed in {project}:\n{result.stderr}")
    zs = []
    for line in result.stdout.splitlines():
        match = re.match(r"(\S+ \S+)\s.*\sz ([+-][\d.]+|[+-]?inf), limit ([\d.]+)", line)
        if match:
            zs.append((abs(float(match.group(2))), float(match.group(3)), match.group(1)))
    failed = [line.split()[0] + " " + line.split()[1] for line in result.stdout.splitlines()
              if "  FAIL" in line and not line.startswith(("quantity", " "))]
    worst = max(zs, default=(0.0, 0.0, "-"))
    by_model = [q for q in failed if q.endswith((" model", " integrator"))]
    by_statistics = [q for q in failed if q.endswith(".mean")]
    return {"verdict": "FAIL" if result.returncode else "pass", "failed": failed, "worst": worst,
            "by_model": by_model, "by_statistics": by_statistics,
            "summary": result.stdout.strip().splitlines()[-1]}


# -- the physics changes -----------------------------------------------------------------------------

def sheet_column(name: str, change):
    def edit(text: str) -> str:
        header, *rows = text.strip().splitlines()
        column = header.split("\t").index(name)
        cells = [row.split("\t") for row in rows]
        for row in cells:
            row[column] = change(row[column])
        return "\n".join([header, *("\t".join(row) for row in cells)]) + "\n"
    return edit


def longer_timestep(text: str) -> str:
    """Same steps per segment with 2.2 fs steps: lengths scaled by 1.1 (frames and checkpoints alike)."""
    return sheet_column("segment_ps", lambda v: f"{float(v) * 1.1:g}")(
        sheet_column("length_ps", lambda v: f"{float(v) * 1.1:g}")(text))


def longer_stages(config: dict) -> dict:
    """Equilibration stages of the same steps with 2.2 fs steps: their lengths scaled by 1.1."""
    config["equilibration"] = [{**stage, "ps": round(stage["ps"] * 1.1, 6)} for stage in config["equilibration"]]
    return config


def scale_charges(factor: float):
    def edit(project: Path, systems: list) -> None:
        import openmm

        for name in systems:
            path = results_of(project) / name / "setup/system.xml"
            system = openmm.XmlSerializer.deserialize(path.read_text())
            for force in system.getForces():
                if isinstance(force, openmm.NonbondedForce):
                    for i in range(force.getNumParticles()):
                        charge, sigma, epsilon = force.getParticleParameters(i)
                        force.setParticleParameters(i, charge * factor, sigma, epsilon)
                    for i in range(force.getNumExceptions()):
                        a, b, product, sigma, epsilon = force.getExceptionParameters(i)
                        force.setExceptionParameters(i, a, b, product * factor**2, sigma, epsilon)
                elif isinstance(force, openmm.GBSAOBCForce):
                    for i in range(force.getNumParticles()):
                        charge, radius, scale = force.getParticleParameters(i)
                        force.setParticleParameters(i, charge * factor, radius, scale)
            path.write_text(openmm.XmlSerializer.serialize(system))
    return edit


CHANGES = {
    "thermostat at 310 K instead of 300 K": dict(sheet_edit=sheet_column("temperature_k", lambda v: "310")),
    "timestep 10 % too long (2.2 fs)": dict(args=("--config", "timestep_fs=2.2", "report_interval_ps=0.022",
                                                  "checkpoint_interval_ps=0.11"), sheet_edit=longer_timestep,
                                            config_edit=longer_stages),
    "force-field files changed (amber99sbildn <-> amber14)": dict(sheet_edit=sheet_column(
        "forcefield", lambda v: {"amber99sbildn": "amber14", "amber14": "amber99sbildn"}[v])),
    "charges scaled by 5 %": dict(before_simulate=scale_charges(1.05)),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-runs", type=int, default=20)
    parser.add_argument("--chaos-runs", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mdflow-verify-power"))
    parser.add_argument("--write-reference", action="store_true", help="copy the reference to config/ci_reference.json")
    args = parser.parse_args()
    work = args.workdir.resolve()

    began = time.time()
    runs = [campaign_run(work / f"reference/{k:02d}", "--config", f"velocity_seed_offset={k}")
            for k in range(args.reference_runs)]
    reference = work / "reference.json"
    mdflow(runs[0], "verify", "--profile", "ci", "--update", "--reference", str(reference),
           *[part for run in runs[1:] for part in ("--repeat", str(run))])
    if args.write_reference:
        shutil.copyfile(reference, REPO / "config/ci_reference.json")
    quantities = json.loads(reference.read_text())["quantities"]
    statistical = sum(1 for q in quantities if q["tolerance"].get("statistical"))
    print(f"reference: {args.reference_runs} ci runs differing only by velocity seed; {len(quantities)} quantities, "
          f"{statistical} statistical (false-alarm rate 1 % per campaign, Bonferroni over {statistical})")

    print("\n(a) false alarms: runs that differ only by chaos (another velocity seed), judged against the reference")
    print(f"{'run':>4} {'seed offset':>12} {'verdict':>8} {'largest |z|':>12} {'limit':>6}  quantity")
    alarms = 0
    for k in range(args.chaos_runs):
        project = campaign_run(work / f"chaos/{k:02d}", "--config", f"velocity_seed_offset={1000 + k}")
        verdict = judge(project, reference)
        alarms += verdict["verdict"] == "FAIL"
        z, limit, quantity = verdict["worst"]
        print(f"{k:>4} {1000 + k:>12} {verdict['verdict']:>8} {z:>12.2f} {limit:>6.2f}  {quantity}"
              + (f"   FAILED: {', '.join(verdict['failed'])}" if verdict["failed"] else ""))
    print(f"false alarms: {alarms} of {args.chaos_runs} runs (goal 0)")

    print("\n(b) power: runs with a real physics change, each must FAIL")
    print(f"{'change':<55} {'verdict':>8} {'model':>6} {'stats':>6} {'largest |z|':>12}  failed quantities (first 4)")
    caught = caught_by_statistics = 0
    for name, change in CHANGES.items():
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        project = campaign_run(work / f"power/{slug}", *change.get("args", ()), sheet_edit=change.get("sheet_edit"),
                               config_edit=change.get("config_edit"), before_simulate=change.get("before_simulate"))
        verdict = judge(project, reference)
        caught += verdict["verdict"] == "FAIL"
        caught_by_statistics += bool(verdict["by_statistics"])
        print(f"{name:<55} {verdict['verdict']:>8} {len(verdict['by_model']):>6} {len(verdict['by_statistics']):>6} "
              f"{verdict['worst'][0]:>12.1f}  "
              f"{', '.join(verdict['failed'][:4])}")
    print(f"caught: {caught} of {len(CHANGES)} physics changes (goal all); by the statistical checks alone: "
          f"{caught_by_statistics} of {len(CHANGES)}")
    print(f"\n{args.reference_runs + args.chaos_runs + len(CHANGES)} campaign runs, {time.time() - began:.0f} s")
    return 0 if alarms == 0 and caught == len(CHANGES) else 1


if __name__ == "__main__":
    sys.exit(main())
