"""{system} constraint from the sheet's name pattern; targets naming unknown systems are refused."""

import re

import pytest

from mdflow.errors import MdflowError
from mdflow.targets import check_targets, system_name_pattern, target_system

ROOTS = ["results", "/scratch/me/mdflow/demo"]


def test_the_constraint_matches_sheet_names_and_nothing_across_directories():
    pattern = re.compile(system_name_pattern())
    assert all(pattern.fullmatch(n) for n in ("villin", "ala-water", "sys_1.b", "A" * 64))
    assert not any(pattern.fullmatch(n) for n in ("", "a/b", ".hidden", "-x", "A" * 65, "a b"))


@pytest.mark.parametrize("target, system", [
    ("results/villin/analysis/summary.json", "villin"),
    ("/project/results/nosuch/rep0/seg000.dcd", "nosuch"),
    ("/scratch/me/mdflow/demo/ala/rep0/seg000.dcd", "ala"),
    ("results/report.html", None),       # the report belongs to no system
    ("results/.campaign.json", None),
    ("report", None),                     # a rule name
    ("logs/demo/setup/villin.log", None),
    ("resources/villin.pdb", None),
])
def test_target_system(target, system):
    assert target_system(target, ROOTS, "/project") == system


def test_unknown_system_is_one_line_naming_the_sheet():
    systems = {"villin": None, "ala": None}
    check_targets(["results/villin/analysis/summary.json", "report", "results/report.html"], systems, ROOTS,
                  "/project", "config/systems.tsv")
    with pytest.raises(MdflowError) as error:
        check_targets(["results/villn/analysis/summary.json"], systems, ROOTS, "/project", "config/systems.tsv")
    assert str(error.value) == ("target results/villn/analysis/summary.json: system 'villn' is not in the systems "
                                "sheet config/systems.tsv (systems: villin, ala); add a row for it or fix the "
                                "target's path")
    many = {f"s{i}": None for i in range(9)}
    with pytest.raises(MdflowError, match=r"\(systems: s0, s1, s2, s3, s4, … \(9 in all\)\)"):
        check_targets(["results/x/setup/setup.json"], many, ROOTS, "/project", "sheet.tsv")
