"""Issue 6, fault cases 5 and 6: a staged or pulled file is damaged; the results disk fills up.

Case 5: the file is refused by its sha256 manifest with a message naming it, never consumed or
copied into results/, and its manifest is dropped so that the rerun transfers (push) or produces
(simulate) it again — the rerun completes with results identical to an undisturbed run.
Case 6: results/ is a small tmpfs: the run stops with one clear line (no traceback), no file under
its final name is damaged and no temp file is left; after the space grows the rerun completes.
"""

import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_mdflow
from faults.faultlib import (assert_identical_to_undisturbed, expect, fault_project, stray_temp_files,
                             undisturbed_reference)
from faults.faultlib import _no_leftovers  # noqa: F401 (autouse fixture: kills leftover controllers and jobs)

pytestmark = pytest.mark.campaign
CI = ("--profile", "ci")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return undisturbed_reference(tmp_path_factory.getbasetemp())


def output_of(result) -> str:
    return result.stdout + result.stderr


# -- case 5: damaged transfers ---------------------------------------------------------------------------

@expect('case 5 (push): truncated staged file refused by sha256, named, never used; rerun pushes it again; verify identical')
def test_truncated_staged_file_is_refused_and_pushed_again(tmp_path, reference):
    project = fault_project(tmp_path / "project")
    run_mdflow(project, *CI, "scratch/ci/villin/input/manifest.json", check=True)  # setup + push only
    staged = project / "scratch/ci/villin/input/minimized.xml"
    staged.write_bytes(staged.read_bytes()[: staged.stat().st_size // 2])

    failed = run_mdflow(project, *CI)
    assert failed.returncode != 0
    line = next(l for l in output_of(failed).splitlines() if l.startswith("mdflow: ") and "minimized.xml" in l)
    assert "does not match" in line and "refusing to use it" in line
    assert "removed scratch/ci/villin/input/manifest.json so that the next `mdflow` run pushes it again" in line
    assert not (project / "scratch/ci/villin/rep0/seg000.partial").exists()  # never consumed
    assert not list((project / "results-ci/villin").glob("rep0/seg*"))

    run_mdflow(project, *CI, check=True)
    assert staged.read_bytes() == (project / "results-ci/villin/setup/minimized.xml").read_bytes()  # pushed again
    assert_identical_to_undisturbed(project, reference)
    assert stray_temp_files(project / "results-ci") == [] and stray_temp_files(project / "scratch") == []


@expect('case 5 (pull): altered segment refused by sha256, named, never in results/; rerun re-simulates it; verify identical')
def test_altered_segment_is_refused_by_pull_and_simulated_again(tmp_path, reference):
    project = fault_project(tmp_path / "project")
    run_mdflow(project, *CI, "scratch/ci/villin/rep0/seg000.json", check=True)  # up to the first segment
    segment = project / "scratch/ci/villin/rep0/seg000.dcd"
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    segment.write_bytes(bytes(data))

    failed = run_mdflow(project, *CI)
    assert failed.returncode != 0
    line = next(l for l in output_of(failed).splitlines() if l.startswith("mdflow: pull refused"))
    assert "seg000.dcd" in line and "does not match" in line
    assert "so that the next `mdflow` run simulates segment 000 again" in line
    assert not (project / "results-ci/villin/rep0/seg000.dcd").exists()  # never copied into results/
    assert not (project / "results-ci/villin/rep0/seg000.csv").exists()

    run_mdflow(project, *CI, check=True)
    assert segment.read_bytes() != bytes(data)  # simulated again (bit for bit what was pulled)
    assert segment.read_bytes() == (project / "results-ci/villin/rep0/seg000.dcd").read_bytes()
    assert_identical_to_undisturbed(project, reference)
    assert stray_temp_files(project / "results-ci") == [] and stray_temp_files(project / "scratch") == []


# -- case 6: disk full in results/ -----------------------------------------------------------------------

def mount_tmpfs(directory: Path, size: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.strip()}")


def assert_nothing_damaged(results: Path, undisturbed: Path) -> int:
    """Every file under its final name is whole: data files equal the undisturbed run's, JSON parses."""
    checked = 0
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        relative = path.relative_to(results)
        if path.suffix in (".xml", ".pdb", ".dcd", ".csv"):
            assert path.read_bytes() == (undisturbed / relative).read_bytes(), f"{relative} is damaged"
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".png":
            assert path.read_bytes().endswith(b"IEND\xaeB`\x82"), f"{relative} is cut short"
        checked += 1
    return checked


@expect('case 6: results/ on a full tmpfs -> one clear line, no traceback, nothing damaged; after freeing space rerun completes, verify identical')
def test_full_results_disk_stops_cleanly_and_rerun_completes(tmp_path, reference):
    project = fault_project(tmp_path / "project")
    results = project / "results-ci"
    mount_tmpfs(results, "880k")  # setup's files fit (≈ 0.7 MB), not all segments and plots (≈ 1.15 MB)
    try:
        failed = run_mdflow(project, *CI)
        output = output_of(failed)
        assert failed.returncode != 0
        assert "Traceback" not in output and "OSError" not in output
        lines = {l for l in output.splitlines() if "no space left on device" in l}
        assert lines and all(l.startswith("mdflow: ") and "writing in results-ci/" in l and "run mdflow again" in l
                             for l in lines), lines
        assert stray_temp_files(results) == []
        assert assert_nothing_damaged(results, reference.parent / "project/results-ci") >= 5  # setup got through

        subprocess.run(["mount", "-o", "remount,size=64m", str(results)], check=True)  # space freed
        run_mdflow(project, *CI, check=True)
        assert_identical_to_undisturbed(project, reference)
        assert stray_temp_files(results) == []
    finally:
        subprocess.run(["umount", str(results)], capture_output=True)
