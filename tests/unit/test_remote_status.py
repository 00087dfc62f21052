"""Progress of jobs running on remote sites (mdflow/remote_status.py): the pure parts; the SSH read
itself runs against the real sshd in tests/integration/test_remote_sites.py."""

from mdflow.ledger import LedgerEntry
from mdflow.remote_status import parse_progress, partial_progress_path, running_on_sites


def entry(rule, site, state, outputs):
    return LedgerEntry(site=site, external_id="7", name=f"{rule}.x", rule=rule, wildcards={}, outputs=outputs,
                       scheduler="slurm", state=state, exit_code=None, attempt=1, log_path="l", submitted=0.0,
                       updated=0.0)


def test_progress_path_comes_from_the_jobs_own_outputs():
    assert partial_progress_path(["scratch/ci/villin/rep0/seg000.dcd", "scratch/ci/villin/rep0/seg000.csv"]) == \
        "scratch/ci/villin/rep0/seg000.partial/progress.json"
    assert partial_progress_path(["work/c/ala/rep1/eq02.state.xml"]) == "work/c/ala/rep1/eq02.partial/progress.json"
    assert partial_progress_path(["results/ala/setup/system.xml"]) is None


def test_progress_text_is_read_leniently():
    assert parse_progress('{"steps": 650, "ns_per_day": 12.5, "fingerprint": "f"}') == (650, 12.5)
    assert parse_progress('{"steps": 50}') == (50, None)
    assert parse_progress(None) is None and parse_progress("{half") is None and parse_progress("[]") is None


def test_only_running_segments_and_stages_on_the_named_sites_are_asked_for():
    ledger = {
        ("simulate", "villin", 0, 0): entry("simulate", "sitea", "running", ["s/villin/rep0/seg000.dcd"]),
        ("simulate", "villin", 0, 1): entry("simulate", "sitea", "queued", ["s/villin/rep0/seg001.dcd"]),
        ("equilibrate", "ala", 0, 1): entry("equilibrate", "siteb", "running", ["s/ala/rep0/eq01.dcd"]),
        ("simulate", "ala", 0, 0): entry("simulate", "here", "running", ["s/ala/rep0/seg000.dcd"]),
        ("setup", "ala", None, None): entry("setup", "sitea", "running", ["results/ala/setup/system.xml"]),
    }
    assert running_on_sites(ledger, {"sitea": {}, "siteb": {}}) == {
        "sitea": {"s/villin/rep0/seg000.partial/progress.json": ("simulate", "villin", 0, 0)},
        "siteb": {"s/ala/rep0/eq01.partial/progress.json": ("equilibrate", "ala", 0, 1)}}
