"""verify's pure parts: tolerance checks, comparison with a reference, the table (golden)."""

import pytest

from golden import assert_golden
from mdflow.errors import MdflowError
from mdflow.verify import (EXACT, Measured, across_machines, bitwise_reproducible, compare, cpu_model, cpu_vector_flags,
                           reference_from, render, within)

HERE = {"openmm": "8.6.1", "pdbfixer": "1.12.0", "numpy": "2.4.6", "platform": "CPU",
        "cpu_flags": ["sse4_1", "avx", "avx2", "fma"], "cpu_model": "GenuineIntel family 6 model 143: Intel Xeon"}
SHA_A, SHA_B = "a" * 64, "b" * 64


def reference(environment=HERE):
    return {"environment": environment, "quantities": [
        {"quantity": "ala/rep0 frames", "expected": 20, "tolerance": EXACT},
        {"quantity": "ala/rep0 potential_kj_mol.mean", "expected": -100.0, "tolerance": {"abs": 0.5, "rel": 1e-3}},
        {"quantity": "ala/rep0/seg000.dcd sha256", "expected": SHA_A, "tolerance": EXACT},
        {"quantity": "ala/rep0 rmsd_nm.mean", "expected": 0.05, "tolerance": {"abs": 0.01, "rel": 0.0}},
    ]}


def test_within_uses_the_larger_of_absolute_and_relative():
    assert within(-100.0, -100.4, {"abs": 0.5, "rel": 1e-3})
    assert not within(-100.0, -100.6, {"abs": 0.5, "rel": 1e-3})
    assert within(-10000.0, -10009.0, {"abs": 0.5, "rel": 1e-3})
    assert within(SHA_A, SHA_A, EXACT) and not within(SHA_A, SHA_B, EXACT)
    assert not within(1.0, None, {"abs": 1.0}) and not within(1.0, "x", {"abs": 1.0})


def test_compare_and_render_golden():
    measured = [
        Measured("ala/rep0 frames", 20, EXACT),
        Measured("ala/rep0 potential_kj_mol.mean", -101.5, {"abs": 0.5, "rel": 1e-3}),
        Measured("ala/rep0/seg000.dcd sha256", SHA_B, EXACT),
        Measured("ala/rep1 frames", 20, EXACT),
    ]
    rows = compare(reference(), measured, HERE)
    assert [r.ok for r in rows] == [True, False, False, False, False]
    assert_golden("verify/table_failures.txt", render(rows))


def test_in_another_environment_exact_checks_are_skipped_and_energy_tolerances_widened():
    elsewhere = {**HERE, "cpu_model": "AuthenticAMD family 26 model 2: AMD EPYC"}  # same flags, other CPU
    measured = [Measured("ala/rep0 frames", 20, EXACT), Measured("ala/rep0 potential_kj_mol.mean", -101.5, {}),
                Measured("ala/rep0/seg000.dcd sha256", SHA_B, EXACT), Measured("ala/rep0 rmsd_nm.mean", 0.2, {})]
    rows = compare(reference(elsewhere), measured, HERE)
    assert [(r.ok, r.note[:7]) for r in rows] == [(True, ""), (True, "widened"), (True, "skipped"), (False, "")]
    assert rows[1].tolerance == {"abs": 1.0, "rel": 0.02}  # -101.5 is 1.5 % off -100
    assert not compare(reference(elsewhere), [Measured("ala/rep0 potential_kj_mol.mean", -103.0, {})], HERE)[1].ok
    assert_golden("verify/table_other_environment.txt", render(rows))
    assert not compare(reference(), measured, HERE)[1].ok  # same environment: the reference's own 0.5


def test_widening_never_tightens_and_leaves_exact_and_structural_checks_alone():
    assert across_machines("x/setup potential_after_kj_mol", {"abs": 0.01, "rel": 1e-4}) == {"abs": 1.0, "rel": 0.02}
    assert across_machines("x/rep0 potential_kj_mol.mean", {"abs": 5.0, "rel": 0.1}) == {"abs": 5.0, "rel": 0.1}
    assert across_machines("x/rep0 temperature_k.mean", {"abs": 5.0, "rel": 0.0}) == {"abs": 5.0, "rel": 0.0}
    assert across_machines("x/rep0 frames", EXACT) == EXACT


def test_cpu_model_from_cpuinfo():
    cpuinfo = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n"
               "flags\t\t: fpu avx\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n")
    assert cpu_model(cpuinfo) == "AuthenticAMD family 26 model 2: AMD EPYC"
    assert cpu_model("") == "" and cpu_model("processor\t: 0\nflags\t: avx\n") == ""


def test_reference_is_refused_from_an_unfinished_run():
    with pytest.raises(MdflowError, match="unfinished run: ala/rep0 frames is missing"):
        reference_from([Measured("ala/rep0 frames", None, EXACT)], HERE)
    written = reference_from([Measured("ala/rep0 frames", 20, EXACT)], HERE)
    assert written["environment"] == HERE and written["quantities"] == [
        {"quantity": "ala/rep0 frames", "expected": 20, "tolerance": EXACT}]


def test_which_runs_repeat_bit_for_bit():
    assert bitwise_reproducible("implicit", {"platform": "CPU", "threads": 1})
    assert bitwise_reproducible("implicit", {"platform": "CPU", "threads": 4, "deterministic_forces": True})
    assert bitwise_reproducible("implicit", {"platform": "Reference", "threads": 8})
    assert not bitwise_reproducible("implicit", {"platform": "CPU", "threads": 4})
    assert not bitwise_reproducible("implicit", {"platform": "auto", "threads": 1})  # may pick CUDA
    assert not bitwise_reproducible("explicit", {"platform": "Reference", "threads": 1})  # PME across restarts


def test_cpu_vector_flags_from_cpuinfo():
    cpuinfo = "processor\t: 0\nflags\t\t: fpu sse4_1 avx avx2 fma avx512f avx512bw\nbugs\t: x\nflags : other\n"
    assert cpu_vector_flags(cpuinfo) == ["sse4_1", "avx", "avx2", "fma", "avx512f"]
    assert cpu_vector_flags("") == []
