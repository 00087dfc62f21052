"""Sampling judged, not assumed: equilibration, independent samples and targets, on series whose answer
is known (an AR(1) process with a chosen mean and correlation, a transient before it)."""


import numpy as np
import pytest

import synthetic
from mdflow.md.sampling import density_g_cm3, density_flag, judged, pooled, sampling_flags, temperature_flag


def ar1(mean: float, sd: float, n: int, seed: int, phi: float = 0.5) -> list[float]:
    return synthetic.ar1(mean, sd, n, seed, phi)


def times(n: int, dt: float = 0.02) -> np.ndarray:
    return np.arange(1, n + 1) * dt


def test_an_equilibrated_series_is_judged_over_all_its_frames_and_passes():
    series = ar1(300.0, 5.0, 400, seed=1)
    stats = judged(series, times(400))
    assert stats["equilibrated"] and stats["independent"] > 50 and stats["from_frame"] < 100
    assert stats["mean"] == pytest.approx(300.0, abs=4 * stats["se"])
    assert sampling_flags("x replica 0", {"temperature": stats}) == []
    assert temperature_flag("x replica 0", stats, 300.0) is None


def test_a_run_still_heating_is_flagged_in_words():
    heating = [150.0 + 150.0 * i / 100 for i in range(100)]  # drifts the whole run
    stats = judged(heating, times(100))
    assert not stats["equilibrated"] and stats["from_frame"] == 50 and stats["from_ps"] == pytest.approx(1.02)
    (drifting, few) = sampling_flags("villin replica 0", {"temperature": stats})
    assert drifting.startswith("villin replica 0: still drifting") and drifting.endswith("temperature; run longer")
    assert "fewer than 10 independent samples" in few and "temperature " in few


def test_temperature_is_judged_by_its_error_and_a_slack_for_the_integrator():
    close = {"mean": 301.0, "se": 0.1}    # 10 standard errors, but within 0.5 % of 300 K
    assert temperature_flag("a", close, 300.0) is None
    noisy = {"mean": 290.0, "se": 5.0}    # 3.3 % off, but only 2 standard errors
    assert temperature_flag("a", noisy, 300.0) is None
    assert temperature_flag("a", {"mean": 290.0, "se": 1.0}, 300.0) == (
        "a: temperature 290.0 ± 1.0 K is off the thermostat's 300 K by -10.0 K (more than 3 standard errors)")


def test_density_of_a_water_box_and_its_flag():
    # 1000 waters (18.015 amu) in 30 nm³: 0.997 g/cm³
    assert density_g_cm3(18015.0, [30.0])[0] == pytest.approx(0.997, abs=0.001)
    assert density_flag("w", {"mean": 0.99}) is None
    assert "outside 0.9–1.1 g/cm³" in density_flag("w", {"mean": 0.7})


def test_pooled_mean_uses_the_spread_of_independent_replicas():
    assert pooled([{"mean": 1.0, "se": 0.1}]) == {"mean": 1.0, "se": 0.1, "replicas": 1}
    both = pooled([{"mean": 1.0, "se": 0.01}, {"mean": 2.0, "se": 0.01}])
    assert both["mean"] == 1.5 and both["se"] == pytest.approx(0.5) and both["replicas"] == 2
