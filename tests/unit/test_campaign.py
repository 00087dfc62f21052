"""The campaign config and systems sheet: accepted as shipped, and every mistake named in one line."""

import json
from pathlib import Path

import pytest

from conftest import make_project
from golden import assert_golden
from mdflow.campaign import MARKER, claim_results, load_campaign, marker_owner, marker_record, results_conflict
from mdflow.errors import MdflowError
from mdflow.layout import campaign_directories

HEADER = "name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\tph"
GOOD_ROW = "ala\tresources/alanine-dipeptide.pdb\tamber99sbildn\timplicit\t300\t2\t0.4\t0.2\t11\t7.0"


def test_shipped_demo_and_ci_campaigns_load():
    repo = Path(__file__).resolve().parents[2]
    demo = load_campaign(repo, [], {})
    assert list(demo.systems) == ["ala-implicit", "ala-water", "villin"]
    assert demo.systems["villin"].segments == 2 and demo.systems["villin"].steps_per_segment == 2500
    ci = load_campaign(repo, ["config/ci.yaml"], {})
    assert (demo.name, demo.results, demo.scratch) == ("demo", "results", "scratch/demo")
    assert (ci.name, ci.results, ci.scratch) == ("ci", "results-ci", "scratch/ci")
    assert ci.config_files == ("config/config.yaml", "config/ci.yaml")
    assert ci.report_interval_steps == 10 and ci.checkpoint_interval_steps == 50
    assert all(s.steps_per_segment == 500 for s in ci.systems.values())
    assert ci.settings["platform"] == "CPU"


def test_defaults_filled_in_and_overrides_win(project):
    campaign = load_campaign(project, ["config/ci.yaml"], {"threads": 2})
    assert campaign.settings["threads"] == 2
    assert campaign.settings["friction_per_ps"] == 1.0


def _sheet(project, *rows, header=HEADER, encoding="utf-8"):
    (project / "config/ci_systems.tsv").write_text("\n".join([header, *rows]) + "\n", encoding=encoding)


def _csv_sheet(project, *lines):
    """The ci campaign reading config/ci_systems.csv with these lines."""
    (project / "config/ci_systems.csv").write_text("\n".join(lines) + "\n")
    config = project / "config/ci.yaml"
    config.write_text(config.read_text().replace("config/ci_systems.tsv", "config/ci_systems.csv"))


# (case name, edit to the project) -> the one-line message is kept in tests/golden/campaign_errors.txt
CASES = {
    "unknown forcefield": lambda p: _sheet(p, GOOD_ROW.replace("amber99sbildn", "gromos54")),
    "unknown solvent": lambda p: _sheet(p, GOOD_ROW.replace("implicit", "vacuum")),
    "non-positive length": lambda p: _sheet(p, GOOD_ROW.replace("\t0.4\t", "\t-1\t")),
    "zero replicas": lambda p: _sheet(p, GOOD_ROW.replace("\t2\t0.4", "\t0\t0.4")),
    "text where a number belongs": lambda p: _sheet(p, GOOD_ROW.replace("\t300\t", "\thot\t")),
    "float replicas": lambda p: _sheet(p, GOOD_ROW.replace("\t2\t0.4", "\t1.5\t0.4")),
    "missing structure file": lambda p: _sheet(p, GOOD_ROW.replace("alanine-dipeptide", "nope")),
    "malformed pdb": lambda p: (
        (p / "resources/bad.pdb").write_text("ATOM      1  N   ALA A   1      1.0xx   2.000   3.000\n"),
        _sheet(p, GOOD_ROW.replace("alanine-dipeptide", "bad")),
    ),
    "wrong cell count": lambda p: _sheet(p, GOOD_ROW + "\textra"),
    "unknown column": lambda p: _sheet(p, GOOD_ROW + "\tx", header=HEADER + "\tcolour"),
    "missing column": lambda p: _sheet(p, GOOD_ROW.rsplit("\t", 2)[0] + "\t\t7.0"),
    "charmm36 implicit": lambda p: _sheet(p, GOOD_ROW.replace("amber99sbildn", "charmm36")),
    "length not whole segments": lambda p: _sheet(p, GOOD_ROW.replace("\t0.4\t0.2", "\t0.5\t0.2")),
    "segment not whole steps": lambda p: _sheet(p, GOOD_ROW.replace("\t0.4\t0.2", "\t0.4001\t0.4001")),
    "duplicate name": lambda p: _sheet(p, GOOD_ROW, GOOD_ROW),
    "path traversal in name": lambda p: _sheet(p, GOOD_ROW.replace("ala\t", "../../etc\t", 1)),
    "shell metacharacters in name": lambda p: _sheet(p, GOOD_ROW.replace("ala\t", "a;rm -rf ~\t", 1)),
    "empty sheet": lambda p: (p / "config/ci_systems.tsv").write_text("# nothing\n"),
    "sheet without rows": lambda p: _sheet(p),
    "space-separated sheet": lambda p: _sheet(p, GOOD_ROW.replace("\t", " "), header=HEADER.replace("\t", " ")),
    "comma-separated .tsv": lambda p: _sheet(p, GOOD_ROW.replace("\t", ","), header=HEADER.replace("\t", ",")),
    "tab-separated .csv": lambda p: _csv_sheet(p, HEADER, GOOD_ROW),
    "space-separated row": lambda p: _sheet(p, GOOD_ROW.replace("\t", " ")),
    "column named twice": lambda p: _sheet(p, GOOD_ROW + "\t8", header=HEADER + "\tseed"),
    "column without a name": lambda p: _sheet(p, GOOD_ROW.replace("\t300", "\tx\t300"),
                                              header=HEADER.replace("\ttemperature_k", "\t\ttemperature_k")),
    "required column not in the header": lambda p: _sheet(p, GOOD_ROW.rsplit("\t", 2)[0] + "\t7.0",
                                                          header=HEADER.replace("\tseed", "")),
    "header error after comments": lambda p: _sheet(p, GOOD_ROW + "\tx", header="# systems\n\n" + HEADER + "\tcolour"),
    "UTF-16 without a byte-order mark": lambda p: (p / "config/ci_systems.tsv").write_bytes(
        "\n".join([HEADER, GOOD_ROW]).encode("utf-16-le")),
    "Latin-1 sheet": lambda p: _sheet(p, GOOD_ROW.replace("ala\t", "al\u00e1\t", 1), encoding="latin-1"),
    "unknown config key": lambda p: (p / "config/ci.yaml").write_text("systems: config/ci_systems.tsv\ntimestep: 2\n"),
    "bad yaml": lambda p: (p / "config/ci.yaml").write_text("systems: [config/ci_systems.tsv\n"),
    "config not a mapping": lambda p: (p / "config/ci.yaml").write_text("- a\n- b\n"),
    "bad platform": lambda p: (p / "config/ci.yaml").write_text("systems: config/ci_systems.tsv\nplatform: Metal\n"),
    "negative timestep": lambda p: (p / "config/ci.yaml").write_text("systems: config/ci_systems.tsv\ntimestep_fs: -2\n"),
    "checkpoint not whole reports": lambda p: (p / "config/ci.yaml").write_text(
        "systems: config/ci_systems.tsv\nreport_interval_ps: 1.0\ncheckpoint_interval_ps: 1.5\n"),
    "missing sheet": lambda p: (p / "config/ci.yaml").write_text("systems: config/none.tsv\n"),
    "campaign name with a slash": lambda p: (p / "config/ci.yaml").write_text(
        "systems: config/ci_systems.tsv\ncampaign: ci/2\n"),
    "campaign name starting with a dot": lambda p: (p / "config/ci.yaml").write_text(
        "systems: config/ci_systems.tsv\ncampaign: ..\n"),
    "no campaign and an unusable results name": lambda p: (
        (p / "config/config.yaml").write_text("systems: config/systems.tsv\n"),
        (p / "config/ci.yaml").write_text("systems: config/ci_systems.tsv\nresults: out/run 1\n")),
}


def test_each_mistake_gets_one_clear_line(tmp_path):
    lines = []
    for name, edit in CASES.items():
        project = make_project(tmp_path / name.replace(" ", "_"))
        edit(project)
        with pytest.raises(MdflowError) as caught:
            load_campaign(project, ["config/ci.yaml"], {})
        message = str(caught.value)
        assert "\n" not in message, name
        lines.append(f"{name}: {message}")
    assert_golden("campaign_errors.txt", "\n".join(lines) + "\n")


def test_no_config_at_all(tmp_path):
    with pytest.raises(MdflowError, match="config/config.yaml not found"):
        load_campaign(tmp_path, [], {})


def test_checkpoint_cadence_defaults_to_wall_clock_minutes():
    from mdflow.campaign import checkpoint_cadence

    assert checkpoint_cadence({"timestep_fs": 2.0}) == (None, 10.0)
    assert checkpoint_cadence({"timestep_fs": 2.0, "checkpoint_interval_ps": 0.1, "checkpoint_interval_min": 5}) == (50, 5.0)


def test_scratch_is_the_campaigns_own_directory_in_the_site_workdir(project):
    campaign = load_campaign(project, ["config/ci.yaml"], {"site_workdir": "/work/me/mdflow"})
    assert campaign.scratch == "/work/me/mdflow/ci"


def test_a_config_without_campaign_is_named_after_its_results_directory(project):
    for name in ("config.yaml", "ci.yaml"):  # configs as written before the key existed
        config = project / "config" / name
        config.write_text("".join(line for line in config.read_text().splitlines(True)
                                  if not line.startswith(("campaign:", "results:"))))
    assert load_campaign(project, [], {}).name == "results"  # results defaults to results/
    campaign = load_campaign(project, ["config/ci.yaml"], {"results": "out/run-2/"})
    assert (campaign.name, campaign.scratch) == ("run-2", "scratch/run-2")


def test_campaign_directories_from_the_config_as_snakemake_holds_it():
    """What the executor uses (it cannot import the campaign module): the same names as load_campaign."""
    config = {"systems": "s.tsv", "campaign": "ci", "results": "results-ci", "site_workdir": "/w/mdflow"}
    assert campaign_directories(config) == ("results-ci", "/w/mdflow/ci")
    assert campaign_directories({"systems": "s.tsv"}) == ("results", "scratch/results")


# -- the results directory's owner: pure parts, then the thin I/O around them -------------------------

def test_results_conflict_only_for_another_campaign():
    assert results_conflict(None, "ci", "results") is None     # nobody claimed it yet
    assert results_conflict("ci", "ci", "results-ci") is None  # our own
    line = results_conflict("demo", "ci", "results", ("config/config.yaml", "config/ci.yaml", "--config"))
    assert line == ("results/ was made by campaign 'demo' (results/.campaign.json), but this is campaign 'ci': "
                    "give 'ci' its own `results:` in its config (config/config.yaml + config/ci.yaml + --config), "
                    "or pass --adopt-results to let it take results/ over")


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", "{}", '{"campaign": ""}', '{"campaign": 3}'])
def test_a_marker_that_is_not_one_is_one_line(text):
    with pytest.raises(MdflowError) as caught:
        marker_owner(text, "results/.campaign.json")
    assert str(caught.value).startswith("results/.campaign.json: not a campaign marker") and "\n" not in str(caught.value)


def test_marker_record_names_campaign_and_config_files(project):
    campaign = load_campaign(project, ["config/ci.yaml"], {"threads": 1})
    record = marker_record(campaign)
    assert record == {"campaign": "ci", "config": ["config/config.yaml", "config/ci.yaml", "--config"]}
    assert marker_owner(json.dumps(record), "x") == "ci"


def test_claim_results_writes_only_on_a_real_run_and_refuses_another_campaign(project):
    demo = load_campaign(project, [], {})
    marker = project / "results" / MARKER
    claim_results(project, demo, write=False)
    assert not marker.exists()                                  # a dry run writes nothing
    claim_results(project, demo, write=True)
    assert json.loads(marker.read_text()) == {"campaign": "demo", "config": ["config/config.yaml"]}
    before = marker.stat().st_mtime_ns
    claim_results(project, demo, write=True)
    assert marker.stat().st_mtime_ns == before                  # our own: left as it is

    intruder = load_campaign(project, ["config/ci.yaml"], {"results": "results"})
    for write in (False, True):
        with pytest.raises(MdflowError, match="made by campaign 'demo'.*this is campaign 'ci'"):
            claim_results(project, intruder, write=write)
    assert json.loads(marker.read_text())["campaign"] == "demo"
    claim_results(project, intruder, write=False, adopt=True)  # a dry run with the override: no refusal
    assert json.loads(marker.read_text())["campaign"] == "demo"
    claim_results(project, intruder, write=True, adopt=True)
    assert json.loads(marker.read_text())["campaign"] == "ci"


# -- sheets as spreadsheets save them ------------------------------------------------------------------

ROWS = [HEADER, GOOD_ROW, GOOD_ROW.replace("ala\t", "ala2\t", 1)]
SAVED_AS = {
    "UTF-8 with a byte-order mark": lambda p: _write_sheet(p, "\ufeff" + "\n".join(ROWS), "utf-8"),
    "CRLF line ends": lambda p: _write_sheet(p, "\r\n".join(ROWS) + "\r\n", "utf-8"),
    "UTF-16 with a byte-order mark, CRLF": lambda p: _write_sheet(p, "\r\n".join(ROWS), "utf-16"),
    "UTF-16 big-endian": lambda p: _write_sheet(p, "\ufeff" + "\n".join(ROWS), "utf-16-be"),
    "comma-separated .csv, BOM and CRLF": lambda p: _csv_sheet(
        p, "\ufeff" + "\r\n".join(row.replace("\t", ",") for row in ROWS)),
    "padded with empty cells and rows": lambda p: _write_sheet(
        p, "\n".join([HEADER + "\t\t", GOOD_ROW + "\t", "\t" * 9, ROWS[2] + "\t\t"]), "utf-8"),
    "quoted .csv cells": lambda p: _csv_sheet(p, ROWS[0].replace("\t", ","),
                                             *('"' + row.replace("\t", '","') + '"' for row in ROWS[1:])),
}


def _write_sheet(project, text, encoding):
    (project / "config/ci_systems.tsv").write_bytes(text.encode(encoding))


@pytest.mark.parametrize("saved_as", list(SAVED_AS))
def test_sheets_saved_by_spreadsheets_are_read(saved_as, project):
    SAVED_AS[saved_as](project)
    campaign = load_campaign(project, ["config/ci.yaml"], {})
    assert list(campaign.systems) == ["ala", "ala2"]
    assert campaign.systems["ala"].replicas == 2 and campaign.systems["ala2"].seed == 11


def test_header_problems_name_line_1_and_rows_their_own_line(project):
    _sheet(project, GOOD_ROW, header=HEADER + "\tcolour")
    with pytest.raises(MdflowError, match=r"^config/ci_systems.tsv line 1: unknown column 'colour'"):
        load_campaign(project, ["config/ci.yaml"], {})
    _sheet(project, GOOD_ROW, GOOD_ROW.replace("ala\t", "ala2\t", 1).replace("\t300\t", "\thot\t"))
    with pytest.raises(MdflowError, match=r"^config/ci_systems.tsv line 3 \(ala2\), column 'temperature_k'"):
        load_campaign(project, ["config/ci.yaml"], {})


def test_a_csv_sheet_is_frozen_as_a_csv(project):
    from mdflow.campaign import freeze_sheet

    _csv_sheet(project, HEADER.replace("\t", ","), GOOD_ROW.replace("\t", ","))
    copy = freeze_sheet(project, "config/ci_systems.csv")
    assert copy.endswith(".csv")
    frozen = load_campaign(project, ["config/ci.yaml"], {"systems": copy})
    assert list(frozen.systems) == ["ala"]
    assert freeze_sheet(project, "config/ci_systems.tsv").endswith(".tsv")


def test_an_empty_last_cell_is_an_empty_value_not_a_missing_cell(project):
    _sheet(project, GOOD_ROW.rsplit("\t", 1)[0] + "\t", GOOD_ROW.replace("ala\t", "ala2\t", 1) + "\t\t")
    campaign = load_campaign(project, ["config/ci.yaml"], {})
    assert campaign.systems["ala"].ph == 7.0 and list(campaign.systems) == ["ala", "ala2"]
