"""The time series mdflow measures: one home for their names, words and units.

Analysis (mdflow/md/analyze.py) plots and judges them, the report tabulates them, `mdflow verify`
compares them, adaptive continuation (mdflow/md/convergence.py) watches some of them; the config and
sheet schemas list CONVERGENCE_METRICS too (a unit test keeps them equal)."""

from typing import NamedTuple


class Metric(NamedTuple):
    key: str          # column in timeseries.csv / energies.csv and key in summary.json
    words: str        # what a chemist reads
    unit: str
    plot: str         # the analysis plot's file stem (<plot>.png)


METRICS = {m.key: m for m in (
    Metric("rmsd_nm", "RMSD to the minimized structure", "nm", "rmsd"),
    Metric("rg_nm", "radius of gyration", "nm", "rg"),
    Metric("potential_kj_mol", "potential energy", "kJ/mol", "energy"),
    Metric("temperature_k", "temperature", "K", "temperature"),
    Metric("density_g_cm3", "density", "g/cm³", "density"),
)}
VERIFIED = ("potential_kj_mol", "temperature_k", "rmsd_nm", "rg_nm")   # density: NPT only, not in the ci campaign
CONVERGENCE_METRICS = ("rmsd_nm", "rg_nm", "potential_kj_mol")


def words_and_unit(key: str) -> tuple[str, str]:
    metric = METRICS[key]
    return metric.words, metric.unit
