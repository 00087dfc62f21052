"""Structures are checked once per content (size+mtime, then sha256); sheet rows are validated once."""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import mdflow.campaign
from conftest import make_project
from mdflow import checkcache
from mdflow.campaign import load_campaign
from mdflow.checkcache import StructureCache, validated_once
from mdflow.errors import MdflowError


class Counting:
    def __init__(self, fail=False):
        self.calls, self.fail = [], fail

    def __call__(self, path, **kwargs):
        self.calls.append((Path(path).name, kwargs.get("forcefield")))
        if self.fail:
            raise MdflowError(f"{path}: bad")


def test_a_structure_is_checked_again_only_when_it_changed(tmp_path):
    pdb = tmp_path / "x.pdb"
    pdb.write_text("ATOM  1\n")
    check = Counting()
    cache = StructureCache(tmp_path)
    cache.check(pdb, check, forcefield="amber14", solvent="implicit")
    cache.save()
    StructureCache(tmp_path).check(pdb, check, forcefield="amber14", solvent="implicit")  # a new run
    assert len(check.calls) == 1
    StructureCache(tmp_path).check(pdb, check, forcefield="charmm36", solvent="implicit")  # other force field
    assert len(check.calls) == 2
    os.utime(pdb, ns=(1, 1))  # touched, same bytes: checksum says unchanged
    cache = StructureCache(tmp_path)
    cache.check(pdb, check, forcefield="amber14", solvent="implicit")
    cache.save()
    assert len(check.calls) == 2
    pdb.write_text("ATOM  2\n")  # same size, other bytes
    os.utime(pdb, ns=(2, 2))
    StructureCache(tmp_path).check(pdb, check, forcefield="amber14", solvent="implicit")
    assert len(check.calls) == 3


def test_a_failed_check_is_not_remembered(tmp_path):
    pdb = tmp_path / "x.pdb"
    pdb.write_text("junk\n")
    check = Counting(fail=True)
    for _ in range(2):
        cache = StructureCache(tmp_path)
        with pytest.raises(MdflowError):
            cache.check(pdb, check)
        cache.save()
    assert len(check.calls) == 2 and not (tmp_path / checkcache.STRUCTURE_CACHE).exists()


def test_an_unreadable_cache_file_only_costs_the_speed_up(tmp_path):
    (tmp_path / checkcache.STRUCTURE_CACHE).parent.mkdir(parents=True)
    (tmp_path / checkcache.STRUCTURE_CACHE).write_text("{not json")
    pdb = tmp_path / "x.pdb"
    pdb.write_text("ATOM\n")
    check = Counting()
    StructureCache(tmp_path).check(pdb, check)
    assert len(check.calls) == 1


@dataclass(frozen=True)
class Row:
    name: str
    value: int


def test_rows_are_validated_once_per_content_and_across_runs(tmp_path):
    (tmp_path / "s.pdb").write_text("ATOM\n")
    calls = []

    def parse(path, number, cells, schema, project):
        calls.append(number)
        return Row(cells["name"], int(cells["value"]))

    cached = validated_once(Row)(parse)
    cells = {"name": "a", "value": "1", "structure": "s.pdb"}
    assert cached("sheet.tsv", 2, cells, {}, tmp_path) == Row("a", 1)
    assert cached(".mdflow/sheets/copy.tsv", 7, dict(cells), {}, tmp_path) == Row("a", 1)  # same row elsewhere
    assert calls == [2]
    checkcache.flush(tmp_path)
    checkcache._rows.clear()  # a new process: read back from .mdflow/cache/rows.json
    again = validated_once(Row)(parse)
    assert again("sheet.tsv", 2, cells, {}, tmp_path) == Row("a", 1) and calls == [2]
    (tmp_path / "s.pdb").write_text("ATOM  changed\n")  # the structure changed: validated again
    assert again("sheet.tsv", 2, cells, {}, tmp_path) == Row("a", 1) and calls == [2, 2]
    assert cached("sheet.tsv", 3, {**cells, "value": "2"}, {}, tmp_path) == Row("a", 2) and calls == [2, 2, 3]


def test_campaign_checks_each_structure_once_then_not_again(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project")
    check = Counting()
    monkeypatch.setattr(mdflow.campaign, "check_pdb", check)
    first = load_campaign(project, ["config/ci.yaml"], {})
    assert len(check.calls) == 3  # three (structure, force field, solvent) combinations in the ci sheet
    checkcache._rows.clear()
    checkcache._caches.clear()
    mdflow.campaign.parse_system.cache_clear()  # as in another process (`mdflow status`, a batch job)
    assert load_campaign(project, ["config/ci.yaml"], {}) == first and len(check.calls) == 3
    villin = project / "resources/villin.pdb"
    villin.write_text(villin.read_text() + "END\n")
    load_campaign(project, ["config/ci.yaml"], {})
    assert check.calls[3:] == [("villin.pdb", "amber99sbildn")]
