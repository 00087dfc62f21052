"""Golden-file comparison; set MDFLOW_UPDATE_GOLDEN=1 to rewrite the files deliberately."""

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if os.environ.get("MDFLOW_UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"output differs from {path} (MDFLOW_UPDATE_GOLDEN=1 rewrites it)"
