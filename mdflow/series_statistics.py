"""Statistics of one MD time series: where it is equilibrated and the standard error of its mean with the
correlation of successive frames taken into account (pymbar.timeseries). Used by `mdflow verify` and by
the analysis."""

import contextlib
import io
import math


def _timeseries():
    """pymbar.timeseries, imported without the banner pymbar prints (JAX not found) or its warnings."""
    import logging

    logging.getLogger("pymbar").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from pymbar import timeseries
    return timeseries


def equilibrated_from(values: list[float], cap: bool = True) -> int:
    """Index of the first equilibrated frame: pymbar's detect_equilibration (the start that leaves the
    most uncorrelated samples), but with `cap` never more than half the frames (its optimum is flat and
    noisy on short series and would throw away good data)."""
    import numpy as np

    if len(values) < 4 or max(values) == min(values):
        return 0
    with contextlib.redirect_stdout(io.StringIO()):
        first, _, _ = _timeseries().detect_equilibration(np.asarray(values, dtype=float), nskip=1)
    return min(int(first), len(values) // 2) if cap else int(first)


def mean_and_error(values: list[float]) -> dict:
    """{"mean", "se", "g", "n"}: the mean, its standard error with the correlation of successive frames
    taken into account (SE = std * sqrt(g / n), g = statistical inefficiency), g and n."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    n = len(data)
    if n < 2 or float(data.std()) == 0.0:
        g = 1.0
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            g = float(_timeseries().statistical_inefficiency(data, fast=False))
    se = float(data.std(ddof=1)) * math.sqrt(g / n) if n > 1 else 0.0
    return {"mean": round(float(data.mean()), 6), "se": round(se, 6), "g": round(g, 3), "n": n}
