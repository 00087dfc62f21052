"""Per-system analysis with MDTraj: join segments, RMSD to the minimized structure, radius of gyration,
energy and temperature series; CSV tables, PNG plots and a summary JSON."""

import csv
import json
from pathlib import Path

import numpy as np

from mdflow.io_atomic import atomic_write_text

PLOTS = {
    "rmsd": ("rmsd_nm", "RMSD to minimized structure (nm)"),
    "rg": ("rg_nm", "radius of gyration (nm)"),
    "energy": ("potential_kj_mol", "potential energy (kJ/mol)"),
    "temperature": ("temperature_k", "temperature (K)"),
}


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
    return {
        "time_ps": np.array([row["time_ps"] for row in energies]),
        "rmsd_nm": mdtraj.rmsd(trajectory, reference, atom_indices=heavy),
        "rg_nm": mdtraj.compute_rg(trajectory.atom_slice(solute)),
        "potential_kj_mol": np.array([row["potential_kj_mol"] for row in energies]),
        "temperature_k": np.array([row["temperature_k"] for row in energies]),
        "energy_rows": energies,
    }


def _plot(series_by_replica: dict, key: str, ylabel: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    for replica, series in sorted(series_by_replica.items()):
        axes.plot(series["time_ps"], series[key], label=f"replica {replica}", linewidth=1)
    axes.set_xlabel("time (ps)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize="small")
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        figure.savefig(tmp)
        tmp.replace(path)
    except OSError as error:  # e.g. a full disk: leave no half-written plot, name the file
        tmp.unlink(missing_ok=True)
        if error.filename is None and error.errno is not None:
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    finally:
        plt.close(figure)


def _stats(values: np.ndarray) -> dict:
    return {"mean": round(float(np.mean(values)), 6), "std": round(float(np.std(values)), 6),
            "last": round(float(values[-1]), 6)}


def analyze_system(system: str, topology_pdb: str, replicas: dict, outputs: dict,
                   convergence: dict | None = None) -> dict:
    """`replicas`: {replica: [(dcd, csv), ...] in segment order}; `outputs`: paths keyed
    timeseries, energies, summary and each plot name in PLOTS; `convergence`: the last decision of
    adaptive continuation (mdflow.md.convergence), kept in the summary."""
    series = {replica: replica_series(topology_pdb, segments) for replica, segments in replicas.items()}

    lines = ["replica,time_ps,rmsd_nm,rg_nm\n"]
    energy_lines = ["replica,step,time_ps,potential_kj_mol,kinetic_kj_mol,total_kj_mol,temperature_k,volume_nm3\n"]
    for replica, data in sorted(series.items()):
        for t, rmsd, rg in zip(data["time_ps"], data["rmsd_nm"], data["rg_nm"]):
            lines.append(f"{replica},{t:.4f},{rmsd:.5f},{rg:.5f}\n")
        for row in data["energy_rows"]:
            energy_lines.append(",".join([str(replica), str(int(row["step"]))] + [
                f"{row[k]:.6f}" for k in ("time_ps", "potential_kj_mol", "kinetic_kj_mol", "total_kj_mol",
                                          "temperature_k", "volume_nm3")]) + "\n")
    atomic_write_text(outputs["timeseries"], "".join(lines))
    atomic_write_text(outputs["energies"], "".join(energy_lines))

    for name, (key, ylabel) in PLOTS.items():
        _plot(series, key, ylabel, f"{system}: {ylabel.split(' (')[0]}", Path(outputs[name]))

    summary = {
        "system": system,
        "segments": max(len(segments) for segments in replicas.values()),
        "replicas": {
            str(replica): {
                "frames": int(len(data["time_ps"])),
                "simulated_ps": round(float(data["time_ps"][-1]), 6),
                **{key: _stats(data[key]) for key, _ in PLOTS.values()},
            }
            for replica, data in sorted(series.items())
        },
    }
    summary["overall"] = {
        key: round(float(np.mean([s[key]["mean"] for s in summary["replicas"].values()])), 6)
        for key, _ in PLOTS.values()
    }
    if convergence is not None:
        summary["convergence"] = convergence
    atomic_write_text(outputs["summary"], json.dumps(summary, indent=2) + "\n")
    return summary
