"""Where a campaign stands: every segment of every replica of every system, from files and the ledger.

Nothing here starts Snakemake or asks a scheduler. The evidence is what the project already holds:
pulled segments under the campaign's results/, finished and half-finished (`seg<k>.partial/progress.json`)
segments in its directory of the site's work directory (<workdir>/<campaign>), the job ledger
(.mdflow/ledger.sqlite, its jobs only) and whether an mdflow controller holds
.mdflow/controller.lock. `decide` turns one segment's evidence into its state.

States of a segment:
  done         pulled: results/<system>/rep<r>/seg<k>.dcd, .csv and .json exist
  simulated    finished in the work directory, not pulled yet (a scratch purge would lose it)
  running      the ledger says its batch job runs, or (no ledger entry, e.g. the local profile)
               it has partial progress while a controller is alive
  queued       the ledger says its batch job is submitted or queued
  interrupted  partial progress but nobody works on it: the next `mdflow` resumes it
  failed       its latest batch job failed or was cancelled, and its outputs are missing
  missing      nothing yet
"""

import fcntl
import json
import math
import os
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mdflow.errors import MdflowError
from mdflow.layout import SEGMENT_FILE, STAGE_FILE, replica_dir, segment_id
from mdflow.ledger import ACTIVE_STATES, Ledger, LedgerEntry, outputs_within
from mdflow.project_files import LEDGER_FILE, LOCK_FILE

STATES = ("done", "simulated", "running", "queued", "interrupted", "failed", "missing")
PULLED_SUFFIXES = ("dcd", "csv", "json")
SIMULATED_SUFFIXES = ("dcd", "csv", "state.xml", "json")
SEGMENT_ENTRY = SEGMENT_FILE
STAGE_ENTRY = STAGE_FILE


@dataclass(frozen=True)
class Controller:
    alive: bool
    pid: int | None = None


@dataclass(frozen=True)
class SegmentRow:
    system: str
    replica: int
    segment: str
    state: str
    site: str
    job_id: str
    steps_done: int
    steps_total: int
    detail: str = ""
    waiting_for: str = ""  # the scheduler's reason a queued job waits (Priority, Resources, …)

    @property
    def progress(self) -> float:
        return self.steps_done / self.steps_total if self.steps_total else 0.0


@dataclass(frozen=True)
class SystemSummary:
    name: str
    setup: str
    analysis: str
    counts: dict  # state -> number of segments, every state of STATES present
    steps_done: int
    steps_total: int


@dataclass(frozen=True)
class Status:
    profile: str
    controller: Controller
    rows: list = field(default_factory=list)
    systems: list = field(default_factory=list)
    stages: list = field(default_factory=list)  # SegmentRow per equilibration stage ("eq00 heat")


@dataclass(frozen=True)
class Evidence:
    """What the project holds about one segment."""

    pulled: bool = False
    simulated: bool = False
    simulated_mtime: float | None = None
    partial_steps: int | None = None  # None: no partial directory
    ns_per_day: float | None = None   # speed of the attempt under way, from its last checkpoint
    entry: LedgerEntry | None = None
    controller_alive: bool = False


# -- evidence -----------------------------------------------------------------------------------

def controller_state(project: Path) -> Controller:
    """Is an mdflow run active here? A non-blocking shared flock attempt on the controller lock,
    released at once (the kernel drops a dead controller's lock, so a stale pid file is harmless)."""
    try:
        handle = open(Path(project) / LOCK_FILE)
    except FileNotFoundError:
        return Controller(False)
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return Controller(True, int(text) if text.isdigit() else None)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return Controller(False)


def read_ledger(project: Path, directories=None) -> dict:
    """{(rule, system, replica, segment): latest entry} over all sites; replica/segment are ints
    (None for rules without them). No ledger file: {} (the local profile never writes one).
    `directories` (a campaign's results and scratch): only jobs whose outputs lie there count; the
    ledger holds every campaign of the project, and their jobs share rule and wildcard names."""
    path = Path(project) / LEDGER_FILE
    if not path.exists():
        return {}
    try:
        entries = Ledger(path).all()
    except sqlite3.Error as error:
        raise MdflowError(f"{path}: cannot be read as mdflow's job ledger ({error})") from None
    latest = {}
    for entry in entries:  # ordered by submission time: later entries win
        if directories is None or outputs_within(entry.outputs, directories, project):
            latest[ledger_key(entry.rule, entry.wildcards)] = entry
    return latest


def ledger_key(rule: str, wildcards: dict) -> tuple:
    def number(name):
        value = wildcards.get(name)
        return int(value) if value is not None and str(value).isdigit() else None

    return rule, wildcards.get("system"), number("replica"), number("stage" if rule == "equilibrate" else "segment")


def scan_replica_dir(directory: Path) -> tuple:
    """({segment index: {suffix: DirEntry}}, {stage index: {suffix: DirEntry}}) of the seg<k>.<suffix>
    and eq<k>.<suffix> entries of one replica directory, in one pass."""
    segments, stages = {}, {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                match = SEGMENT_ENTRY.match(name) if name.startswith("seg") else (
                    STAGE_ENTRY.match(name) if name.startswith("eq") else None)
                if match:
                    found = segments if name.startswith("seg") else stages
                    found.setdefault(int(match.group(1)), {})[match.group(2)] = entry
    except (FileNotFoundError, NotADirectoryError):
        pass
    return segments, stages


NOTHING = ({}, {})


def partial_progress(entry) -> tuple:
    """(steps checkpointed, ns/day or None) of a seg<k>.partial directory; (0, None) before its first
    checkpoint."""
    try:
        progress = json.loads((Path(entry.path) / "progress.json").read_text())
        return int(progress["steps"]), progress.get("ns_per_day")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0, None


def partial_steps(entry) -> int:
    return partial_progress(entry)[0]


def expected_segments(campaign, system, observed=()) -> list:
    """Segment ids (000, 001, …) of one replica of `system`: the sheet's `segments`; when adaptive
    continuation allows more (`max_segments`), also those already started beyond them (the indices
    in `observed`, found on disk or in the ledger), never past max_segments."""
    count = system.segments
    ceiling = getattr(system, "max_segments", None)
    if ceiling and ceiling > count:
        count = min(ceiling, max([count, *(k + 1 for k in observed)]))
    return [segment_id(k) for k in range(count)]


def segments_asked_for(convergence_dir: Path) -> set:
    """Segment indices that adaptive continuation has decided to run (after_seg<k>.json saying
    continue asks for segment k+1), so they are listed before they start."""
    asked = set()
    for decision in convergence_dir.glob("after_seg[0-9][0-9][0-9].json"):
        try:
            if json.loads(decision.read_text()).get("continue"):
                asked.add(int(decision.stem.removeprefix("after_seg")) + 1)
        except (OSError, ValueError, AttributeError):
            continue
    return asked


# -- one segment --------------------------------------------------------------------------------

def decide(evidence: Evidence, steps_total: int) -> tuple:
    """(state, steps done, detail) of one segment. A live ledger job beats files that predate it
    (a rerun); files beat a stale ledger; partial progress alone means running only while a
    controller lives and no ledger entry says otherwise."""
    e, partial = evidence.entry, evidence.partial_steps
    steps = partial or 0
    finished_since_submit = evidence.simulated and e is not None and (evidence.simulated_mtime or 0) >= e.submitted
    if e is not None and e.state in ACTIVE_STATES and not finished_since_submit:
        state = "running" if e.state == "running" else "queued"
        detail = f"{e.scheduler} job {e.state}" + (f" ({e.reason})" if e.reason else "")
        if e.ensemble:
            detail += f" in ensemble {e.ensemble}"
        if not evidence.controller_alive:
            detail += "; last seen by a controller that is gone"
        return state, steps, _join(detail, _speed(evidence, state))
    if partial is not None and e is None and evidence.controller_alive:
        return "running", steps, _speed(evidence, "running")
    if evidence.pulled or evidence.simulated:
        state = "done" if evidence.pulled else "simulated"
        detail = "" if evidence.pulled else "not pulled yet"
        if partial is not None:
            detail = _join(detail, f"an interrupted rerun left {_percent(partial, steps_total)} in .partial")
        return state, steps_total, detail
    if e is not None and e.state == "failed":
        exit_code = "" if e.exit_code is None else f" (exit {e.exit_code})"
        failure = f"{e.scheduler} job failed{exit_code}" + (f": {e.reason}" if e.reason else "") + f"; log {e.log_path}"
        return "failed", steps, _join(failure, _resumable(partial, steps_total))
    if e is not None and e.state == "cancelled":
        if partial is not None:
            return "interrupted", steps, _join("cancelled", _resumable(partial, steps_total))
        return "failed", 0, f"{e.scheduler} job cancelled"
    if partial is not None:
        return "interrupted", steps, _resumable(partial, steps_total)
    return "missing", 0, ""


def _speed(evidence: Evidence, state: str) -> str:
    return f"{evidence.ns_per_day:.3g} ns/day" if state == "running" and evidence.ns_per_day else ""


def _resumable(partial, steps_total) -> str:
    if partial is None:
        return ""
    if partial == 0:
        return "no checkpoint yet: restarts from the beginning"
    return f"resumes from step {partial} of {steps_total}"


def _join(*parts) -> str:
    return "; ".join(p for p in parts if p)


def _percent(done, total) -> str:
    return f"{math.floor(100 * done / total) if total else 0}%"


def segment_row(system, replica, segment, evidence: Evidence, site_name: str, steps_total: int | None = None) -> SegmentRow:
    steps_total = system.steps_per_segment if steps_total is None else steps_total
    state, steps, detail = decide(evidence, steps_total)
    e = evidence.entry
    if e is not None:
        site = e.site
    elif state in ("simulated", "running", "interrupted"):
        site = site_name  # the evidence lies in this site's work directory
    else:
        site = ""
    waiting_for = (e.reason or "") if e is not None and state == "queued" else ""
    return SegmentRow(system.name, replica, segment, state, site, e.external_id if e else "", steps,
                      steps_total, detail, waiting_for)


# -- one system and the campaign ----------------------------------------------------------------

def ledger_segments(ledger: dict) -> dict:
    """{(system, replica): segment indices the ledger has simulate jobs for}, built once per campaign
    (scanning the whole ledger for every replica made `mdflow status` quadratic)."""
    found = {}
    for key in ledger:
        if key[0] == "simulate" and key[3] is not None:
            found.setdefault((key[1], key[2]), set()).add(key[3])
    return found


def replica_rows(campaign, system, replica, pulled: dict, simulated: dict, ledger: dict, controller: Controller,
                 site_name: str, asked: dict, results: Path, remote: dict) -> tuple:
    """(rows, newest pulled-manifest mtime) of one replica, from its scanned results (`pulled`) and
    work-directory (`simulated`) segment entries; `asked`: ledger_segments(ledger); `remote`: the
    progress of segments running on remote sites (collect)."""
    observed = set(pulled) | set(simulated)
    observed |= asked.get((system.name, replica), set())
    if (getattr(system, "max_segments", None) or 0) > system.segments:  # only adaptive systems add segments
        observed |= segments_asked_for(results / system.name / "convergence")
    rows, newest = [], 0.0
    for segment in expected_segments(campaign, system, observed):
        k = int(segment)
        here, there = pulled.get(k, {}), simulated.get(k, {})
        is_pulled = all(s in here for s in PULLED_SUFFIXES)
        if is_pulled:
            newest = max(newest, here["json"].stat().st_mtime)
        key = ("simulate", system.name, replica, k)
        evidence = gather_evidence(here, there, ledger.get(key), controller, remote.get(key))
        rows.append(segment_row(system, replica, segment, evidence, site_name))
    return rows, newest


def gather_evidence(here: dict, there: dict, entry, controller: Controller, remote: tuple | None = None) -> Evidence:
    """One segment's or stage's evidence from its pulled (`here`) and work-directory (`there`) files;
    `remote`: (steps, ns/day) of its partial directory on the remote site it runs on."""
    is_simulated = all(s in there for s in SIMULATED_SUFFIXES)
    steps, speed = partial_progress(there["partial"]) if "partial" in there else (remote or (None, None))
    return Evidence(
        pulled=all(s in here for s in PULLED_SUFFIXES),
        simulated=is_simulated,
        simulated_mtime=there["json"].stat().st_mtime if is_simulated else None,
        partial_steps=steps,
        ns_per_day=speed,
        entry=entry,
        controller_alive=controller.alive,
    )


def stage_rows(system, replica, stages: list, pulled: dict, simulated: dict, ledger: dict, controller: Controller,
               site_name: str, remote: dict) -> list:
    """One row per equilibration stage (`stages`, system_stages) of one replica, from its scanned
    stage entries (none when the campaign runs no stages)."""
    rows = []
    for stage in stages:
        key = ("equilibrate", system.name, replica, stage.index)
        evidence = gather_evidence(pulled.get(stage.index, {}), simulated.get(stage.index, {}), ledger.get(key),
                                   controller, remote.get(key))
        rows.append(segment_row(system, replica, f"eq{stage.id} {stage.name}", evidence, site_name, stage.steps))
    return rows


def system_stages(campaign, system) -> list:
    from mdflow.protocol import stages_for

    return stages_for(campaign.settings, system.name, system.solvent, system.temperature_k,
                      campaign.report_interval_steps)


def setup_state(results: Path, system, ledger: dict) -> str:
    if (results / system.name / "setup" / "setup.json").exists():
        return "done"
    entry = ledger.get(("setup", system.name, None, None))
    if entry is None:
        return "missing"
    if entry.state in ACTIVE_STATES:
        return "running" if entry.state == "running" else "queued"
    return "failed" if entry.state in ("failed", "cancelled") else "missing"


def analysis_state(results: Path, system, all_done: bool, newest_segment: float) -> str:
    """done, or outdated when segments are missing or were pulled after the analysis ran."""
    summary = results / system.name / "analysis" / "summary.json"
    if not summary.exists():
        return "missing"
    return "done" if all_done and summary.stat().st_mtime >= newest_segment else "outdated"


def collect(project, campaign, site_name: str, scratch, controller: Controller | None = None,
            remote_progress=None) -> Status:
    """Every expected segment's row and each system's totals. `scratch` is the campaign's directory
    in the site's work directory (relative to the project or absolute); `controller` None means: look
    at the lock. `remote_progress(ledger)`, where given: {ledger key: (steps, ns/day)} of the
    segments and stages running on remote sites, whose partial directories are there, not here."""
    project = Path(project)
    results, scratch = project / campaign.results, project / scratch
    controller = controller_state(project) if controller is None else controller
    ledger = read_ledger(project, (results, scratch))
    asked = ledger_segments(ledger)
    remote = remote_progress(ledger) if remote_progress else {}
    rows, systems, stages = [], [], []
    for system in campaign.systems.values():
        own, newest = [], 0.0
        system_stage_list = system_stages(campaign, system)
        # a system not started yet has no directories: no scan per replica (50k segments: 20k scans)
        in_results, in_scratch = (results / system.name).is_dir(), (scratch / system.name).is_dir()
        for replica in range(system.replicas):
            pulled = scan_replica_dir(Path(replica_dir(results, system.name, replica))) if in_results else NOTHING
            simulated = scan_replica_dir(Path(replica_dir(scratch, system.name, replica))) if in_scratch else NOTHING
            replica_own, replica_newest = replica_rows(campaign, system, replica, pulled[0], simulated[0], ledger,
                                                       controller, site_name, asked, results, remote)
            stages += stage_rows(system, replica, system_stage_list, pulled[1], simulated[1], ledger, controller,
                                 site_name, remote)
            own += replica_own
            newest = max(newest, replica_newest)
        counts = count_states(own)
        all_done = counts["done"] == len(own)
        systems.append(SystemSummary(
            system.name, setup_state(results, system, ledger), analysis_state(results, system, all_done, newest),
            counts, sum(r.steps_done for r in own), sum(r.steps_total for r in own),
        ))
        rows += own
    return Status(site_name, controller, rows, systems, stages)


def count_states(rows) -> dict:
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row.state] += 1
    return counts


# -- output -------------------------------------------------------------------------------------

def select_rows(rows, states=(), systems=()) -> list:
    """The rows whose state is one of `states` and whose system is one of `systems` (empty: any)."""
    return [r for r in rows if (not states or r.state in states) and (not systems or r.system in systems)]


def parse_filter(option: str, value: str | None, allowed) -> tuple:
    """`--state done,failed` -> ('done', 'failed'); a name not in `allowed` is a one-line error."""
    if value is None:
        return ()
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise MdflowError(f"status {option} {value!r}: expected one or more of {', '.join(allowed)} "
                          f"(comma-separated)")
    return names


def to_json(status: Status, shown=None) -> dict:
    """Totals over the whole campaign; the segments listed are `shown` (default: all)."""
    shown = status.rows if shown is None else shown
    totals = count_states(status.rows)
    return {
        "profile": status.profile,
        "controller": {"running": status.controller.alive, "pid": status.controller.pid},
        "totals": {
            "segments": len(status.rows), **totals,
            "progress": _fraction(sum(r.steps_done for r in status.rows), sum(r.steps_total for r in status.rows)),
        },
        "systems": {
            s.name: {"setup": s.setup, "analysis": s.analysis, "segments": sum(s.counts.values()), **s.counts,
                     "progress": _fraction(s.steps_done, s.steps_total)}
            for s in status.systems
        },
        "stages": [row_json(r, "stage") for r in status.stages],
        "segments": [row_json(r, "segment") for r in shown],
    }


def row_json(r: SegmentRow, what: str) -> dict:
    return {"system": r.system, "replica": r.replica, what: r.segment, "state": r.state, "site": r.site,
            "job_id": r.job_id, "steps": r.steps_done, "steps_total": r.steps_total,
            "progress": round(r.progress, 4), "detail": r.detail}


def _fraction(done, total) -> float:
    return round(done / total, 4) if total else 0.0


def render_table(status: Status, shown=None) -> str:
    """The segments `shown` (default: all), then every system's totals."""
    controller = status.controller
    running = f"running (pid {controller.pid})" if controller.alive and controller.pid else (
        "running" if controller.alive else "not running")
    lines = [f"profile {status.profile}; mdflow controller {running}", ""]
    if status.stages and shown is None:
        lines += row_table("stage", status.stages) + [""]
    lines += row_table("segment", status.rows if shown is None else shown)
    if shown is not None and len(shown) != len(status.rows):
        lines.append(f"({len(shown)} of {len(status.rows)} segments shown)")
    lines.append("")
    totals = count_states(status.rows)
    summary_rows = [
        [s.name, s.setup, s.analysis, sum(s.counts.values()), *(s.counts[k] for k in STATES),
         _percent(s.steps_done, s.steps_total)]
        for s in status.systems
    ]
    summary_rows.append(["all", "", "", len(status.rows), *(totals[k] for k in STATES),
                         _percent(sum(r.steps_done for r in status.rows), sum(r.steps_total for r in status.rows))])
    lines += columns(["system", "setup", "analysis", "segments", *STATES, "progress"], summary_rows,
                     right=set(range(3, 4 + len(STATES) + 1)))
    return "\n".join(lines) + "\n"


def row_table(what: str, rows: list) -> list:
    """Segment (or stage) rows as aligned text lines."""
    return columns(
        ["system", "replica", what, "state", "progress", "site", "job", "detail"],
        [[r.system, r.replica, r.segment, r.state, _percent(r.steps_done, r.steps_total), r.site or "-",
          r.job_id or "-", r.detail] for r in rows],
        right={1, 4},
    )


def columns(header: list, rows: list, right=frozenset()) -> list:
    """Rows as space-aligned text lines (right-aligned where the column index is in `right`)."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(map(len, column)) for column in zip(*cells)]
    line = "  ".join(f"{{:{'>' if i in right else '<'}{w}}}" for i, w in enumerate(widths))  # one format, C speed
    return [line.format(*row).rstrip() for row in cells]


def _waiting(rows) -> str:
    """' (Priority 3, Resources 1)': why queued segments wait, as the scheduler says, most common first."""
    reasons = Counter(r.waiting_for.split(":")[0][:40] for r in rows if r.state == "queued" and r.waiting_for)
    if not reasons:
        return ""
    shown = [f"{reason} {count}" for reason, count in reasons.most_common(2)]
    return f" ({', '.join(shown)}{', …' if len(reasons) > 2 else ''})"


def summary_line(status: Status) -> str:
    """One compact line for the progress display; rare states only when present."""
    totals = count_states(status.rows)
    parts = [f"segments {totals['done']}/{len(status.rows)} done"]
    if status.stages:
        stages = count_states(status.stages)
        parts.insert(0, f"stages {stages['done']}/{len(status.stages)} done"
                        + (f" ({stages['running']} running)" if stages["running"] else ""))
    for state in STATES[1:-1]:
        if totals[state] or state in ("running", "queued", "failed"):
            parts.append(f"{totals[state]} {state}" + (_waiting(status.rows) if state == "queued" else ""))
    done = sum(r.steps_done for r in status.rows)
    total = sum(r.steps_total for r in status.rows)
    return f"mdflow: {', '.join(parts)}; {_percent(done, total)} of all steps"
