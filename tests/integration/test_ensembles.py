"""Ensembles on the real Slurm and the PBS/Cobalt emulators: members run concurrently, a failing
member is retried alone, max_queued is never exceeded, an over-long ensemble is split."""

import subprocess
import threading
import time

import pytest

from conftest import emulator_env, run_short_tasks, task_times
from mdflow.ledger import Ledger

pytestmark = pytest.mark.campaign


def site(scheduler="slurm", queue="debug", max_queued=20, cores=16, **ensemble):
    policy = {"short_runtime": 5, "max_walltime": 20, "gather_s": 1, **ensemble}
    lines = [f"name: ens{scheduler}", f"scheduler: {scheduler}", f"queue: {queue}", "logdir: logs",
             f"cores_per_node: {cores}", "queues:", f"  {queue}: {{max_walltime: 30, max_queued: {max_queued}}}",
             "ensemble:"] + [f"  {k}: {v}" for k, v in policy.items()]
    return "\n".join(lines) + "\n"


def ledger(workdir):
    return Ledger(workdir / ".mdflow/ledger.sqlite").all()


def test_members_run_concurrently_and_a_failing_member_is_retried_alone(slurm, tmp_path):
    result = run_short_tasks(tmp_path, site(), {"tasks": 8, "sleep": 3, "fail_once": 5}, "--retries", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    entries = ledger(tmp_path)
    first = [e for e in entries if e.attempt == 1]
    assert len({e.external_id for e in first}) == 1 and len(first) == 8  # all 8 in one ensemble
    retried = [e for e in entries if e.attempt == 2]
    assert [(e.name, e.state) for e in retried] == [("task.5", "success")]
    assert len({e.external_id for e in entries}) == 2  # the retry went alone, in a second batch job
    assert {e.name: e.state for e in first}["task.5"] == "failed"
    times = task_times(tmp_path)
    starts = [s for task, (s, _) in times.items() if task != "5"]
    ends = [e for task, (_, e) in times.items() if task != "5"]
    assert max(starts) < min(ends)  # every member started before any finished: they overlapped
    assert max(ends) - min(starts) < 2 * 3  # 7 × 3 s of sleeping in well under 6 s


def test_max_queued_is_never_exceeded(slurm, tmp_path):
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            out = subprocess.run(["squeue", "--noheader", "--format=%i", "--partition=debug", "--states=PENDING,RUNNING"],
                                 capture_output=True, text=True).stdout
            samples.append(len(out.split()))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = run_short_tasks(tmp_path, site(max_queued=2, max_members=4, gather_s=0), {"tasks": 24, "sleep": 1})
    finally:
        stop.set()
        sampler.join()
    assert result.returncode == 0, result.stderr[-3000:]
    batch_jobs = {e.external_id for e in ledger(tmp_path)}
    assert len(batch_jobs) >= 6 and max(samples) <= 2 and max(samples) >= 1


def test_over_long_ensemble_is_split(slurm, tmp_path):
    # 20 members of 4 min on 4 cores: 8 members = 2 layers = 8 min (+1 padding) fit 10 min, 12 would not
    result = run_short_tasks(tmp_path, site(cores=4, max_walltime=10), {"tasks": 20, "sleep": 0.5, "runtime": 4})
    assert result.returncode == 0, result.stderr[-3000:]
    sizes = {}
    for entry in ledger(tmp_path):
        sizes[entry.external_id] = sizes.get(entry.external_id, 0) + 1
    assert sorted(sizes.values()) == [4, 8, 8]
    walltimes = sorted(line.split("=")[1] for script in (tmp_path / ".mdflow/jobs").glob("ensemble.*.sh")
                       for line in script.read_text().splitlines() if line.startswith("#SBATCH --time="))
    assert walltimes == ["00:05:00", "00:09:00", "00:09:00"]  # honest: layers × 4 min, padded; all <= 10


@pytest.mark.parametrize("scheduler, queue", [("pbs", "debug"), ("cobalt", "default")])
def test_ensemble_members_overlap_on_emulated_schedulers(slurm, tmp_path, scheduler, queue):
    env = emulator_env(tmp_path, scheduler)
    result = run_short_tasks(tmp_path, site(scheduler, queue), {"tasks": 6, "sleep": 3}, env_extra=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len({e.external_id for e in ledger(tmp_path)}) == 1
    times = task_times(tmp_path)
    assert len(times) == 6 and max(s for s, _ in times.values()) < min(e for _, e in times.values())


def test_gpu_members_each_see_their_own_device_and_cores(slurm, tmp_path):
    """A node with 2 (declared) GPUs and 2 cores: 4 one-GPU members in one ensemble, two per GPU
    slot one after another, each shown only its device (CUDA_VISIBLE_DEVICES) and pinned to its
    core. No GPU is needed: the placement is what is tested (whole_nodes: Slurm is asked for none)."""
    text = site(cores=2, rules="[task]", gather_s=5) + "gpus_per_node: 2\nwhole_nodes: true\nlauncher: local\n"
    result = run_short_tasks(tmp_path, text, {"tasks": 4, "sleep": 2}, "--set-resources", "task:gpus=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len({e.external_id for e in ledger(tmp_path)}) == 1
    placement = {p.stem: p.read_text().split() for p in (tmp_path / "out").glob("*.placement")}
    assert sorted(placement.values()) == [["0", "0"], ["0", "0"], ["1", "1"], ["1", "1"]]
    times = task_times(tmp_path)
    for device in ("0", "1"):
        (a, b) = sorted(times[t] for t, (d, _) in placement.items() if d == device)
        assert a[1] <= b[0]  # one slot runs its members one after another
    script = next((tmp_path / ".mdflow/jobs").glob("ensemble.*.sh")).read_text()
    assert "env CUDA_VISIBLE_DEVICES=0 taskset -c 0-0 bash -c" in script and "--gpus" not in script
