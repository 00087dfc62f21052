"""Per-system analysis with MDTraj: join segments, RMSD to the minimized structure, radius of gyration,
RMSF per residue, secondary structure (DSSP) over time, energy, temperature and (periodic boxes) density
series; each judged for equilibration and sampling (mdflow.md.sampling); CSV tables, PNG plots and a
summary JSON."""

import csv
import json
from pathlib import Path

import numpy as np

from mdflow.io_atomic import atomic_write_text
from mdflow.md import plots, sampling
from mdflow.metrics import METRICS, words_and_unit

PLOTS = {m.plot: (m.key, f"{m.words} ({m.unit})") for m in METRICS.values()}
JUDGED = {key: words_and_unit(key) for key in ("potential_kj_mol", "temperature_k", "rmsd_nm", "rg_nm", "density_g_cm3")}
SECONDARY = {"H": "helix", "E": "strand", "C": "coil"}


def solute_indices(topology) -> np.ndarray:
    """Protein (caps included) if any, else everything that is not water or a monatomic ion."""
    protein = topology.select("protein")
    if len(protein):
        return protein
    return np.array([a.index for a in topology.atoms if not a.residue.is_water and a.residue.n_atoms > 1])


def read_energy_rows(csv_paths) -> list[dict]:
    rows = []
    for path in csv_paths:
        with open(path, newline="") as handle:
            rows.extend({k: float(v) for k, v in row.items()} for row in csv.DictReader(handle))
    return rows


def replica_series(topology_pdb: str, segments: list[tuple[str, str]]) -> dict:
    """Time series of one replica from its ordered (dcd, csv) segment files."""
    import mdtraj

    reference = mdtraj.load(topology_pdb)
    solute = solute_indices(reference.topology)
    heavy = [i for i in solute if reference.topology.atom(i).element.symbol != "H"]
    trajectory = mdtraj.join([mdtraj.load_dcd(dcd, top=reference.topology) for dcd, _ in segments])
    energies = read_energy_rows([energy_csv for _, energy_csv in segments])
    if len(energies) != trajectory.n_frames:
        raise ValueError(f"{len(energies)} energy rows but {trajectory.n_frames} trajectory frames")
    volumes = np.array([row.get("volume_nm3", 0.0) for row in energies])
    mass = sum(atom.element.mass for atom in reference.topology.atoms if atom.element is not None)
    return {
        "time_ps": np.array([row["time_ps"] for row in energies]),
        "rmsd_nm": mdtraj.rmsd(trajectory, reference, atom_indices=heavy),
        "rg_nm": mdtraj.compute_rg(trajectory.atom_slice(solute)),
        "potential_kj_mol": np.array([row["potential_kj_mol"] for row in energies]),
        "temperature_k": np.array([row["temperature_k"] for row in energies]),
        # implicit solvent has no box (volume 0): no density rather than a density of infinity
        "density_g_cm3": sampling.density_g_cm3(mass, volumes) if volumes.min() > 0 else None,
        "energy_rows": energies,
        "trajectory": trajectory,
        "heavy": heavy,
    }


def stage_summary(name: str, energy_csv: str, topology_pdb: str) -> dict:
    """Where an equilibration stage ended: its length and the mean temperature, potential energy and (with a
    box) density over its last quarter."""
    import mdtraj

    rows = read_energy_rows([energy_csv])
    tail = rows[-max(1, len(rows) // 4):]
    interval = rows[1]["time_ps"] - rows[0]["time_ps"] if len(rows) > 1 else 0.0
    out = {"name": name, "ps": round(len(rows) * interval, 6)}
    for key in ("temperature_k", "potential_kj_mol"):
        out[f"end_{key}"] = round(float(np.mean([r[key] for r in tail])), 3)
    volumes = [r.get("volume_nm3", 0.0) for r in tail]
    if min(volumes) > 0:
        topology = mdtraj.load_topology(topology_pdb)
        mass = sum(atom.element.mass for atom in topology.atoms if atom.element is not None)
        out["end_density_g_cm3"] = round(float(np.mean(sampling.density_g_cm3(mass, volumes))), 4)
    return out


def rmsf_per_residue(trajectory, heavy, first_frame: int) -> list[tuple[int, str, float]]:
    """(residue number, residue name, RMSF in nm averaged over its heavy atoms) over the frames from
    `first_frame`, after superposing every frame on the first of them by the solute's heavy atoms."""
    import mdtraj

    part = trajectory[first_frame:]
    part.superpose(part, 0, atom_indices=heavy)
    per_atom = mdtraj.rmsf(part, None, atom_indices=heavy)
    by_residue: dict = {}
    for index, value in zip(heavy, per_atom):
        residue = part.topology.atom(index).residue
        by_residue.setdefault((residue.index, residue.resSeq, residue.name), []).append(float(value))
    return [(number, name, float(np.mean(values))) for (_, number, name), values in sorted(by_residue.items())]


def secondary_fractions(trajectory) -> dict[str, np.ndarray] | None:
    """Fraction of protein residues in helix, strand and coil per frame (MDTraj's simplified DSSP), or
    None without protein residues DSSP can assign (e.g. a capped single residue)."""
    import mdtraj

    protein = trajectory.topology.select("protein")
    if not len(protein):
        return None
    codes = mdtraj.compute_dssp(trajectory.atom_slice(protein), simplified=True)
    assigned = codes != "NA"
    counts = assigned.sum(axis=1)
    if not counts.any():
        return None
    return {name: (codes == code).sum(axis=1) / np.maximum(counts, 1) for code, name in SECONDARY.items()}


def _stats(values: np.ndarray) -> dict:
    return {"mean": round(float(np.mean(values)), 6), "std": round(float(np.std(values)), 6),
            "last": round(float(values[-1]), 6)}


def judge_replica(name: str, series: dict, target_temperature_k: float | None) -> tuple[dict, list[str]]:
    """{key: judged statistics} of one replica's series and the flags they raise (mdflow.md.sampling). A
    density that cannot change (no barostat) is recorded, not judged."""
    judged = {key: sampling.judged(series[key], series["time_ps"]) for key in JUDGED
              if series.get(key) is not None}
    density = judged.get("density_g_cm3")
    if density is not None and float(np.ptp(series["density_g_cm3"])) <= 1e-9 * density["mean"]:
        judged["density_g_cm3"] = {"mean": density["mean"], "se": 0.0, "fixed_volume": True}
    flags = sampling.sampling_flags(name, {JUDGED[key][0]: stats for key, stats in judged.items()
                                           if not stats.get("fixed_volume")})
    if target_temperature_k is not None:
        flags.append(sampling.temperature_flag(name, judged["temperature_k"], target_temperature_k))
    if "density_g_cm3" in judged and not judged["density_g_cm3"].get("fixed_volume"):
        flags.append(sampling.density_flag(name, judged["density_g_cm3"]))
    return judged, [f for f in flags if f]


def _write_tables(series: dict, rmsf_rows: dict, secondary: dict, outputs: dict) -> None:
    lines = ["replica,time_ps,rmsd_nm,rg_nm,density_g_cm3\n"]
    energy_lines = ["replica,step,time_ps,potential_kj_mol,kinetic_kj_mol,total_kj_mol,temperature_k,volume_nm3\n"]
    for replica, data in sorted(series.items()):
        density = data["density_g_cm3"] if data["density_g_cm3"] is not None else [None] * len(data["time_ps"])
        for t, rmsd, rg, rho in zip(data["time_ps"], data["rmsd_nm"], data["rg_nm"], density):
            lines.append(f"{replica},{t:.4f},{rmsd:.5f},{rg:.5f},{'' if rho is None else f'{rho:.5f}'}\n")
        for row in data["energy_rows"]:
            energy_lines.append(",".join([str(replica), str(int(row["step"]))] + [
                f"{row[k]:.6f}" for k in ("time_ps", "potential_kj_mol", "kinetic_kj_mol", "total_kj_mol",
                                          "temperature_k", "volume_nm3")]) + "\n")
    atomic_write_text(outputs["timeseries"], "".join(lines))
    atomic_write_text(outputs["energies"], "".join(energy_lines))
    atomic_write_text(outputs["rmsf_table"], "replica,residue,name,rmsf_nm\n" + "".join(
        f"{replica},{number},{name},{value:.5f}\n" for replica, rows in sorted(rmsf_rows.items())
        for number, name, value in rows))
    secondary_lines = ["replica,time_ps,helix,strand,coil\n"]
    for replica, fractions in sorted(secondary.items()):
        if fractions is not None:
            for i, t in enumerate(series[replica]["time_ps"]):
                secondary_lines.append(f"{replica},{t:.4f}," + ",".join(
                    f"{fractions[k][i]:.4f}" for k in ("helix", "strand", "coil")) + "\n")
    atomic_write_text(outputs["secondary_table"], "".join(secondary_lines))


def analyze_system(system: str, topology_pdb: str, replicas: dict, outputs: dict,
                   convergence: dict | None = None, target_temperature_k: float | None = None,
                   stages: dict | None = None, protocol: dict | None = None) -> dict:
    """`replicas`: {replica: [(dcd, csv), ...] in segment order}; `outputs`: paths keyed timeseries,
    energies, summary, rmsf_table, secondary_table, each plot name in PLOTS, rmsf and secondary;
    `convergence`: the last decision of adaptive continuation (mdflow.md.convergence), kept in the
    summary; `target_temperature_k`: the thermostat's, which each replica's mean temperature is judged by."""
    series = {replica: replica_series(topology_pdb, segments) for replica, segments in replicas.items()}
    judged, flags = {}, []
    for replica, data in sorted(series.items()):
        judged[replica], raised = judge_replica(f"{system} replica {replica}", data, target_temperature_k)
        flags += raised
    rmsf_rows = {replica: rmsf_per_residue(data["trajectory"], data["heavy"], judged[replica]["rmsd_nm"]["from_frame"])
                 for replica, data in series.items()}
    secondary = {replica: secondary_fractions(data["trajectory"]) for replica, data in series.items()}
    _write_tables(series, rmsf_rows, secondary, outputs)

    for name, (key, ylabel) in PLOTS.items():
        plots.time_series(series, key, ylabel, f"{system}: {ylabel.split(' (')[0]}", Path(outputs[name]), judged,
                          empty_note="no periodic box (implicit solvent): no density")
    plots.rmsf(rmsf_rows, f"{system}: RMSF per residue (equilibrated frames)", Path(outputs["rmsf"]))
    plots.secondary(secondary, {r: d["time_ps"] for r, d in series.items()}, f"{system}: secondary structure",
                    Path(outputs["secondary"]))

    summary = {
        "system": system,
        "segments": max(len(segments) for segments in replicas.values()),
        "replicas": {
            str(replica): {
                "frames": int(len(data["time_ps"])),
                "simulated_ps": round(float(data["time_ps"][-1]), 6),
                **{key: _stats(data[key]) for key, _ in PLOTS.values() if data[key] is not None},
                "judged": judged[replica],
                "secondary_structure": (None if secondary[replica] is None else
                                        {k: round(float(v.mean()), 4) for k, v in secondary[replica].items()}),
                "rmsf_max": max(rmsf_rows[replica], key=lambda row: row[2], default=None),
            }
            for replica, data in sorted(series.items())
        },
    }
    summary["overall"] = {
        key: round(float(np.mean([s[key]["mean"] for s in summary["replicas"].values()])), 6)
        for key, _ in PLOTS.values() if all(key in s for s in summary["replicas"].values())
    }
    summary["pooled"] = {key: sampling.pooled([judged[r][key] for r in sorted(judged)])
                         for key in JUDGED if all(key in judged[r] for r in judged)}
    summary["target_temperature_k"] = target_temperature_k
    summary["protocol"] = {**(protocol or {}), "replicas": {
        str(replica): [stage_summary(name, path, topology_pdb) for name, path in pairs]
        for replica, pairs in sorted((stages or {}).items())}}
    summary["flags"] = flags
    if convergence is not None:
        summary["convergence"] = convergence
    atomic_write_text(outputs["summary"], json.dumps(summary, indent=2) + "\n")
    return summary
