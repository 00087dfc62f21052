"""Remote sites driven from this host over SSH (issue 16), with real parts only: a real sshd
(tests/ssh/start_sshd.sh) with two site accounts, site A reaching the real Slurm as mdsitea, site B
the PBS Pro emulator (tests/emulators/pbs, itself running jobs on the real Slurm) as mdsiteb. One
controller drives both in one run; the campaign's files stay here, each job's inputs are staged to
its site and its outputs fetched back, sha256-checked."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import MDFLOW, REPO, add_profile, assert_job_ids_in_provenance, make_project, run_mdflow, write_sheet
from faults.faultlib import wait_for
from mdflow.ledger import Ledger

pytestmark = pytest.mark.campaign
FAST = "seconds-between-status-checks: 1\nretries: 1\n"
ROW = {"name": "ala", "structure": "resources/alanine-dipeptide.pdb", "forcefield": "amber99sbildn",
       "solvent": "implicit", "temperature_k": 300, "replicas": 1, "length_ps": 0.4, "segment_ps": 0.2, "seed": 3}


def site_yaml(sshd, user: str, remote_dir: str, scheduler_lines: str, login_env=()) -> str:
    lines = [scheduler_lines.rstrip("\n"), "host: 127.0.0.1", f"port: {sshd['port']}", f"user: {user}",
             f"ssh_options: {json.dumps(sshd['options'])}", f"python: {sshd['python']}", f"remote_dir: {remote_dir}"]
    if login_env:
        lines.append(f"login_env: {json.dumps(list(login_env))}")
    return "\n".join(lines) + "\n"


def remote_project(tmp_path, sshd, rows, two_sites=True) -> tuple[Path, str]:
    """A project with profiles sitea (Slurm as mdsitea), siteb (PBS emulator as mdsiteb) and
    `both` (the two); the remote directories are unique to the test."""
    project = make_project(tmp_path / "project")
    write_sheet(project, rows)
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    add_profile(project, "sitea", site_yaml(sshd, "mdsitea", f"campaigns/a-{tag}", "extends: slurm\nqueue: debug"),
                FAST)
    pbs_env = [f"export PATH={REPO}/tests/emulators/pbs/bin:$PATH", "export PBS_EMULATOR_STATE=$HOME/pbs-emulator-state"]
    add_profile(project, "siteb", site_yaml(sshd, "mdsiteb", f"campaigns/b-{tag}", "extends: pbs\nqueue: debug",
                                            login_env=pbs_env), FAST)
    if two_sites:
        add_profile(project, "both", "sites: [sitea, siteb]\n", "executor: mdflow\n" + FAST +
                    "jobs: 100\nlatency-wait: 30\ndefault-resources:\n  - runtime=30\n  - mem_mb=2000\n  - disk_mb=1000\n")
    return project, tag


def logins(sshd, user) -> int:
    return (sshd["state"] / "sshd.log").read_text().count(f"Accepted publickey for {user} ")


def ran_as(tag: str, user: str, letter: str) -> Path:
    return Path(f"/home/{user}/campaigns/{letter}-{tag}")


def ci_rows_with_sites(sites: dict) -> list:
    """The ci campaign's own sheet (the repository's config/ci_systems.tsv) with a `site` column."""
    lines = (REPO / "config/ci_systems.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [{**dict(zip(header, line.split("\t"))), "site": sites.get(line.split("\t")[0], "")} for line in lines[1:]]


def test_ci_campaign_split_across_two_remote_sites_in_one_run(sshd, slurm, tmp_path):
    """The ci campaign (all three systems) in one run: ala-water on site B (PBS emulator as mdsiteb),
    ala-implicit on site A (Slurm as mdsitea), villin on the profile's first site (A: no site given)."""
    project, tag = remote_project(tmp_path, sshd, [ROW])
    write_sheet(project, ci_rows_with_sites({"ala-implicit": "sitea", "ala-water": "siteb"}))
    before = {user: logins(sshd, user) for user in ("mdsitea", "mdsiteb")}
    run_mdflow(project, "--profile", "both", "--configfile", "config/ci.yaml", check=True, timeout=1200)
    # every command and transfer of a site (hundreds) went over one shared connection
    assert all(logins(sshd, user) - before[user] <= 2 for user in before), (before, logins(sshd, "mdsitea"))
    assert (project / "results-ci/report.html").exists()
    entries = Ledger.of_project(project).all()
    by_system = {}
    for entry in entries:
        by_system.setdefault(entry.wildcards["system"], set()).add((entry.site, entry.scheduler, entry.state))
    assert by_system == {"ala-implicit": {("sitea", "slurm", "success")}, "villin": {("sitea", "slurm", "success")},
                         "ala-water": {("siteb", "pbs", "success")}}, by_system
    names = [(e.name, e.attempt) for e in entries]
    assert len(names) == len(set(names)) == 3 + 8  # nothing submitted twice
    for site, scheduler in (("sitea", "slurm"), ("siteb", "pbs")):
        assert_job_ids_in_provenance(project, [e for e in entries if e.site == site], scheduler)
    # each site ran its own systems, in its own account and directory
    site_a, site_b = ran_as(tag, "mdsitea", "a"), ran_as(tag, "mdsiteb", "b")
    assert sorted(p.name for p in (site_a / "scratch/ci").iterdir()) == ["ala-implicit", "villin"]
    assert sorted(p.name for p in (site_b / "scratch/ci").iterdir()) == ["ala-water"]
    assert site_b.stat().st_uid != site_a.stat().st_uid
    # what came back is byte for byte what the site wrote, and what the pull rule checked
    for system, site in (("ala-implicit", site_a), ("ala-water", site_b)):
        for name in ("seg000.dcd", "seg001.csv"):
            assert (project / f"scratch/ci/{system}/rep0/{name}").read_bytes() == \
                   (site / f"scratch/ci/{system}/rep0/{name}").read_bytes()
    verify = run_mdflow(project, "verify", "--profile", "both", "--configfile", "config/ci.yaml")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status = run_mdflow(project, "status", "--profile", "both", "--configfile", "config/ci.yaml", check=True).stdout
    sites = {(line.split()[0], line.split()[5]) for line in status.splitlines() if line.split()[2:3] == ["000"]}
    assert sites == {("ala-implicit", "sitea"), ("ala-water", "siteb"), ("villin", "sitea")}, status


def test_a_site_listed_in_the_sheet_but_not_the_profile_is_refused_in_one_line(sshd, tmp_path):
    project, _ = remote_project(tmp_path, sshd, [{**ROW, "site": "nowhere"}])
    result = run_mdflow(project, "--profile", "both", "--configfile", "config/ci.yaml")
    assert result.returncode != 0
    assert "system ala, column site: nowhere is not a site of this profile (its sites: sitea, siteb)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_killed_controller_reattaches_over_ssh_instead_of_resubmitting(sshd, slurm, tmp_path):
    villin = {**ROW, "name": "villin", "structure": "resources/villin.pdb", "length_ps": 4.0, "segment_ps": 4.0}
    project, tag = remote_project(tmp_path, sshd, [villin], two_sites=False)
    env = {**os.environ, "OPENMM_CPU_THREADS": "1"}
    controller = subprocess.Popen([*MDFLOW, "--profile", "sitea", "--configfile", "config/ci.yaml"], cwd=project,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
    ledger = Ledger.of_project(project)
    wait_for(lambda: any(e.name == "simulate.villin.0.000" for e in ledger.all()), 300, "simulate submitted", controller)
    # while it runs, `mdflow status` shows its progress, read on the site over the controller's connection
    there = ran_as(tag, "mdsitea", "a") / "scratch/ci/villin/rep0/seg000.partial/progress.json"
    wait_for(lambda: there.exists() and json.loads(there.read_text())["steps"] > 0, 300, "a checkpoint on the site",
             controller)
    before = logins(sshd, "mdsitea")
    shown = run_mdflow(project, "status", "--profile", "sitea", "--configfile", "config/ci.yaml", "--json", check=True)
    (row,) = [r for r in json.loads(shown.stdout)["segments"] if r["system"] == "villin" and r["segment"] == "000"]
    assert row["state"] == "running" and row["site"] == "sitea" and row["steps"] > 0, row
    assert logins(sshd, "mdsitea") == before  # no login of its own: the controller's connection
    os.killpg(controller.pid, signal.SIGKILL)
    controller.wait()
    submitted = [e.external_id for e in ledger.all() if e.name == "simulate.villin.0.000"]
    result = run_mdflow(project, "--profile", "sitea", "--configfile", "config/ci.yaml", check=True)
    output = result.stdout + result.stderr
    assert f"Re-attached to simulate.villin.0.000: slurm job {submitted[0]} on sitea" in output, output
    assert [e.external_id for e in Ledger.of_project(project).all() if e.name == "simulate.villin.0.000"] == submitted
    assert (project / "results-ci/villin/rep0/seg000.dcd").exists()


def test_a_site_that_lacks_mdflow_is_refused_before_anything_is_submitted(sshd, tmp_path):
    project, _ = remote_project(tmp_path, sshd, [ROW], two_sites=False)
    profile = project / "profiles/sitea/mdflow.yaml"
    profile.write_text(profile.read_text().replace(f"python: {sshd['python']}", "python: /usr/bin/python3"))
    result = run_mdflow(project, "--profile", "sitea", "--configfile", "config/ci.yaml")
    assert result.returncode != 0
    assert ("site sitea (127.0.0.1) lacks: python /usr/bin/python3 with mdflow and snakemake (set `python:`, "
            "`login_env:` or `remote_dir:` in its mdflow.yaml)") in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert Ledger.of_project(project).all() == []


HOSTILE_SNAKEFILE = '''
NAMES = ["a b", "it's", "$(touch PWNED)", "`touch PWNED`", "x;touch PWNED"]

rule all:
    input: [f"out/{n}.txt" for n in NAMES]

rule task:
    input: "in/{name}.dat"
    output: "out/{name}.txt"
    resources: runtime=5, mem_mb=100
    run:
        with open(input[0]) as src, open(output[0], "w") as dst:
            dst.write(src.read().upper())
'''


def test_hostile_project_and_file_names_stay_data_on_the_site(sshd, slurm, tmp_path):
    """A workflow of the user's own (not mdflow's campaign) through `snakemake --executor mdflow` on a
    remote site, in a project whose path and files hold quotes, blanks and command substitutions."""
    project = tmp_path / "it's a $(touch PWNED) `touch PWNED` project"
    (project / "in").mkdir(parents=True)
    names = ["a b", "it's", "$(touch PWNED)", "`touch PWNED`", "x;touch PWNED"]
    for name in names:
        (project / f"in/{name}.dat").write_text(f"data of {name}\n")
    (project / "Snakefile").write_text(HOSTILE_SNAKEFILE)
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    site = project / ".site"
    site.mkdir()
    (site / "mdflow.yaml").write_text(site_yaml(sshd, "mdsitea", f"campaigns/h-{tag}", "name: hostile\nscheduler: slurm\n"
                                                "queue: debug"))
    code = ("import sys, mdflow.cli as c, snakemake.cli as s; c.register_executor(); "
            "sys.argv = ['snakemake'] + sys.argv[1:]; s.main()")
    result = subprocess.run([sys.executable, "-c", code, "--executor", "mdflow", "--jobs", "5",
                             "--seconds-between-status-checks", "1", "--latency-wait", "30"], cwd=project,
                            env={**os.environ, "MDFLOW_SITE_PROFILE": str(site)}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in names:
        assert (project / f"out/{name}.txt").read_text() == f"DATA OF {name.upper()}\n"
    remote = ran_as(tag, "mdsitea", "h")
    assert sorted(p.name for p in (remote / "out").iterdir()) == sorted(f"{n}.txt" for n in names)
    assert not list(Path("/home/mdsitea").rglob("PWNED")) and not list(tmp_path.rglob("PWNED"))
    assert not Path("PWNED").exists()


def test_an_unknown_host_key_or_a_hostile_host_is_refused_in_one_line(sshd, tmp_path):
    project, _ = remote_project(tmp_path, sshd, [ROW], two_sites=False)
    profile = project / "profiles/sitea/mdflow.yaml"
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    profile.write_text(profile.read_text().replace(str(sshd["state"] / "known_hosts"), str(empty)))
    # a shared connection still open from an earlier test was verified when it was made and would be
    # reused: end it, so that this run must log in afresh
    subprocess.run(["pkill", "-f", "^sshd: mdsitea( |@)"], capture_output=True)
    result = run_mdflow(project, "--profile", "sitea", "--configfile", "config/ci.yaml")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert ("site sitea: the host key of 127.0.0.1 is not known or has changed; check it and add it to known_hosts "
            "(`ssh mdsitea@127.0.0.1` once), mdflow does not accept unknown keys") in result.stderr
    profile.write_text(profile.read_text().replace("host: 127.0.0.1", "host: -oProxyCommand=touch${IFS}PWNED"))
    result = run_mdflow(project, "--profile", "sitea", "--configfile", "config/ci.yaml")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "site sitea: host '-oProxyCommand=touch${IFS}PWNED' is not a host name or address" in result.stderr
    assert not list(tmp_path.rglob("PWNED"))


def test_ctrl_c_cancels_the_remote_sites_jobs_over_ssh(sshd, slurm, tmp_path):
    endless = {**ROW, "name": "villin", "structure": "resources/villin.pdb", "length_ps": 100.0, "segment_ps": 100.0}
    project, _ = remote_project(tmp_path, sshd, [endless], two_sites=False)
    controller = subprocess.Popen([*MDFLOW, "--profile", "sitea", "--configfile", "config/ci.yaml"], cwd=project,
                                  env={**os.environ, "OPENMM_CPU_THREADS": "1"}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)
    ledger = Ledger.of_project(project)
    running = lambda: [e for e in ledger.all() if e.name == "simulate.villin.0.000" and e.state == "running"]  # noqa: E731
    wait_for(running, 300, "the segment running on site A", controller)
    job_id = running()[0].external_id
    controller.send_signal(signal.SIGINT)
    _, stderr = controller.communicate(timeout=120)
    assert controller.returncode != 0 and "Traceback" not in stderr
    assert "Cancelled 1 slurm job(s)." in stderr
    state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout.strip()
    assert state in ("", "CANCELLED", "COMPLETING"), state
    assert [e.state for e in ledger.all() if e.external_id == job_id] == ["cancelled"]
