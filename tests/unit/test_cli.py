"""The command line as a new user meets it: help for every command, --version, -q, `mdflow report`."""

import logging
import platform
from importlib import metadata

import pytest

from conftest import make_project, run_mdflow
from mdflow import cli, cli_help
from mdflow.dryrun_summary import pending_jobs_line
from mdflow.progress import SnakemakeOutput

SUBCOMMANDS = ["dag", "status", "verify", "profiles", "init", "report"]
# Lines Snakemake prints that `-q` hides (the banner's lines included).
CHATTER = ["Assuming unrestricted shared filesystem usage.", "SNAKEMAKE", "Host:", "host:", "Building DAG of jobs",
           "Using shell:", "Provided cores", "Job stats", "Select jobs to execute", "Execute ", "steps (",
           "Reasons:", "This was a dry-run", "Complete log", "Elapsed time", "localrule ", "mdflow: profile"]
EXTENDED = "is extended by additional config specified via the command line"


# -- help and version: in-process, nothing runs --------------------------------------------------------

def test_every_command_is_in_the_help_texts():
    assert sorted(cli_help.COMMANDS) == sorted(cli.COMMANDS) == sorted(SUBCOMMANDS)


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_each_command_prints_its_usage_and_exits_0(command, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no project here: help must not need one
    assert cli.main([command, flag]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: mdflow {command}") and err == ""
    assert out == cli_help.COMMANDS[command] + "\n"
    assert list(tmp_path.iterdir()) == []  # `init --help` wrote nothing


def test_help_after_other_arguments_still_helps(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["status", "--profile", "ci", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: mdflow status")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_mdflow_help_is_mdflows_own_and_names_every_command(flag, capsys):
    assert cli.main([flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mdflow ")
    for word in [*SUBCOMMANDS, "--help-snakemake", "--version", "-q, --quiet", "--dry-run"]:
        assert word in out, word
    assert "--scheduler-ilp-solver" not in out  # Snakemake's options are behind --help-snakemake


def test_help_snakemake_shows_snakemakes_options(capsys):
    assert cli.main(["--help-snakemake"]) == 0
    out = capsys.readouterr().out
    assert "--cores" in out and "--rerun-triggers" in out and "usage: mdflow" in out


def test_version_names_mdflow_and_its_engines(capsys):
    assert cli.main(["--version"]) == 0
    expected = (f"mdflow {metadata.version('mdflow')} (snakemake {metadata.version('snakemake')}, "
                f"openmm {metadata.version('openmm')}, python {platform.python_version()})\n")
    assert capsys.readouterr().out == expected


def test_version_text_without_an_engine():
    versions = {"mdflow": "1.2", "snakemake": "9.1", "openmm": "not installed"}
    assert cli_help.version_text(versions, "3.12.1") == "mdflow 1.2 (snakemake 9.1, openmm not installed, python 3.12.1)"


def test_an_unknown_option_is_one_line(project):
    result = run_mdflow(project, "--nosuch")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "mdflow: error: unrecognized arguments: --nosuch (mdflow --help: mdflow's options; "
        "mdflow --help-snakemake: Snakemake's)"]


# -- how much of Snakemake's output shows ----------------------------------------------------------------

@pytest.mark.parametrize(("argv", "quiet", "rest"), [
    (["-n"], None, ["-n"]),
    (["-q", "-n"], ("host", "progress"), ["-n"]),
    (["-n", "--quiet", "rules", "report"], ("host", "progress", "rules"), ["-n", "report"]),
    (["--quiet", "all"], ("all", "host", "progress"), []),
])
def test_quiet_options(argv, quiet, rest):
    assert cli.pop_quiet(argv) == (quiet, rest)


def _record(message, level=logging.INFO, event=None):
    record = logging.LogRecord("snakemake.logging", level, __file__, 1, message, None, None)
    if event is not None:
        record.event = event
    return record


def test_the_quiet_filter_keeps_errors_and_drops_chatter():
    from snakemake_interface_logger_plugins.common import LogEvent

    quiet, loud, quiet_dry = SnakemakeOutput(True, False), SnakemakeOutput(False, False), SnakemakeOutput(True, True)
    extended = _record(f"Config file config/config.yaml {EXTENDED}.")
    assert not loud.filter(extended) and not quiet.filter(extended)
    for chatter in ("Building DAG of jobs...", "Assuming unrestricted shared filesystem usage.", "Using shell: /bin/bash",
                    "Select jobs to execute...", "Complete log(s): x.log"):
        assert loud.filter(_record(chatter)) and not quiet.filter(_record(chatter)), chatter
    job = _record(None, event=LogEvent.JOB_INFO)
    assert not quiet.filter(job) and quiet_dry.filter(job) and loud.filter(job)  # a dry run's listing: --list-jobs
    assert quiet.filter(_record(None, logging.ERROR, LogEvent.JOB_ERROR))
    assert quiet.filter(_record("Building DAG of jobs...", logging.WARNING))
    assert quiet.filter(_record("Ensemble plan for 4 short job(s) ready together: 1 ensemble(s)"))
    assert quiet.filter(_record("Nothing to be done (all requested files are present and up to date)."))


def _chatter_in(text: str) -> list:
    return [word for word in CHATTER if word in text]


def test_a_quiet_dry_run_shows_only_mdflows_summary(project):
    quiet = run_mdflow(project, "-n", "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.startswith("mdflow dry-run: 55 job(s)") and "  where (profile local, local)" in quiet.stdout
    assert _chatter_in(quiet.stdout + quiet.stderr) == [] and EXTENDED not in quiet.stdout + quiet.stderr
    loud = run_mdflow(project, "-n")
    assert "Building DAG of jobs" in loud.stdout and "mdflow: profile 'local'" in loud.stderr
    assert EXTENDED not in loud.stdout + loud.stderr  # mdflow's own --config values: never announced


def test_quiet_keeps_mdflows_errors(project):
    result = run_mdflow(project, "-q", "--config", "timestep_fs=fast")
    assert result.returncode == 2
    assert result.stderr.startswith("mdflow: error: ") and len(result.stderr.splitlines()) == 1


# -- `mdflow report` ---------------------------------------------------------------------------------------

def test_pending_jobs_line():
    assert pending_jobs_line({"report": 1}, "r/report.html", "report", "mdflow report --run") is None
    line = pending_jobs_line({"setup": 3, "analyze": 1, "report": 1}, "r/report.html", "report", "mdflow report --run")
    assert line == ("report: 4 job(s) would have to run before r/report.html can be built (setup 3, analyze 1); "
                    "`mdflow report --run` runs them, then builds the report")


def test_report_refuses_to_run_the_campaign(project):
    result = run_mdflow(project, "report")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mdflow: error: report: 53 job(s) would have to run before results/report.html "
                               "can be built (setup 3, ")
    assert lines[0].endswith("`mdflow report --run` runs them, then builds the report")
    assert not (project / "results/report.html").exists() and not (project / "scratch").exists()


@pytest.fixture(scope="module")
def ci_done(tmp_path_factory):
    """(the project, how `mdflow --profile ci -q` went there)."""
    project = make_project(tmp_path_factory.mktemp("cli") / "project")
    return project, run_mdflow(project, "--profile", "ci", "-q")


def test_a_quiet_run_prints_no_snakemake_chatter(ci_done):
    project, result = ci_done
    assert result.returncode == 0, result.stderr
    assert (project / "results-ci/report.html").exists()
    assert _chatter_in(result.stdout + result.stderr) == [], result.stdout + result.stderr
    assert result.stderr == ""


def test_report_builds_only_the_report_and_refuses_more(ci_done):
    ci_done, _ = ci_done
    report, summary = ci_done / "results-ci/report.html", ci_done / "results-ci/villin/analysis/summary.json"
    up_to_date = run_mdflow(ci_done, "report", "--profile", "ci", check=True)
    assert up_to_date.stdout == "mdflow: results-ci/report.html is up to date\n"

    report.unlink()
    before = summary.stat().st_mtime_ns
    built = run_mdflow(ci_done, "report", "--profile", "ci", "-q", check=True)
    assert built.stdout.endswith("mdflow: wrote results-ci/report.html\n") and report.exists()
    assert summary.stat().st_mtime_ns == before

    report.unlink()
    summary.unlink()
    refused = run_mdflow(ci_done, "report", "--profile", "ci")
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "mdflow: error: report: 1 job(s) would have to run before results-ci/report.html can be built (analyze 1); "
        "`mdflow report --run --profile ci` runs them, then builds the report"]
    assert not report.exists() and not summary.exists()

    run_mdflow(ci_done, "report", "--run", "--profile", "ci", "-q", check=True)
    assert report.exists() and summary.exists()


def test_a_spreadsheets_csv_sheet_plans_like_the_tsv(project):
    """UTF-8 with a byte-order mark, CRLF line ends, commas: as a spreadsheet saves a sheet."""
    tsv = (project / "config/ci_systems.tsv").read_text().splitlines()
    (project / "config/ci_systems.csv").write_bytes(("\ufeff" + "\r\n".join(l.replace("\t", ",") for l in tsv)).encode())
    config = project / "config/ci.yaml"
    config.write_text(config.read_text().replace("config/ci_systems.tsv", "config/ci_systems.csv"))
    result = run_mdflow(project, "-n", "-q", "--profile", "ci")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mdflow dry-run: 27 job(s)")
