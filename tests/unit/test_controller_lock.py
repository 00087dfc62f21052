"""The controller lock: one controller per project, and what a killed one left behind is cleared by
the next one (Snakemake's locks, half-done fetches from remote sites)."""

import subprocess
import sys

import pytest

from mdflow.controller_lock import controller_lock
from mdflow.errors import MdflowError


def test_the_next_controller_clears_what_a_killed_one_left(tmp_path):
    snakemake_lock = tmp_path / ".snakemake/locks/0.input.lock"
    fetch = tmp_path / ".mdflow/.incoming-4242-abcd/results/villin/rep0/seg000.dcd"  # ssh.py pull_tree's layout
    listing = tmp_path / ".mdflow/.incoming-4242-abcd.list"
    kept = [tmp_path / ".mdflow/ledger.sqlite", tmp_path / ".mdflow/jobs/simulate.villin.0.000.a1.sh"]
    for path in (snakemake_lock, fetch, listing, *kept):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    with controller_lock(tmp_path):
        assert not snakemake_lock.exists() and not listing.exists()
        assert not list((tmp_path / ".mdflow").glob(".incoming-*"))
        assert all(path.read_text() == "x" for path in kept)


def test_a_second_controller_is_refused_in_one_line_and_clears_nothing(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from mdflow.controller_lock import controller_lock\n"
        "with controller_lock(Path(sys.argv[1])):\n print('held', flush=True); time.sleep(60)"), str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = tmp_path / ".mdflow/.incoming-1-busy/results/x.csv"  # the running controller's fetch
        busy.parent.mkdir(parents=True)
        busy.write_text("x")
        with pytest.raises(MdflowError, match=rf"another mdflow run \(pid {holder.pid}\) is active in"):
            with controller_lock(tmp_path):
                pass
        assert busy.exists()
    finally:
        holder.kill()
        holder.wait()
