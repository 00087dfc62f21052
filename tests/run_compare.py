"""Comparing two runs' files byte for byte, except what times them: wall-time fields of JSON records, the
report's date, and the checksums of files that hold either."""

import hashlib
import json
import re
from pathlib import Path

WALL_TIME_FIELDS = frozenset({"started", "wall_s", "cpu_s", "ns_per_day", "peak_rss_mb"})
REPORT_DATE = re.compile(rb"; written \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def timeless(value, ignored=WALL_TIME_FIELDS):
    """A JSON document without the fields that time the run, nor the checksums of files that hold them."""
    if isinstance(value, dict):
        return {key: timeless(item, ignored) for key, item in value.items()
                if key not in ignored and not key.endswith((".json", ".html"))}
    if isinstance(value, list):
        return [timeless(item, ignored) for item in value]
    return value


def comparable(path: Path, ignored=WALL_TIME_FIELDS):
    if path.suffix == ".json":
        return timeless(json.loads(path.read_text()), ignored)
    if path.suffix == ".html":
        return hashlib.sha256(REPORT_DATE.sub(b"", path.read_bytes())).hexdigest()
    return sha256(path)
