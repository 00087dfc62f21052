"""Progress of the segments and stages running on remote sites, for `mdflow status`.

A segment running on a remote site checkpoints into its partial directory there
(`seg<k>.partial/progress.json`); this host has it only once the job's outputs are fetched. So
`mdflow status` reads those files over the site's open SSH connection — the one the controller
holds while it runs (ssh.py's ControlMaster) — in one command per site. Where no connection is
open, it opens none (no login from a status query): those rows show no progress, and one note
says why.
"""

import json
import posixpath

from mdflow.errors import MdflowError
from mdflow.executors.remote import RemoteSite
from mdflow.layout import SEGMENT_FILE, STAGE_FILE

RUNNING_RULES = ("simulate", "equilibrate")


def partial_progress_path(outputs) -> str | None:
    """`<dir>/seg<k>.partial/progress.json` (or eq<nn>) of a segment's or stage's job, from its outputs."""
    for output in outputs:
        directory, name = posixpath.split(str(output))
        match = SEGMENT_FILE.match(name) or STAGE_FILE.match(name)
        if match:
            stem = name[:name.index(".")]
            return posixpath.join(directory, f"{stem}.partial", "progress.json")
    return None


def parse_progress(text: str | None) -> tuple | None:
    """(steps checkpointed, ns/day or None) from a progress.json's text; None when absent or unreadable."""
    if text is None:
        return None
    try:
        progress = json.loads(text)
        return int(progress["steps"]), progress.get("ns_per_day")
    except (ValueError, KeyError, TypeError):
        return None


def running_on_sites(ledger: dict, sites: dict) -> dict:
    """{site name: {progress path: ledger key}} of the simulate/equilibrate jobs the ledger shows
    running on one of `sites`."""
    wanted = {}
    for key, entry in ledger.items():
        if key[0] in RUNNING_RULES and entry.state == "running" and entry.site in sites:
            path = partial_progress_path(entry.outputs)
            if path:
                wanted.setdefault(entry.site, {})[path] = key
    return wanted


def remote_progress(project, sites: dict, ledger: dict, notes: list) -> dict:
    """{ledger key: (steps, ns/day)} of what runs on the remote `sites` ({name: site dict with
    `host`}), read over each site's open connection; a site without one gets a line in `notes`."""
    found = {}
    for name, wanted in running_on_sites(ledger, sites).items():
        remote = RemoteSite({**sites[name], "name": name}, project)
        if not remote.ssh.connected():
            notes.append(f"site {name}: progress of {len(wanted)} running job(s) not shown: no open SSH "
                         f"connection to {remote.ssh.target.destination} (the controller holds one while it runs)")
            continue
        try:
            texts = remote.read_texts(sorted(wanted))
        except (RuntimeError, OSError, MdflowError) as error:
            notes.append(f"site {name}: progress not read: {error}")
            continue
        for path, key in wanted.items():
            progress = parse_progress(texts.get(path))
            if progress is not None:
                found[key] = progress
    return found
