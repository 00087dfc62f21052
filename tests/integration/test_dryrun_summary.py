"""`mdflow -n` prints a summary (jobs per rule and why, where they go) and lists jobs only when asked;
a target naming a system the sheet lacks is refused in one line ({system} is constrained by the
sheet's name pattern, not by the list of names, so such a target would otherwise match a rule)."""

import re

from conftest import make_project, planned_jobs, run_mdflow


def error_lines(result) -> list:
    return [line for line in result.stderr.splitlines() if line.startswith("mdflow: error")]


def test_a_target_naming_an_unknown_system_is_refused_in_one_line(tmp_path):
    project = make_project(tmp_path / "project")
    for target in ("results-ci/nosuch/analysis/summary.json", "scratch/ci/nosuch/rep0/seg000.dcd"):
        for dry in (["-n"], []):
            result = run_mdflow(project, "--profile", "ci", *dry, target)
            assert result.returncode == 2 and error_lines(result) == [
                f"mdflow: error: target {target}: system 'nosuch' is not in the systems sheet config/ci_systems.tsv "
                f"(systems: ala-implicit, ala-water, villin); add a row for it or fix the target's path"]
            assert "Traceback" not in result.stderr and "KeyError" not in result.stderr
    known = run_mdflow(project, "--profile", "ci", "-n", "--list-jobs", "results-ci/villin/analysis/summary.json",
                       check=True)
    assert {w["system"] for rule, w in planned_jobs(known.stdout)} == {"villin"}
    assert not (project / "results-ci").exists()


def test_dry_run_prints_a_summary_and_lists_jobs_only_when_asked(tmp_path):
    project = make_project(tmp_path / "project")
    summary = run_mdflow(project, "--profile", "ci", "-n", check=True).stdout
    assert planned_jobs(summary) == [] and "wildcards:" not in summary
    total = int(re.search(r"^total\s+(\d+)$", summary, re.M).group(1))  # Snakemake's job table stays
    assert f"mdflow dry-run: {total} job(s); list them with --list-jobs" in summary
    assert re.search(r"^  simulate\s+8  output files have to be generated \(8\)", summary, re.M)
    assert "where (profile ci, local): all on this host" in summary

    listed = run_mdflow(project, "--profile", "ci", "-n", "--list-jobs", check=True).stdout
    assert len(planned_jobs(listed)) == total - 1  # every job but `all`
    assert f"mdflow dry-run: {total} job(s)" in listed

    villin = run_mdflow(project, "--profile", "ci", "-n", "--system", "villin", check=True).stdout
    jobs = planned_jobs(villin)
    assert jobs and {w.get("system") for rule, w in jobs} == {"villin"}
    assert f"mdflow dry-run: {total} job(s)" in villin  # the summary still counts every job


def test_listing_options_are_checked(tmp_path):
    project = make_project(tmp_path / "project")
    unknown = run_mdflow(project, "--profile", "ci", "-n", "--system", "villin,nosuch")
    assert unknown.returncode == 2 and error_lines(unknown) == [
        "mdflow: error: --system: 'nosuch' is not in the systems sheet (systems: ala-implicit, ala-water, villin)"]
    real = run_mdflow(project, "--profile", "ci", "--list-jobs")
    assert real.returncode == 2 and error_lines(real) == ["mdflow: error: --list-jobs only goes with --dry-run"]
