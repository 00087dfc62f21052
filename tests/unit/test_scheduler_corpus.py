"""Every sample of real scheduler output under tests/data/scheduler/ (see its README: where each
came from, what it means) through the parser it names; `expect` is the sample's meaning per its
source, so a failure here is a misreading of a real scheduler, not a changed golden file."""

from pathlib import Path

import pytest
import yaml

from mdflow.executors import cobalt, pbs, slurm
from mdflow.executors.adapter import FAILED, GONE, QUEUED, RUNNING, SUCCESS

CORPUS = Path(__file__).resolve().parents[1] / "data" / "scheduler"
SAMPLES = sorted(CORPUS.glob("*/*.yaml"))
DECIDED = (QUEUED, RUNNING, SUCCESS, FAILED)


def load(path: Path) -> dict:
    sample = yaml.safe_load(path.read_text())
    for key in ("source", "kind", "meaning", "parser", "expect"):
        assert sample.get(key) not in (None, ""), f"{path.name}: no {key!r}"
    assert sample["kind"] in ("verbatim", "values"), f"{path.name}: kind {sample['kind']!r}"
    sample.setdefault("returncode", 0)
    sample["stdout"] = sample.get("stdout") or ""
    sample["stderr"] = sample.get("stderr") or ""
    return sample


def seen_as(status) -> str:
    if status is None or status.state not in DECIDED + (GONE,):
        return "undecided"
    return status.state


def check_statuses(statuses: dict, expect: dict, name: str):
    for job_id, want in expect.items():
        status = statuses.get(str(job_id))
        got = seen_as(status)
        wanted = want["state"]
        if wanted == "undecided":
            assert got in ("undecided", GONE), f"{name}: job {job_id} decided as {got}, expected undecided"
            continue
        assert got == wanted, f"{name}: job {job_id} is {got} ({status}), expected {wanted}"
        if "exit_code" in want:
            assert status.exit_code == want["exit_code"], f"{name}: job {job_id} exit {status.exit_code}, expected {want['exit_code']}"
        if "reason" in want:
            assert want["reason"] in status.reason, f"{name}: job {job_id} reason {status.reason!r} lacks {want['reason']!r}"
        assert status.never_runs == bool(want.get("never_runs")), f"{name}: job {job_id} never_runs {status.never_runs}"


def parse(sample: dict):
    """(kind of result, result) of the sample's parser on its output."""
    rc, out, err, parser = sample["returncode"], sample["stdout"], sample["stderr"], sample["parser"]
    ids = [str(k) for k in sample["expect"] if k not in ("count", "class", "job_id", "cluster", "state", "exit_code",
                                                       "no_answer", "queues")]
    if parser == "squeue":
        return "statuses", slurm.parse_squeue(rc, out, err)
    if parser == "sacct":
        return "statuses", slurm.parse_sacct(out)
    if parser == "scontrol":
        return "statuses", slurm.parse_scontrol(out)
    if parser == "squeue_count":
        return "count", slurm.count_user_jobs(rc, out, err)
    if parser == "sbatch":
        return "submission", slurm.parse_submission(out)
    if parser == "sbatch_error":
        return "class", slurm.classify_submit_error(err + out)
    if parser in ("qstat_json", "qstat_f"):
        return "statuses", pbs.parse_qstat(rc, out, err, ids, text=parser == "qstat_f")
    if parser == "qstat_Qf":
        return "queues", pbs.parse_queue_status(rc, out, err)
    if parser == "qstat_u":
        return "count", pbs.count_user_jobs(rc, out, err)
    if parser == "qsub":
        adapter = cobalt if sample["scheduler"] == "cobalt" else pbs
        return "submission", (adapter.parse_submit(out), None)
    if parser == "qsub_error":
        adapter = cobalt if sample["scheduler"] == "cobalt" else pbs
        return "class", adapter.classify_submit_error(err + out)
    if parser == "cobalt_qstat":
        rows = cobalt.parse_qstat_answer(rc, out, err)
        return "statuses", cobalt.statuses_from_rows(rows, ids)
    if parser == "cobaltlog":
        return "one", cobalt.status_from_cobaltlog(out)
    raise AssertionError(f"unknown parser {parser!r}")


@pytest.mark.parametrize("path", SAMPLES, ids=[f"{p.parent.name}/{p.stem}" for p in SAMPLES])
def test_sample(path):
    sample = load(path)
    sample["scheduler"] = path.parent.name
    expect, name = sample["expect"], f"{path.parent.name}/{path.name}"
    if expect.get("no_answer"):
        with pytest.raises(RuntimeError):
            parse(sample)
        return
    try:
        kind, result = parse(sample)
    except RuntimeError:  # no usable answer at all: every job stays undecided
        assert all(isinstance(w, dict) and w.get("state") == "undecided" for w in expect.values()), \
            f"{name}: the parser gave no answer, expected {expect}"
        return
    if kind == "statuses":
        check_statuses(result, expect, name)
    elif kind == "count":
        assert result == expect["count"], f"{name}: counted {result}, expected {expect['count']}"
    elif kind == "submission":
        assert result[0] == str(expect["job_id"]), f"{name}: job id {result[0]!r}, expected {expect['job_id']!r}"
        assert result[1] == expect.get("cluster"), f"{name}: cluster {result[1]!r}, expected {expect.get('cluster')!r}"
    elif kind == "queues":
        limits = {name: limit["max_walltime_min"] for name, limit in result.items()}
        assert limits == expect["queues"], f"{name}: queue limits {limits}, expected {expect['queues']}"
    elif kind == "class":
        assert result == expect["class"], f"{name}: classified {result}, expected {expect['class']}"
    else:
        check_statuses({"job": result}, {"job": expect}, name)


def test_corpus_size_and_spread():
    """The issue asks for at least 60 real samples over the three schedulers."""
    by_scheduler = {d.name: len(list(d.glob("*.yaml"))) for d in CORPUS.iterdir() if d.is_dir()}
    assert sum(by_scheduler.values()) >= 60 and all(by_scheduler.get(s, 0) >= 10 for s in ("slurm", "pbs", "cobalt")), by_scheduler


STATUS_PARSERS = {
    "slurm.parse_squeue": lambda s: slurm.parse_squeue(s["returncode"], s["stdout"], s["stderr"]),
    "slurm.parse_sacct": lambda s: slurm.parse_sacct(s["stdout"]),
    "slurm.parse_scontrol": lambda s: slurm.parse_scontrol(s["stdout"]),
    "slurm.count_user_jobs": lambda s: slurm.count_user_jobs(0, s["stdout"], ""),
    "pbs.parse_qstat json": lambda s: pbs.parse_qstat(s["returncode"], s["stdout"], s["stderr"], ["1", "308834"]),
    "pbs.parse_qstat text": lambda s: pbs.parse_qstat(s["returncode"], s["stdout"], s["stderr"], ["1"], text=True),
    "pbs.count_user_jobs": lambda s: pbs.count_user_jobs(0, s["stdout"], ""),
    "pbs.parse_queue_status": lambda s: pbs.parse_queue_status(0, s["stdout"], ""),
    "cobalt.parse_qstat_answer": lambda s: cobalt.parse_qstat_answer(s["returncode"], s["stdout"], s["stderr"]),
    "cobalt.status_from_cobaltlog": lambda s: cobalt.status_from_cobaltlog(s["stdout"]),
}


@pytest.mark.parametrize("parser", sorted(STATUS_PARSERS))
def test_every_parser_survives_the_whole_corpus(parser):
    """Any scheduler's output, fed to any parser, is either read or refused the documented way
    (RuntimeError: no usable answer, ValueError: not this format): never a crash."""
    for path in SAMPLES:
        sample = load(path)
        try:
            STATUS_PARSERS[parser](sample)
        except (RuntimeError, ValueError):
            pass
