"""The bad-input corpus (tests/faults/bad_input_cases.py) through the real CLI: one clear line,
exit != 0, no traceback, the computed results untouched."""

import pytest

from faults.bad_input_cases import CASES, computed_project, run_case

pytestmark = pytest.mark.campaign


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    return computed_project(tmp_path_factory.mktemp("faults") / "project")


def test_corpus_is_large_and_names_are_unique():
    assert len(CASES) >= 25
    assert len({case.name for case in CASES}) == len(CASES)
    assert all(case.words for case in CASES)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_bad_input(case, computed, tmp_path):
    outcome = run_case(case, computed, tmp_path)
    assert outcome.ok, f"{case.name}: {outcome.detail}"
