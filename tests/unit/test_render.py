"""Batch scripts as each shipped profile renders them (golden files), queue choice, job names."""

from pathlib import Path

import pytest

from golden import assert_golden
from mdflow.errors import MdflowError
from mdflow.executors import adapters
from mdflow.executors.render import (
    batch_job_name, build_request, choose_queue, job_key, layered_runtime, render_script, sanitize_job_name,
)
from mdflow.profiles import load_profile, materialize
import yaml

REPO = Path(__file__).resolve().parents[2]
BATCH_PROFILES = ["slurm", "pbs", "cobalt", "stampede", "theta", "polaris"]
EXEC = "/venv/bin/python3 -m snakemake --snakefile '/mdflow/workflow/Snakefile' --target-jobs 'simulate:system=villin,replica=0,segment=001' --mode 'remote'"


@pytest.mark.parametrize("name", BATCH_PROFILES)
def test_rendered_script_of_every_shipped_profile(name, tmp_path):
    site = yaml.safe_load((materialize(load_profile(name, REPO), tmp_path) / "mdflow.yaml").read_text())
    site["account"] = site.get("account", "PROJ123")
    nodes = 128 if name == "theta" else 1  # Theta's default queue starts at 128 nodes
    request = build_request(site, "simulate", {"system": "villin", "replica": "0", "segment": "001"},
                            {"runtime": 45, "mem_mb": 2000, "nodes": nodes}, 2, 1, "logs/batch", "/project")
    script = render_script(adapters.get(site["scheduler"]), request, site, EXEC)
    assert_golden(f"scripts/{name}.sh", script)


def test_profile_template_override(tmp_path):
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    (profile_dir / "job.sh.j2").write_text('{% extends "slurm.sh.j2" %}\n{% block setup %}source /lab/env.sh\n{% endblock %}\n')
    site = {"name": "lab", "scheduler": "slurm", "queue": "gpu"}
    request = build_request(site, "setup", {"system": "a"}, {"runtime": 5}, 1, 1, "logs", "/p")
    script = render_script(adapters.get("slurm"), request, site, "run-it", profile_dir)
    assert "source /lab/env.sh" in script and "#SBATCH --partition=gpu" in script and "set -eo pipefail" not in script


def test_job_names_are_sanitized():
    assert sanitize_job_name("simulate", {"system": "a b;rm -rf /", "replica": "0"}) == "simulate.a-b-rm--rf.0"
    assert sanitize_job_name("all", {}) == "all"


def test_jobs_whose_readable_names_collide_get_different_keys_and_batch_names():
    """Issue 18: `p-q` and `p/q` were both the batch job `collide.p-q`; so were values cut at 120 chars."""
    one = build_request({"name": "s"}, "collide", {"v": "p-q"}, {"runtime": 5}, 1, 1, "logs", "/p", ["out/p-q.txt"])
    two = build_request({"name": "s"}, "collide", {"v": "p/q"}, {"runtime": 5}, 1, 1, "logs", "/p", ["out/p/q.txt"])
    assert sanitize_job_name("collide", {"v": "p-q"}) == sanitize_job_name("collide", {"v": "p/q"})
    assert one.key != two.key and one.name != two.name and one.log_path != two.log_path
    assert one.name == "collide.p-q"  # exact readable names stay as they were
    assert two.name == f"collide.p-q.h{two.key}" and len(two.key) == 12
    long_a, long_b = "x" * 130 + "a", "x" * 130 + "b"
    names = [batch_job_name("r", {"v": v}, job_key("r", {"v": v}, [v])) for v in (long_a, long_b)]
    assert names[0] != names[1] and all(len(n) <= 120 for n in names)
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") for n in names)
    for value in ("-p", "p-", "a.b", "", "p q"):  # values sanitizing loses or changes: keyed
        name = batch_job_name("r", {"v": value}, job_key("r", {"v": value}, []))
        assert name.endswith(f".h{job_key('r', {'v': value}, [])}") and name[0].isalpha()


def test_job_key_is_exact_and_stable():
    assert job_key("r", {"a": "1", "b": "2"}, ["o/x", "o/y"]) == job_key("r", {"b": "2", "a": "1"}, ["o/y", "o/x"])
    assert job_key("r", {"a": "1"}, ["o/x"]) != job_key("r", {"a": "1"}, ["p/x"])  # another campaign's outputs
    assert job_key("r", {"a": "1"}, []) != job_key("s", {"a": "1"}, [])
    assert job_key("r", {"a": "1", "b": "2"}, []) != job_key("r", {"a": "2", "b": "1"}, [])


def test_group_jobs_are_always_keyed():
    key = job_key("g_a_b_c", {}, ["out/a.txt", "out/b.txt", "out/c.txt"])
    assert batch_job_name("g_a_b_c", {}, key, exact=False) == f"g_a_b_c.h{key}"
    request = build_request({"name": "s"}, "g_a_b_c", {}, {"runtime": 9}, 2, 1, "logs", "/p", ["out/c.txt"], group=True)
    assert request.name.startswith("g_a_b_c.h") and request.walltime_min == 9


def test_group_walltime_is_layered():
    """Per topological level the longest member, levels one after another."""
    assert layered_runtime([[3, 4], [5]]) == 9
    assert layered_runtime([[10]]) == 10
    assert layered_runtime([[1, 1, 1], [2, 7], [], [4]]) == 12


SITE = {"name": "s", "queue": "short", "queues": {"short": {"max_walltime": 30}, "long": {"max_walltime": "48:00:00"},
                                                   "big": {"max_walltime": 60, "min_nodes": 10}}}


def test_queue_choice_prefers_default_then_first_fit():
    assert choose_queue(SITE, 20, 1, None, "j") == "short"
    assert choose_queue(SITE, 90, 1, None, "j") == "long"
    assert choose_queue(SITE, 50, 12, None, "j") == "long"  # both long and big fit; long is listed first
    assert choose_queue({"name": "s"}, 5000, 1, None, "j") is None  # no limits known: scheduler default


def test_queue_refusals_are_clear():
    with pytest.raises(MdflowError, match=r"job j: 3000 min on 1 node\(s\) fits no queue of site s \(short: max 00:30:00; long: max 48:00:00; big: max 01:00:00, min 10 nodes\)"):
        choose_queue(SITE, 3000, 1, None, "j")
    with pytest.raises(MdflowError, match="queue 'gpu' is not a queue of site s"):
        choose_queue(SITE, 5, 1, "gpu", "j")
    with pytest.raises(MdflowError, match="exceeds queue 'short'"):
        choose_queue(SITE, 45, 1, "short", "j")


THETA_QUEUES = {"name": "theta", "queue": "default", "queues": {
    "default": {"max_walltime": "24:00:00", "min_nodes": 128, "max_nodes": 4392},
    "debug-cache-quad": {"max_walltime": "01:00:00", "max_nodes": 8}}}


def test_ensemble_goes_to_the_queue_that_charges_least():
    from mdflow.executors.render import choose_ensemble_queue

    queue, nodes, why = choose_ensemble_queue(THETA_QUEUES, 30, 1)  # three tiny setup jobs
    assert (queue, nodes) == ("debug-cache-quad", 1) and "default needs at least 128 nodes" in why
    queue, nodes, why = choose_ensemble_queue(THETA_QUEUES, 90, 1)  # too long for debug: 128 nodes, said so
    assert (queue, nodes) == ("default", 128) and "asked as 128" in why and "debug-cache-quad allows 01:00:00" in why
    assert choose_ensemble_queue(THETA_QUEUES, 30, 200)[:2] == ("default", 200)
    assert choose_ensemble_queue(SITE, 20, 1)[:2] == ("short", 1)  # equal cost: the default queue
    with pytest.raises(MdflowError, match="fits no queue"):
        choose_ensemble_queue(THETA_QUEUES, 3000, 1)
