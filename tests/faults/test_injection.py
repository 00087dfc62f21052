"""Injection audit: no config, profile or wildcard value reaches a shell unquoted.

Where values meet a shell in mdflow (audited: `grep -rn "subprocess\\|shell=True\\|os.system" mdflow`,
mdflow/workflow/rules/*.smk have no `shell:` directive, only `script:`):
  - the batch script (render.py + executors/templates/*.sh.j2): `cd {{ workdir | shellquote }}`,
    scheduler directives (`#SBATCH …` lines: comments to bash, so only a line break could turn a
    value into a command: refused), `exec_job` (Snakemake's own command line, values quoted with
    repr() — unsafe for values holding a single quote, so mdflow refuses those: see below);
  - scheduler commands: argv lists without a shell (batch.run_command), except Cobalt's job-id
    filter, which is `sh -c SCRIPT qstat-ids USER HEADER NAME` with values as positional args;
  - profile `env:` lines (`module load …`) ARE shell code, written by the site's admin on purpose:
    they are rendered verbatim and are not quoted (README, Profiles). Everything else in a profile
    is restricted by mdflow/workflow/schemas/profile.schema.yaml (account, queue, queue names, logdir,
    workdir, select_extra, extends) and may not hold line breaks or control characters.
  - system names (the `system` wildcard) are restricted by systems.schema.yaml's pattern; replica
    and segment are digits (wildcard_constraints).

Each test renders or runs with hostile values and asserts either a clear MdflowError or that the
value stayed data: `bash -n` accepts the script, running it creates no marker file, a fake
scheduler command records exactly the argv it was meant to get.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from snakemake_interface_executor_plugins.utils import TargetSpec, encode_target_jobs_cli_args, format_cli_arg

from conftest import REPO
from mdflow import cli
from mdflow.errors import MdflowError
from mdflow.executors import adapters, cobalt, pbs, slurm
from mdflow.executors.batch import run_command
from mdflow.executors.render import build_request, render_script
from mdflow.profiles import check_site, load_profile

MARKER = "PWNED"
SCHEDULERS = ["slurm", "pbs", "cobalt"]
SHIPPED = sorted(p.name for p in (REPO / "mdflow/site_profiles").iterdir() if (p / "mdflow.yaml").exists())
HOSTILE = [f"x; touch {MARKER}", f"$(touch {MARKER})", f"`touch {MARKER}`", f"a'b\"c $(touch {MARKER})",
           f"q && touch {MARKER}", f"../../{MARKER}", f"x|touch {MARKER}"]
HOSTILE_WILDCARDS = {"system": f"`touch {MARKER}`", "replica": f"0;touch {MARKER}", "segment": f"$(touch {MARKER})"}


def no_marker(*roots) -> bool:
    return not any(list(Path(r).rglob(MARKER)) for r in roots) and not Path("/tmp", MARKER).exists()


def hostile_exec_job() -> str:
    """What Snakemake's format_job_exec builds for a job with these wildcards, run by `true`."""
    targets = encode_target_jobs_cli_args([TargetSpec("simulate", {"system": "ala", "replica": 0, "segment": "000"})])
    return "true " + format_cli_arg("--target-jobs", targets) + " " + format_cli_arg("--config", [
        "site_name=ci", f"results=r`touch {MARKER}`$(touch {MARKER})"])


# ----------------------------------------------------------------------------- profile values


@pytest.mark.parametrize("key", ["account", "queue", "logdir", "workdir", "select_extra", "extends"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_profile_values_are_refused_by_validation(key, value, tmp_path):
    """MdflowError naming the key ('not allowed'), or a plain relative path accepted."""
    site = {"scheduler": "slurm", key: value}
    if key in ("workdir", "extends", "logdir") and value == f"../../{MARKER}":
        check_site(site, tmp_path / "mdflow.yaml")  # a plain relative path: allowed (not shell syntax)
        return
    with pytest.raises(MdflowError) as error:
        check_site(site, tmp_path / "mdflow.yaml")
    message = str(error.value)
    assert f"key {key!r}" in message and "not allowed" in message and "\n" not in message


@pytest.mark.parametrize("key", ["account", "queue", "logdir", "workdir", "directives"])
def test_line_breaks_in_profile_values_are_refused(key, tmp_path):
    """MdflowError: a line break would start a new script line."""
    value = f"ok\ntouch {MARKER}"
    site = {"scheduler": "slurm", key: [value] if key == "directives" else value}
    with pytest.raises(MdflowError, match="not allowed"):
        check_site(site, tmp_path / "mdflow.yaml")


def test_hostile_queue_names_are_refused(tmp_path):
    """MdflowError naming queues."""
    with pytest.raises(MdflowError, match="queues"):
        check_site({"scheduler": "slurm", "queues": {f"q;touch {MARKER}": {"max_walltime": 10}}}, tmp_path / "m.yaml")


def test_env_lines_are_shell_code_by_design(tmp_path):
    """`env:` is the site admin's shell (module load …): accepted and rendered verbatim, unquoted."""
    site = {"scheduler": "slurm", "env": ["module load openmm/$(cat /etc/hostname) || true"], "name": "t"}
    check_site({k: v for k, v in site.items() if k != "name"}, tmp_path / "mdflow.yaml")
    request = build_request(site, "simulate", {}, {"runtime": 5}, 1, 1, "logs/batch", str(tmp_path))
    script = render_script(slurm, request, site, "true")
    assert "\nmodule load openmm/$(cat /etc/hostname) || true\n" in script


def test_profile_names_with_shell_characters_are_refused(tmp_path):
    """MdflowError: unknown profile (letters, digits, _ . / - only)."""
    for name in (f"x'`touch {MARKER}`", f"a;touch {MARKER}", "a b"):
        with pytest.raises(MdflowError, match="unknown profile"):
            load_profile(name, tmp_path)


# ----------------------------------------------------------------------------- batch scripts


def hostile_site(scheduler: str, tmp_path: Path) -> dict:
    """A site whose values passed validation but carry every shell character the schema allows."""
    return {"scheduler": scheduler, "name": "hostile", "account": "acct-1.x@y+z", "queue": "q_1,debug",
            "logdir": "logs/b+c", "select_extra": "system=polaris:x=1", "directives": ["--comment=$(touch PWNED)"]}


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_rendered_scripts_keep_hostile_values_as_data(scheduler, tmp_path):
    """Hostile wildcards, a project path full of shell syntax, a hostile directive: `bash -n` passes
    and running the script (exec_job = `true …`) creates no marker."""
    adapter = adapters.get(scheduler)
    project = tmp_path / ("proj_$(touch PWNED)_`touch PWNED`" if scheduler == "slurm" else "proj_$(touch_PWNED)")
    project.mkdir()
    site = hostile_site(scheduler, tmp_path)
    request = build_request(site, "simulate", HOSTILE_WILDCARDS, {"runtime": 5}, 1, 1, site["logdir"], str(project))
    assert set(request.name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    script = render_script(adapter, request, site, hostile_exec_job())
    path = tmp_path / "job.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    ran = subprocess.run(["bash", str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert no_marker(tmp_path), script
    directive_lines = [line for line in script.splitlines() if line.startswith("#") and MARKER in line]
    assert directive_lines, "the hostile directive should be in the script, as a comment line"


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_line_breaks_reaching_the_renderer_are_refused(scheduler, tmp_path):
    """MdflowError before any script is written."""
    adapter = adapters.get(scheduler)
    site = {"scheduler": scheduler, "name": "h", "account": f"a\ntouch {MARKER}"}
    request = build_request(site, "setup", {"system": "ala"}, {"runtime": 5}, 1, 1, "logs", str(tmp_path))
    with pytest.raises(MdflowError, match="line break|cannot hold whitespace"):
        render_script(adapter, request, site, "true")


@pytest.mark.parametrize("scheduler", ["pbs", "cobalt"])
def test_blanks_that_a_scheduler_cannot_express_are_a_clear_error(scheduler, tmp_path):
    """MdflowError naming the job, not a ValueError traceback."""
    site = {"scheduler": scheduler, "name": "h"}
    request = build_request(site, "setup", {"system": "ala"}, {"runtime": 5}, 1, 1, "logs", str(tmp_path / "a b"))
    with pytest.raises(MdflowError, match="job setup.ala"):
        render_script(adapters.get(scheduler), request, site, "true")


@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in ("local", "ci")])
def test_every_shipped_profile_renders_hostile_wildcards_safely(name, tmp_path, monkeypatch):
    """bash -n passes, running the script creates no marker."""
    monkeypatch.setenv("SCRATCH", str(tmp_path / "scratch"))
    profile = load_profile(name, tmp_path)
    site = {**profile.site, "name": name}
    project = tmp_path / "my_$(touch_PWNED)"
    project.mkdir()
    request = build_request(site, "simulate", HOSTILE_WILDCARDS, {"runtime": 5}, 1, 1, "logs/batch", str(project))
    script = render_script(adapters.get(profile.scheduler), request, site, hostile_exec_job(), profile.path)
    path = tmp_path / "job.sh"
    path.write_text("\n".join(line for line in script.splitlines() if not line.startswith("module ")) + "\n")
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    subprocess.run(["bash", str(path)], cwd=tmp_path, capture_output=True, timeout=30)
    assert no_marker(tmp_path)


# ----------------------------------------------------------------------------- scheduler commands


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    """Fake scheduler commands that append their argv (JSON) to calls.jsonl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    for name in ("sbatch", "squeue", "scancel", "scontrol", "qsub", "qstat", "qdel", "qselect"):
        fake = bin_dir / name
        fake.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(log)!r}, 'a').write(json.dumps(sys.argv) + '\\n')\n"
                        "print('JobID  JobName  State\\n=====\\n')\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return lambda: [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("value", HOSTILE)
def test_scheduler_commands_get_hostile_values_as_single_arguments(value, recorder, tmp_path, monkeypatch):
    """fake scheduler records the exact argv, no marker."""
    monkeypatch.chdir(tmp_path)
    expected = []
    for adapter in (slurm, pbs, cobalt):
        for argv in (adapter.submit_argv(f"/jobs/{value}.sh"), adapter.cancel_argv([value]),
                     adapter.count_user_jobs_argv(value, value), adapter.find_by_name_argv(value, value)):
            run_command(argv, timeout=30)
            expected.append(argv)
    calls = recorder()
    assert no_marker(tmp_path)
    # every direct call arrived exactly as built; the `sh -c` wrappers (Cobalt's qstat filters, PBS's
    # qselect-then-qstat lookup) passed the values through intact
    direct = [argv for argv in expected if argv[0] != "sh"]

    def wrapped(call):
        command = Path(call[0]).name
        return command == "qselect" or (command == "qstat" and ("--header" in call or "-F" in call))
    assert [c[1:] for c in calls if not wrapped(c)] == [a[1:] for a in direct]
    filtered = [c for c in calls if Path(c[0]).name == "qstat" and "-u" in c and "--header" in c]
    assert len(filtered) == 2 and all(c[c.index("-u") + 1] == value for c in filtered)
    [selected] = [c for c in calls if Path(c[0]).name == "qselect"]
    assert selected[selected.index("-u") + 1] == value and selected[selected.index("-N") + 1] == pbs.job_name(value)


# ----------------------------------------------------------------------------- Snakemake's command line


def test_snakemake_repr_quoting_is_unsafe_for_single_quotes_so_mdflow_refuses_them(tmp_path):
    """Snakemake quotes --config values for batch jobs with repr(): a value holding ' comes out in
    double quotes, where bash runs `…`. That is why mdflow refuses quotes in --config and workdir."""
    value = f"results=it's`touch {MARKER}`"
    line = "true " + format_cli_arg("--config", [value])
    subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, timeout=30)
    assert (tmp_path / MARKER).exists(), "Snakemake's quoting changed: revisit UNSAFE_IN_JOB_ARGS in mdflow/cli.py"
    with pytest.raises(MdflowError, match="--config"):
        cli.check_config_values([value])
    safe = "true " + format_cli_arg("--config", [f"results=r`touch {MARKER}2`$(touch {MARKER}2)"])
    subprocess.run(["bash", "-c", safe], cwd=tmp_path, capture_output=True, timeout=30)
    assert not (tmp_path / f"{MARKER}2").exists()
    cli.check_config_values(["results=r$(x)"])  # $ alone stays inside single quotes: allowed


def test_workdir_with_quotes_is_refused_before_reaching_jobs(tmp_path, monkeypatch):
    """MdflowError naming 'workdir'."""
    class P:
        name = "h"
        site = {"workdir": "$MDFLOW_TEST_SCRATCH/x"}
    monkeypatch.setenv("MDFLOW_TEST_SCRATCH", f"/s/it's`touch {MARKER}`")
    with pytest.raises(MdflowError, match="'workdir'"):
        cli.site_workdir(P())
