"""Sampling judged, not assumed: for each replica's time series, where it is equilibrated, its mean with a
correlation-aware error, and plain-words flags where a replica is off its target or sampled too little.
Pure: arrays and numbers in, dicts and sentences out.

Rules (each flag names the number that tripped it):
* not equilibrated: pymbar's detect_equilibration puts the start of the equilibrated part in the second
  half of the run, so the mean is taken over a half that may still drift;
* few samples: fewer than MIN_INDEPENDENT uncorrelated samples (n / g) in the equilibrated part;
* temperature off target: the mean is more than Z_FLAG standard errors AND more than
  TEMPERATURE_SLACK (relative) from the thermostat's target; the slack allows for the small bias of a
  finite timestep with constraints, so long runs with tiny errors are not flagged for it;
* density off: for a periodic box whose volume varies (a barostat), a density outside DENSITY_RANGE g/cm³
  (aqueous systems sit near 1).
"""

import math

import numpy as np

from mdflow.series_statistics import equilibrated_from, mean_and_error

MIN_INDEPENDENT = 10
Z_FLAG = 3.0
TEMPERATURE_SLACK = 0.005
DENSITY_RANGE = (0.9, 1.1)
AMU_PER_NM3_IN_G_PER_CM3 = 1.66053907e-3


def judged(values, times_ps) -> dict:
    """{"mean", "se", "g", "n", "from_frame", "from_ps", "independent", "equilibrated"} over the
    equilibrated part of one series (the raw detect_equilibration start decides `equilibrated`)."""
    values = [float(v) for v in values]
    first_capped = equilibrated_from(values)
    raw_first = equilibrated_from(values, cap=False)
    statistics = mean_and_error(values[first_capped:])
    independent = statistics["n"] / statistics["g"] if statistics["g"] else statistics["n"]
    return {**statistics, "from_frame": first_capped, "from_ps": round(float(times_ps[first_capped]), 6),
            "independent": round(independent, 1), "equilibrated": raw_first <= len(values) // 2}


def density_g_cm3(total_mass_amu: float, volumes_nm3) -> np.ndarray:
    volumes = np.asarray(volumes_nm3, dtype=float)
    return total_mass_amu * AMU_PER_NM3_IN_G_PER_CM3 / volumes


def sampling_flags(name: str, judged_by_words: dict) -> list[str]:
    """One sentence per kind of trouble across a replica's series ({words: statistics}): which are still
    drifting, which have few independent samples (and how many)."""
    drifting = [words for words, stats in judged_by_words.items() if not stats["equilibrated"]]
    few = [f"{words} {stats['independent']:g}" for words, stats in judged_by_words.items()
           if stats["independent"] < MIN_INDEPENDENT]
    out = []
    if drifting:
        out.append(f"{name}: still drifting (equilibrated part starts after half the run; means taken over the "
                   f"second half): {', '.join(drifting)}; run longer")
    if few:
        out.append(f"{name}: fewer than {MIN_INDEPENDENT} independent samples, means are rough: {', '.join(few)}")
    return out


def temperature_flag(name: str, statistics: dict, target_k: float) -> str | None:
    off = statistics["mean"] - target_k
    beyond_error = abs(off) > Z_FLAG * statistics["se"]
    if beyond_error and abs(off) > TEMPERATURE_SLACK * target_k:
        return (f"{name}: temperature {statistics['mean']:.1f} ± {statistics['se']:.1f} K is off the "
                f"thermostat's {target_k:g} K by {off:+.1f} K (more than {Z_FLAG:g} standard errors)")
    return None


def density_flag(name: str, statistics: dict) -> str | None:
    low, high = DENSITY_RANGE
    if not low <= statistics["mean"] <= high:
        return (f"{name}: density {statistics['mean']:.3f} g/cm³ is outside {low:g}–{high:g} g/cm³ "
                "expected of an aqueous box")
    return None


def pooled(replica_statistics: list[dict]) -> dict:
    """Mean over replicas and its error: the spread of the replica means where there are several (they are
    independent), else the one replica's own error."""
    means = [s["mean"] for s in replica_statistics]
    if len(means) == 1:
        return {"mean": means[0], "se": replica_statistics[0]["se"], "replicas": 1}
    spread = float(np.std(means, ddof=1)) / math.sqrt(len(means))
    return {"mean": round(float(np.mean(means)), 6), "se": round(spread, 6), "replicas": len(means)}
