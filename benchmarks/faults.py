"""The fault scorecard (issue 6): every fault case, what is expected, and what happened.

    .venv/bin/python benchmarks/faults.py [PYTEST ARGS...]     e.g. -k corpus

Runs the tests in tests/faults/ (the bad-input corpus, the injection audit, and any fault test
added there later: crash/kill/disk-full cases become rows the same way) through pytest in-process
and prints one row per case: `case | expected | result`, then "N of N cases pass". Exit status 1 if
any case fails.

A row's `expected` comes from, in order: a parametrized `case` object's `.expected` (see
tests/faults/bad_input_cases.py), the test function's `expected` attribute, or the first line of
its docstring.
"""

import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAULTS = REPO / "tests" / "faults"


class Scorecard:
    """A pytest plugin collecting one row per test: (group, case, expected, result, ok)."""

    def __init__(self):
        self.rows, self.expected = [], {}

    def pytest_collection_modifyitems(self, items):
        for item in items:
            self.expected[item.nodeid] = expected_of(item)

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            ok = report.passed
            result = "pass" if ok else ("skipped: " + skip_reason(report) if report.skipped else failure(report))
            group = Path(report.nodeid.split("::")[0]).stem.removeprefix("test_")
            self.rows.append((group, case_of(report.nodeid), self.expected.get(report.nodeid, ""), result, ok))


def expected_of(item) -> str:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if hasattr(params.get("case"), "expected"):
        return params["case"].expected
    function = getattr(item, "function", None)
    if hasattr(function, "expected"):
        return function.expected
    doc = (getattr(function, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else "passes"


def case_of(nodeid: str) -> str:
    name = nodeid.split("::", 1)[1]
    return name.removeprefix("test_")


def skip_reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)[:120]


def failure(report) -> str:
    text = str(report.longrepr)
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return "FAIL: " + (lines[0] if lines else text.strip().splitlines()[-1])[:200]


def render(rows) -> str:
    headers = ("case", "expected", "result")
    table = [(f"{g}: {c}", e, r) for g, c, e, r, _ in rows]
    widths = [min(90, max([len(h)] + [len(row[i]) for row in table])) for i, h in enumerate(headers[:2])]
    lines = [f"{headers[0]:<{widths[0]}} | {headers[1]:<{widths[1]}} | {headers[2]}",
             f"{'-' * widths[0]}-+-{'-' * widths[1]}-+-{'-' * 6}"]
    lines += [f"{c:<{widths[0]}} | {e:<{widths[1]}} | {r}" for c, e, r in table]
    return "\n".join(lines)


def main(argv) -> int:
    sys.path.insert(0, str(REPO / "tests"))
    card = Scorecard()
    start = time.time()
    paths = [] if any(not a.startswith("-") for a in argv) else [str(FAULTS)]
    code = pytest.main([*paths, "-q", "-p", "no:cacheprovider", "--no-header", "-rN", *argv], plugins=[card])
    print()
    print(render(card.rows))
    passed = sum(1 for row in card.rows if row[4])
    print(f"\n{passed} of {len(card.rows)} cases pass ({time.time() - start:.0f} s)")
    return 0 if card.rows and passed == len(card.rows) and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
