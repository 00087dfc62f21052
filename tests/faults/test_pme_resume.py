"""Issue 13 part 2: a PME (explicit water) segment killed at any point and resumed gives the same bytes
as an undisturbed run — trajectories, energy tables, final states and the analysis.

The undisturbed run makes every report interval a restart point on CPU (mdflow.md.simulate.restart_point),
so it continues exactly as a run resumed from any of its checkpoints does. Kill points: inside three
different checkpoint writes of segment 000 (tests/faults/hold freezes the n-th atomic rename of the
simulate step: each checkpoint writes checkpoint.chk, state.xml, progress.json), and a plain SIGKILL of
the controller while segment 001 runs.
"""

import re

import pytest
import yaml

from conftest import run_mdflow
from faults.faultlib import (expect, fault_project, held, kill_group, segment_steps, start_controller,
                             stray_temp_files, wait_for)
from faults.faultlib import _no_leftovers  # noqa: F401 (autouse fixture: kills leftover controllers and jobs)
from run_compare import WALL_TIME_FIELDS, comparable

pytestmark = pytest.mark.campaign
CI = ("--profile", "ci")
# alanine dipeptide in water (PME): 2 segments of 200 steps, a checkpoint every 50 steps (config/ci.yaml)
SHEET = ("name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
         "ala-water\tresources/alanine-dipeptide.pdb\tamber14\texplicit\t300\t1\t0.8\t0.4\t12\n")
TIME_FIELDS = WALL_TIME_FIELDS | {"resumed_from_step"}


def results_dir(project):
    return project / yaml.safe_load((project / "config/ci.yaml").read_text())["results"]


def output_bytes(project) -> dict:
    """Every result file: its sha256, or for JSON records its content without wall-time fields."""
    results = results_dir(project)
    return {str(p.relative_to(results)): comparable(p, TIME_FIELDS) for p in sorted(results.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    project = fault_project(tmp_path_factory.mktemp("pme") / "undisturbed", SHEET)
    run_mdflow(project, *CI, check=True)
    return output_bytes(project)


def kill_in_checkpoint(project, rename: int) -> dict:
    mark = project / f"hold-simulate-{rename}.json"
    controller = start_controller(project, *CI, hold=f"simulate:{rename}", mark=mark)
    point = wait_for(lambda: held(mark), what=f"simulate's atomic write {rename}", process=controller)
    kill_group(controller)
    return point


@expect("PME segment killed inside 3 checkpoint writes and mid-segment -> rerun: every output byte as undisturbed")
def test_pme_segment_killed_anywhere_resumes_bit_for_bit(tmp_path, undisturbed):
    project = fault_project(tmp_path / "project", SHEET)
    # segment 000: in the 1st checkpoint's checkpoint.chk, the 2nd's state.xml, the 3rd's progress.json
    # (each rerun resumes from the last complete checkpoint, then its own count of writes starts again)
    for rename in (1, 5, 6):
        point = kill_in_checkpoint(project, rename)
        assert ".partial" in point["final"]
    controller = start_controller(project, *CI)
    wait_for(lambda: segment_steps(project, "001", system="ala-water") >= 100, what="segment 001 at step 100",
             process=controller)
    kill_group(controller)

    result = run_mdflow(project, *CI, check=True)
    assert "Traceback" not in result.stdout + result.stderr
    resumed = [int(s) for log in sorted((project / "logs/ci/simulate/ala-water/rep0").glob("seg*.log"))
               for s in re.findall(r"from checkpoint at step (\d+)", log.read_text())]
    assert len(resumed) >= 2, resumed  # the last attempt of each segment resumed mid-segment
    assert output_bytes(project) == undisturbed
    assert stray_temp_files(results_dir(project)) == []
