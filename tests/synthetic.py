"""Synthetic time series for the statistics tests."""

import math
import random


def ar1(mean: float, sd: float, n: int, seed: int, phi: float) -> list[float]:
    """An AR(1) series: successive values correlated (by phi) like successive MD frames."""
    rng, value, out = random.Random(seed), 0.0, []
    for _ in range(n):
        value = phi * value + math.sqrt(1 - phi * phi) * rng.gauss(0.0, sd)
        out.append(mean + value)
    return out
