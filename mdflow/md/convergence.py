"""Adaptive continuation: has a system's metric stopped drifting, and should one more segment run?

Pure: per-replica values per segment in, a decision dict (written as JSON, read by people and by the
workflow) out. The drift of one replica is |mean over the last `window` segments - mean over the
`window` segments before|, frames pooled within each window; a system counts as converged only when
every replica's drift is at most the tolerance.
"""

import math
from dataclasses import dataclass

import numpy as np

from mdflow.metrics import CONVERGENCE_METRICS


CONVERGED = "converged"
DRIFTING = "drift above tolerance"
TOO_FEW = "too few segments to compare"
MAX_REACHED = "maximum reached"


@dataclass(frozen=True)
class Criterion:
    metric: str
    tolerance: float
    window_segments: int
    max_segments: int

    def __post_init__(self):
        if self.metric not in CONVERGENCE_METRICS:
            raise ValueError(f"unknown convergence metric {self.metric!r}; expected one of {', '.join(CONVERGENCE_METRICS)}")
        if not self.tolerance > 0 or self.window_segments < 1 or self.max_segments < 1:
            raise ValueError(f"invalid convergence criterion {self}")


def compared_segments(last: int, window: int) -> tuple[list[int], list[int]]:
    """(previous window, last window) of segment numbers for the decision after segment `last`;
    the previous window is empty (or short) when fewer than 2 × window segments exist."""
    latest = list(range(max(0, last - window + 1), last + 1))
    previous = list(range(max(0, latest[0] - window), latest[0]))
    return previous, latest


def window_means(per_segment: list, window: int) -> tuple[float, float] | None:
    """(mean of the window before, mean of the last window) of one replica's per-segment values,
    or None when there are fewer than 2 × window segments."""
    if len(per_segment) < 2 * window:
        return None
    previous = np.concatenate([np.asarray(v, dtype=float).ravel() for v in per_segment[-2 * window:-window]])
    latest = np.concatenate([np.asarray(v, dtype=float).ravel() for v in per_segment[-window:]])
    return float(np.mean(previous)), float(np.mean(latest))


def decide(per_replica: dict, criterion: Criterion, segments_done: int) -> dict:
    """The decision after `segments_done` segments from {replica: [values of segment, ...]} (the
    segments in order, at least the last 2 × window of them)."""
    means = {str(r): window_means(values, criterion.window_segments) for r, values in sorted(per_replica.items())}
    comparable = bool(means) and all(m is not None for m in means.values())
    drift = {r: abs(m[1] - m[0]) for r, m in means.items()} if comparable else {}
    largest = max(drift.values()) if drift else None
    converged = largest is not None and math.isfinite(largest) and largest <= criterion.tolerance
    at_cap = segments_done >= criterion.max_segments
    if converged:
        reason = CONVERGED
    elif at_cap:
        reason = MAX_REACHED
    else:
        reason = DRIFTING if comparable else TOO_FEW
    previous, latest = compared_segments(segments_done - 1, criterion.window_segments)
    return {
        "metric": criterion.metric,
        "window_segments": criterion.window_segments,
        "compared": ({"previous": [f"{k:03d}" for k in previous], "last": [f"{k:03d}" for k in latest]}
                     if comparable else None),
        "tolerance": criterion.tolerance,
        "segments": segments_done,
        "max_segments": criterion.max_segments,
        "means": {r: ({"previous": m[0], "last": m[1]} if m else None) for r, m in means.items()},
        "drift": drift,
        "max_drift": largest,
        "converged": converged,
        "continue": not converged and not at_cap,
        "reason": reason,
    }


def describe(decision: dict) -> str:
    """One line for logs: what was compared and what follows."""
    what = "one more segment" if decision["continue"] else "no more segments"
    if decision["max_drift"] is None:
        drift = "no drift yet"
    else:
        drift = (f"largest drift of {decision['metric']} {decision['max_drift']:.6g} "
                 f"(tolerance {decision['tolerance']:g})")
    return (f"after {decision['segments']} of at most {decision['max_segments']} segments: {drift}; "
            f"{decision['reason']} -> {what}")
