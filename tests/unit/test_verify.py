"""verify's pure parts: tolerance checks, the statistical judgement, comparison with a reference, the
table (golden)."""

import math

import pytest

import synthetic
from golden import assert_golden
from mdflow.errors import MdflowError
from mdflow.verify import (EXACT, MODEL, STATISTICAL, Measured, across_machines, bitwise_reproducible, compare, cpu_model,
                           cpu_vector_flags, equilibrated_from, mean_and_error, platforms_used, reference_from, render,
                           within, z_limit)

HERE = {"openmm": "8.6.1", "pdbfixer": "1.12.0", "numpy": "2.4.6", "platform": "CPU",
        "cpu_flags": ["sse4_1", "avx", "avx2", "fma"], "cpu_model": "GenuineIntel family 6 model 143: Intel Xeon"}
SHA_A, SHA_B = "a" * 64, "b" * 64
INTEGRATOR = {"type": "LangevinMiddleIntegrator", "temperature_k": 300.0, "friction_per_ps": 1.0, "step_fs": 2.0}
MODEL_300 = {"NonbondedForce/Particles/Particle q": 16.1, "Particles/Particle count": 22}


def correlated(mean: float, sd: float, n: int, seed: int, phi: float = 0.8) -> list[float]:
    return synthetic.ar1(mean, sd, n, seed, phi)


def reference(environment=HERE):
    return {"environment": environment, "quantities": [
        {"quantity": "ala/rep0 frames", "expected": 20, "tolerance": EXACT},
        {"quantity": "ala/setup potential_after_kj_mol", "expected": -100.0, "tolerance": {"abs": 0.01, "rel": 1e-4}},
        {"quantity": "ala/rep0/seg000.dcd sha256", "expected": SHA_A, "tolerance": EXACT},
        {"quantity": "ala/rep0 temperature_k.mean", "tolerance": STATISTICAL,
         "expected": {"mean": 300.0, "se": 1.0, "g": 3.0, "n": 80, "from_frame": 20}},
        {"quantity": "ala/setup model", "expected": MODEL_300, "tolerance": MODEL},
        {"quantity": "ala/rep0 integrator", "expected": INTEGRATOR, "tolerance": MODEL},
    ]}


def test_within_uses_the_larger_of_absolute_and_relative():
    assert within(-100.0, -100.4, {"abs": 0.5, "rel": 1e-3})
    assert not within(-100.0, -100.6, {"abs": 0.5, "rel": 1e-3})
    assert within(-10000.0, -10009.0, {"abs": 0.5, "rel": 1e-3})
    assert within(SHA_A, SHA_A, EXACT) and not within(SHA_A, SHA_B, EXACT)
    assert not within(1.0, None, {"abs": 1.0}) and not within(1.0, "x", {"abs": 1.0})


def test_standard_error_accounts_for_correlated_frames():
    independent = mean_and_error(correlated(0.0, 1.0, 4000, seed=1, phi=0.0))
    sticky = mean_and_error(correlated(0.0, 1.0, 4000, seed=1, phi=0.9))
    assert independent["g"] == pytest.approx(1.0, abs=0.3)
    assert sticky["g"] == pytest.approx((1 + 0.9) / (1 - 0.9), rel=0.3)  # AR(1): g = (1 + phi) / (1 - phi)
    assert sticky["se"] > 3 * independent["se"]
    assert mean_and_error([5.0, 5.0, 5.0]) == {"mean": 5.0, "se": 0.0, "g": 1.0, "n": 3}


def test_equilibration_is_found_after_a_transient():
    series = [150.0 + 150.0 * (1 - math.exp(-i / 5)) for i in range(30)] + correlated(300.0, 3.0, 200, seed=2)
    assert 10 <= equilibrated_from(series) <= len(series) // 2
    assert equilibrated_from([1.0, 1.0, 1.0, 1.0]) == 0


def test_z_limit_keeps_the_campaign_false_alarm_rate():
    assert z_limit(1, 0.05) == pytest.approx(1.96, abs=0.01)
    assert z_limit(16, 0.01) == pytest.approx(3.42, abs=0.01)  # 1 % chance of any false alarm among 16


def test_statistical_quantities_are_judged_over_the_reference_frames():
    noise = correlated(0.0, 3.0, 100, seed=3)
    same = Measured("ala/rep0 temperature_k.mean", [999.0] * 20 + [300.0 + x for x in noise], STATISTICAL)
    hot = Measured("ala/rep0 temperature_k.mean", [300.0] * 20 + [310.0 + x for x in noise], STATISTICAL)
    reference_row = reference()["quantities"][3]
    (row,) = compare({"environment": HERE, "quantities": [reference_row]}, [same], HERE)
    assert row.ok and abs(row.z) < 3 and row.got["n"] == 100  # the first 20 frames (a transient) are not judged
    (row,) = compare({"environment": HERE, "quantities": [reference_row]}, [hot], HERE)
    assert not row.ok and row.z > 5


def test_compare_and_render_golden():
    measured = [
        Measured("ala/rep0 frames", 20, EXACT),
        Measured("ala/setup potential_after_kj_mol", -101.5, {"abs": 0.01, "rel": 1e-4}),
        Measured("ala/rep0/seg000.dcd sha256", SHA_B, EXACT),
        Measured("ala/rep0 temperature_k.mean", [300.0] * 20 + [309.0 + (i % 5 - 2) * 0.5 for i in range(80)],
                 STATISTICAL),
        Measured("ala/setup model", {**MODEL_300, "NonbondedForce/Particles/Particle q": 16.905}, MODEL),
        Measured("ala/rep0 integrator", {**INTEGRATOR, "temperature_k": 310.0}, MODEL),
        Measured("ala/rep1 frames", 20, EXACT),
    ]
    rows = compare(reference(), measured, HERE)
    assert [r.ok for r in rows] == [True, False, False, False, False, False, False]
    assert_golden("verify/table_failures.txt", render(rows))


def test_in_another_environment_exact_checks_are_skipped_and_energy_tolerances_widened():
    elsewhere = {**HERE, "cpu_model": "AuthenticAMD family 26 model 2: AMD EPYC"}  # same flags, other CPU
    measured = [Measured("ala/rep0 frames", 20, EXACT), Measured("ala/setup potential_after_kj_mol", -101.5, {}),
                Measured("ala/rep0/seg000.dcd sha256", SHA_B, EXACT),
                Measured("ala/rep0 temperature_k.mean", [300.5] * 100, STATISTICAL),
                # another OpenMM may serialize a parameter the reference's did not have: not compared
                Measured("ala/setup model", {**MODEL_300, "NonbondedForce newParameter": 1.0}, MODEL),
                Measured("ala/rep0 integrator", INTEGRATOR, MODEL)]
    rows = compare(reference(elsewhere), measured, HERE)
    assert [(r.ok, r.note[:7]) for r in rows] == [(True, ""), (True, "widened"), (True, "skipped"), (True, ""),
                                                  (True, ""), (True, "")]
    assert not compare(reference(), measured, HERE)[4].ok  # same environment: every parameter counts
    assert rows[1].tolerance == {"abs": 1.0, "rel": 0.02}  # -101.5 is 1.5 % off -100
    assert_golden("verify/table_other_environment.txt", render(rows))
    assert not compare(reference(), measured, HERE)[1].ok  # same environment: the reference's own 0.01
    assert compare(reference(), measured, HERE, exact_checks=False)[1].ok  # judged as from another machine


def test_widening_never_tightens_and_leaves_exact_and_statistical_checks_alone():
    assert across_machines("x/setup potential_after_kj_mol", {"abs": 0.01, "rel": 1e-4}) == {"abs": 1.0, "rel": 0.02}
    assert across_machines("x/setup potential_after_kj_mol", {"abs": 5.0, "rel": 0.1}) == {"abs": 5.0, "rel": 0.1}
    assert across_machines("x/rep0 temperature_k.mean", STATISTICAL) == STATISTICAL
    assert across_machines("x/rep0 frames", EXACT) == EXACT


def test_cpu_model_from_cpuinfo():
    cpuinfo = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n"
               "flags\t\t: fpu avx\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n")
    assert cpu_model(cpuinfo) == "AuthenticAMD family 26 model 2: AMD EPYC"
    assert cpu_model("") == "" and cpu_model("processor\t: 0\nflags\t: avx\n") == ""


def test_reference_is_refused_from_an_unfinished_run_and_stores_what_the_judgement_needs():
    with pytest.raises(MdflowError, match="unfinished run: ala/rep0 frames is missing"):
        reference_from([Measured("ala/rep0 frames", None, EXACT)], HERE)
    series = [200.0, 250.0, 280.0] + correlated(300.0, 3.0, 60, seed=4)
    written = reference_from([Measured("ala/rep0 frames", 63, EXACT),
                              Measured("ala/rep0 temperature_k.mean", series, STATISTICAL)], HERE)
    assert written["environment"] == HERE and written["quantities"][0] == {
        "quantity": "ala/rep0 frames", "expected": 63, "tolerance": EXACT}
    statistics = written["quantities"][1]["expected"]
    assert set(statistics) == {"mean", "se", "g", "n", "from_frame"} and statistics["from_frame"] >= 1
    assert statistics["n"] == 63 - statistics["from_frame"] and 298 < statistics["mean"] < 302


def test_repeats_need_only_the_series_whose_spread_they_give():
    """Repeated runs give run_sd of the statistical quantities; their other records may be missing."""
    run = [Measured("ala/rep0 integrator", INTEGRATOR, MODEL),
           Measured("ala/rep0 rg_nm.mean", correlated(0.3, 0.001, 80, seed=1), STATISTICAL)]
    older = [Measured("ala/rep0 integrator", None, MODEL),
             Measured("ala/rep0 rg_nm.mean", correlated(0.3, 0.001, 80, seed=2), STATISTICAL)]
    written = reference_from(run, HERE, [older])
    assert written["quantities"][0]["expected"] == INTEGRATOR and written["quantities"][1]["expected"]["runs"] == 2
    with pytest.raises(MdflowError, match="unfinished run: ala/rep0 integrator is missing"):
        reference_from(older, HERE, [run])


def test_which_runs_repeat_bit_for_bit():
    assert bitwise_reproducible({"platform": "CPU", "threads": 1})
    assert bitwise_reproducible({"platform": "CPU", "threads": 4, "deterministic_forces": True})
    assert bitwise_reproducible({"platform": "Reference", "threads": 8})
    assert not bitwise_reproducible({"platform": "CPU", "threads": 4})
    assert not bitwise_reproducible({"platform": "auto", "threads": 1})  # may pick CUDA


def test_cpu_vector_flags_from_cpuinfo():
    cpuinfo = "processor\t: 0\nflags\t\t: fpu sse4_1 avx avx2 fma avx512f avx512bw\nbugs\t: x\nflags : other\n"
    assert cpu_vector_flags(cpuinfo) == ["sse4_1", "avx", "avx2", "fma", "avx512f"]
    assert cpu_vector_flags("") == []


def test_a_reference_of_several_runs_judges_by_their_spread():
    """One short run cannot see how far another run lands (it samples one set of slow changes): with
    repeats, the reference keeps their spread and a new run is judged by it (a t quantile, runs - 1 dof)."""
    runs = [[Measured("ala/rep0 rg_nm.mean", correlated(0.30 + 0.01 * (k % 3), 0.001, 80, seed=k), STATISTICAL)]
            for k in range(6)]
    written = reference_from(runs[0], HERE, runs[1:])
    statistics = written["quantities"][0]["expected"]
    assert statistics["runs"] == 6 and 0.005 < statistics["run_sd"] < 0.02
    another = [Measured("ala/rep0 rg_nm.mean", correlated(0.32, 0.001, 80, seed=99), STATISTICAL)]
    (row,) = compare(written, another, HERE)
    assert row.ok, row  # 0.02 off: many standard errors of one run, but within what the runs spread by
    assert row.tolerance["z_limit"] == pytest.approx(z_limit(1, runs=6))
    assert z_limit(1, 0.05, runs=6) == pytest.approx(2.571, abs=0.01)  # Student t, 5 dof
    far = [Measured("ala/rep0 rg_nm.mean", correlated(0.40, 0.001, 80, seed=98), STATISTICAL)]
    assert not compare(written, far, HERE)[0].ok
    with pytest.raises(MdflowError, match="repeated run has no ala/rep0 rg_nm.mean series"):
        reference_from(runs[0], HERE, [[Measured("ala/rep0 rg_nm.mean", [0.3], STATISTICAL)]])


def test_the_platform_judged_is_the_one_the_results_record(tmp_path):
    assert platforms_used(tmp_path) is None  # nothing recorded: verify falls back to the config's choice
    (tmp_path / "a/setup").mkdir(parents=True)
    (tmp_path / "a/setup/setup.json").write_text('{"platform": "CPU"}')
    (tmp_path / "a/rep0").mkdir()
    (tmp_path / "a/rep0/seg000.provenance.json").write_text('{"step": "pull", "platform": null, '
                                                            '"upstream": {"step": "simulate", "platform": "CUDA"}}')
    (tmp_path / "a/rep0/seg001.provenance.json").write_text("not json")
    assert platforms_used(tmp_path) == "CPU+CUDA"  # a GPU run whose setup ran on CPU is not the CPU reference's
