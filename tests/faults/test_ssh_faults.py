"""Faults of remote sites (issue 16), against the real sshd and Slurm: SSH connections dropped again
and again during a run (mid-poll, mid-transfer, mid-submission), and a site that becomes unreachable
while another keeps working. Connections are dropped from the server side, by killing the sshd
session processes of the site's account ("sshd: mdsitea [priv]"), as a login node's reboot or a
network cut would; the batch jobs, which run under Slurm, are untouched."""

import json
import tempfile
from pathlib import Path
import os
import shutil
import subprocess
import threading
import time

from faults.faultlib import (
    SHEET, assert_identical_to_undisturbed, expect, fault_project, start_controller, undisturbed_reference, wait_for,
)
from integration.test_remote_sites import ROW, remote_project, site_yaml
from conftest import add_profile, run_mdflow
from shims.shim import install
from mdflow.ledger import Ledger


def drop_connections(user: str) -> int:
    """Kill the sshd sessions of `user` (not its other processes); how many there were."""
    return subprocess.run(["pkill", "-f", f"^sshd: {user}( |@)"], capture_output=True).returncode == 0


def logins(sshd, user) -> int:
    return (sshd["state"] / "sshd.log").read_text().count(f"Accepted publickey for {user} ")


def submissions(project) -> dict:
    counts = {}
    for entry in Ledger.of_project(project).all():
        key = (entry.name, entry.attempt)
        counts[key] = counts.get(key, 0) + 1
    return counts


@expect("every dropped connection is retried: the run completes, nothing is submitted twice, results are "
        "identical to an undisturbed run")
def test_connections_dropped_all_through_a_run(sshd, slurm, tmp_path, tmp_path_factory):
    reference = undisturbed_reference(tmp_path_factory.getbasetemp())
    project = fault_project(tmp_path / "project", SHEET)
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    # on the site, squeue goes through the counting shim; its 3rd call is held until a drop has cut it off
    shims = Path(tempfile.mkdtemp(prefix="mdflow-site-shims-"))  # pytest's tmp_path is private to root
    install(shims / "bin", ["squeue"])
    shims.chmod(0o777)
    shim_log, go = shims / "calls.log", shims / "go"
    (shims / "plan.json").write_text(json.dumps({"squeue": {"hold_calls": [3], "hold_until": str(go)}}))
    login_env = [f"export PATH={shims / 'bin'}:$PATH", f"export SHIM_LOG={shim_log}",
                 f"export SHIM_PLAN={shims / 'plan.json'}"]
    add_profile(project, "sitea", site_yaml(sshd, "mdsitea", f"campaigns/f-{tag}", "extends: slurm\nqueue: debug",
                                            login_env=login_env), "seconds-between-status-checks: 1\nretries: 1\n")
    stop, dropped = threading.Event(), []
    logins_before = logins(sshd, "mdsitea")

    def dropper():
        while not stop.wait(1.3):
            held_now = shim_log.exists() and shim_log.read_text().count("squeue ") >= 3 and not go.exists()
            if drop_connections("mdsitea"):
                dropped.append(time.time())
            if held_now:
                go.touch()  # the held poll's connection is gone: let the orphaned squeue end

    thread = threading.Thread(target=dropper, daemon=True)
    thread.start()
    try:
        result = run_mdflow(project, "--profile", "sitea", "--configfile", "config/ci.yaml", timeout=900)
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(dropped) >= 5, dropped
    assert logins(sshd, "mdsitea") - logins_before >= 5  # each drop really cost the shared connection
    assert go.exists() and "status query on sitea failed" in result.stderr  # a poll was cut mid-way
    shutil.rmtree(shims, ignore_errors=True)
    twice = {key: n for key, n in submissions(project).items() if n > 1}
    assert not twice, twice
    assert not list(project.glob(".mdflow/.incoming-*"))  # nothing half-copied left here
    assert_identical_to_undisturbed(project, reference, ("--profile", "sitea", "--configfile", "config/ci.yaml"))


@expect("a site that cannot be reached delays only its own jobs; the run completes once it is back")
def test_an_unreachable_site_delays_only_its_own_jobs(sshd, slurm, tmp_path):
    rows = [{**ROW, "site": "sitea"}, {**ROW, "name": "ala-b", "seed": 4, "site": "siteb"}]
    project, _ = remote_project(tmp_path, sshd, rows)
    keys = "/home/mdsiteb/.ssh/authorized_keys"
    ledger = Ledger.of_project(project)
    controller = start_controller(project, "--profile", "both", "--configfile", "config/ci.yaml")
    try:
        wait_for(lambda: any(e.site == "siteb" for e in ledger.all()), 300, "a job submitted to siteb", controller)
        shutil.move(keys, keys + ".away")  # new logins to siteb fail ...
        drop_connections("mdsiteb")        # ... and the shared one is gone
        wait_for(lambda: (project / "results-ci/ala/analysis/summary.json").exists(), 300,
                 "site A's system analysed while site B is unreachable", controller)
        assert not (project / "results-ci/ala-b/rep0/seg001.dcd").exists()  # site B's system waits
    finally:
        if os.path.exists(keys + ".away"):
            shutil.move(keys + ".away", keys)
    assert controller.wait(timeout=600) == 0
    log = next(project.glob("controller-*.log")).read_text()
    assert "status query on siteb failed" in log
    assert "status query on sitea failed" not in log
    assert (project / "results-ci/report.html").exists()
    assert {e.site for e in ledger.all() if e.state == "success"} == {"sitea", "siteb"}
