"""Adaptive continuation: the drift/decision math on synthetic series, and the sheet columns that turn it on."""

import pytest

from conftest import make_project
from mdflow.campaign import load_campaign
from mdflow.errors import MdflowError
from mdflow.md.convergence import (CONVERGED, DRIFTING, MAX_REACHED, TOO_FEW, Criterion, compared_segments,
                                   decide, describe, window_means)

RMSD = Criterion(metric="rmsd_nm", tolerance=0.01, window_segments=1, max_segments=5)


def test_compared_segments_are_the_last_two_windows():
    assert compared_segments(last=4, window=1) == ([3], [4])
    assert compared_segments(last=5, window=2) == ([2, 3], [4, 5])
    assert compared_segments(last=0, window=1) == ([], [0])
    assert compared_segments(last=2, window=2) == ([0], [1, 2])


def test_window_means_pool_the_frames_of_each_window():
    segments = [[9.0, 9.0], [1.0, 3.0], [2.0], [4.0, 6.0, 8.0]]
    assert window_means(segments, 1) == (2.0, 6.0)
    # frames pooled: [9, 9, 1, 3] -> 5.5 and [2, 4, 6, 8] -> 5 (not the mean of the segment means, 4)
    assert window_means(segments, 2) == (5.5, 5.0)
    assert window_means(segments[:1], 1) is None


def test_drift_below_tolerance_in_every_replica_converges():
    decision = decide({0: [[0.100, 0.102], [0.104, 0.106]], 1: [[0.2], [0.205]]}, RMSD, segments_done=2)
    assert decision["drift"] == {"0": pytest.approx(0.004), "1": pytest.approx(0.005)}
    assert decision["max_drift"] == pytest.approx(0.005)
    assert decision["converged"] and not decision["continue"] and decision["reason"] == CONVERGED
    assert decision["compared"] == {"previous": ["000"], "last": ["001"]}


def test_one_drifting_replica_keeps_the_system_going():
    decision = decide({0: [[0.1], [0.1]], 1: [[0.1], [0.3]]}, RMSD, segments_done=3)
    assert decision["max_drift"] == pytest.approx(0.2)
    assert not decision["converged"] and decision["continue"] and decision["reason"] == DRIFTING
    assert decision["compared"] == {"previous": ["001"], "last": ["002"]}


def test_drift_at_the_cap_stops_with_max_reached():
    decision = decide({0: [[0.1], [0.3]]}, RMSD, segments_done=5)
    assert not decision["converged"] and not decision["continue"] and decision["reason"] == MAX_REACHED


def test_converged_at_the_cap_says_converged():
    decision = decide({0: [[0.1], [0.1]]}, RMSD, segments_done=5)
    assert decision["reason"] == CONVERGED and not decision["continue"]


def test_too_few_segments_to_compare_continues():
    wide = Criterion(metric="potential_kj_mol", tolerance=1e9, window_segments=2, max_segments=5)
    decision = decide({0: [[-50.0], [-51.0], [-52.0]]}, wide, segments_done=3)
    assert decision["reason"] == TOO_FEW and decision["continue"] and decision["max_drift"] is None
    assert decision["compared"] is None and decision["means"] == {"0": None}
    assert "no drift yet" in describe(decision)


def test_nan_drift_never_converges():
    decision = decide({0: [[float("nan")], [0.1]]}, RMSD, segments_done=2)
    assert not decision["converged"] and decision["continue"]


def test_describe_is_one_line():
    line = describe(decide({0: [[0.1], [0.3]]}, RMSD, segments_done=2))
    assert line == ("after 2 of at most 5 segments: largest drift of rmsd_nm 0.2 (tolerance 0.01); "
                    "drift above tolerance -> one more segment")


def test_bad_criterion_is_refused():
    with pytest.raises(ValueError):
        Criterion(metric="volume_nm3", tolerance=0.1, window_segments=1, max_segments=3)
    with pytest.raises(ValueError):
        Criterion(metric="rg_nm", tolerance=0, window_segments=1, max_segments=3)


# -- the sheet columns and config defaults ---------------------------------------------------------

HEADER = "name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed"
ROW = "ala\tresources/alanine-dipeptide.pdb\tamber99sbildn\timplicit\t300\t2\t0.4\t0.2\t11"


def load(project, columns: dict, config: str = ""):
    header = "\t".join([HEADER, *columns])
    row = "\t".join([ROW, *map(str, columns.values())])
    (project / "config/ci_systems.tsv").write_text(f"{header}\n{row}\n")
    if config:
        (project / "config/ci.yaml").write_text((project / "config/ci.yaml").read_text() + config)
    return load_campaign(project, ["config/ci.yaml"], {}).systems["ala"]


def test_without_max_length_nothing_is_adaptive(project):
    system = load(project, {})
    assert not system.adaptive and system.max_segments == system.segments == 2
    assert load(project, {"max_length_ps": ""}).max_segments == 2  # empty cell = off
    assert not load(project, {"max_length_ps": 0.4}).adaptive  # equal to length_ps = off


def test_max_length_with_config_defaults(project):
    system = load(project, {"max_length_ps": 1.0})
    assert system.adaptive and system.max_segments == 5
    assert (system.converge_metric, system.converge_tolerance, system.converge_window) == ("rmsd_nm", 0.01, 1)


def test_sheet_columns_override_config_and_tolerance_follows_the_metric(project):
    config = "convergence:\n  metric: rg_nm\n  window_segments: 2\n  tolerance:\n    potential_kj_mol: 3.5\n"
    system = load(project, {"max_length_ps": 1.0}, config)
    assert (system.converge_metric, system.converge_tolerance, system.converge_window) == ("rg_nm", 0.005, 2)
    system = load(project, {"max_length_ps": 1.0, "converge_metric": "potential_kj_mol"})
    assert (system.converge_metric, system.converge_tolerance) == ("potential_kj_mol", 3.5)
    system = load(project, {"max_length_ps": 1.0, "converge_tolerance": 0.25})
    assert (system.converge_metric, system.converge_tolerance) == ("rg_nm", 0.25)


SHEET_MISTAKES = {
    "max not whole segments": ({"max_length_ps": 0.5},
                               "config/ci_systems.tsv line 2 (ala), column 'max_length_ps': 0.5 is not a whole "
                               "multiple of segment_ps 0.2"),
    "max below length": ({"max_length_ps": 0.2},
                         "config/ci_systems.tsv line 2 (ala), column 'max_length_ps': 0.2 is below length_ps 0.4; "
                         "expected at least length_ps (adaptive continuation only adds segments)"),
    "non-positive max": ({"max_length_ps": -1},
                         "config/ci_systems.tsv line 2 (ala), column 'max_length_ps': -1.0 is out of range; "
                         "expected a number > 0"),
    "unknown metric": ({"max_length_ps": 1.0, "converge_metric": "volume_nm3"},
                       "config/ci_systems.tsv line 2 (ala), column 'converge_metric': 'volume_nm3' is not allowed; "
                       "expected one of: rmsd_nm, rg_nm, potential_kj_mol"),
    "zero tolerance": ({"max_length_ps": 1.0, "converge_tolerance": 0},
                       "config/ci_systems.tsv line 2 (ala), column 'converge_tolerance': 0.0 is out of range; "
                       "expected a number > 0"),
    "text tolerance": ({"max_length_ps": 1.0, "converge_tolerance": "small"},
                       "config/ci_systems.tsv line 2 (ala), column 'converge_tolerance': 'small' is not a number"),
    "tolerance without max": ({"converge_tolerance": 0.1},
                              "config/ci_systems.tsv line 2 (ala), column 'converge_tolerance': 0.1 has no effect "
                              "without max_length_ps (adaptive continuation); set max_length_ps or leave "
                              "converge_tolerance empty"),
}


@pytest.mark.parametrize("case", SHEET_MISTAKES)
def test_each_adaptive_sheet_mistake_gets_one_clear_line(project, case):
    columns, expected = SHEET_MISTAKES[case]
    with pytest.raises(MdflowError) as caught:
        load(project, columns)
    assert str(caught.value) == expected


CONFIG_MISTAKES = {
    "unknown metric": ("convergence:\n  metric: volume\n",
                       "key 'convergence.metric': 'volume' is not allowed; expected one of: rmsd_nm, rg_nm, "
                       "potential_kj_mol"),
    "zero window": ("convergence:\n  window_segments: 0\n",
                    "key 'convergence.window_segments': 0 is out of range; expected a number >= 1"),
    "negative tolerance": ("convergence:\n  tolerance:\n    rg_nm: -0.1\n",
                           "key 'convergence.tolerance.rg_nm': -0.1 is out of range; expected a number > 0"),
    "unknown key": ("convergence:\n  patience: 3\n",
                    "unknown key 'patience' (known keys: metric, tolerance, window_segments)"),
}


@pytest.mark.parametrize("case", CONFIG_MISTAKES)
def test_each_convergence_config_mistake_gets_one_clear_line(tmp_path, case):
    text, expected = CONFIG_MISTAKES[case]
    project = make_project(tmp_path / "project")
    with pytest.raises(MdflowError) as caught:
        load(project, {"max_length_ps": 1.0}, text)
    assert str(caught.value).endswith(expected) and "\n" not in str(caught.value)
