"""What `mdflow -n` prints when it does not list every job: a summary a person can read.

A dry-run of a big campaign used to print every job (tens of thousands of blocks). By default mdflow
now prints, per rule, how many jobs would run and why, and where they would go; per round of ready
jobs, the ensembles they would be packed into, with ensembles of the same shape counted on one
line. `--list-jobs` lists every job as Snakemake does (plus its submission), `--system NAME[,NAME]`
only the jobs of those systems. Everything here is pure: the dry-run hooks (executors/dryrun.py)
feed it.
"""

from collections import Counter, defaultdict

from mdflow.errors import MdflowError

LIST_HINT = "list them with --list-jobs, or those of some systems with --system NAME[,NAME]"


def parse_listing(list_jobs: bool, systems: str | None, known) -> tuple[bool, frozenset | None]:
    """(list every job, systems whose jobs to list or None) from --list-jobs / --system; MdflowError
    (one line) for a system not in the sheet."""
    if systems is None:
        return list_jobs, None
    names = [s.strip() for s in systems.split(",") if s.strip()]
    if not names:
        raise MdflowError("--system: expected NAME[,NAME...] (systems of the sheet)")
    unknown = [n for n in names if n not in known]
    if unknown:
        shown = ", ".join(list(known)[:5]) + (f", … ({len(known)} in all)" if len(known) > 5 else "")
        raise MdflowError(f"--system: {unknown[0]!r} is not in the systems sheet (systems: {shown})")
    return list_jobs, frozenset(names)


def shows(list_all: bool, systems: frozenset | None, wildcards: dict) -> bool:
    """Whether a job with these wildcards is listed in full."""
    if list_all:
        return True
    return systems is not None and wildcards.get("system") in systems


class Summary:
    """Counts of the jobs a dry-run would run: per rule, per reason and per destination."""

    def __init__(self):
        self.rules = Counter()
        self.reasons = defaultdict(Counter)
        self.where = defaultdict(Counter)
        self.rounds = []  # (short jobs ready together, ensembles planned) per round

    def add_round(self, jobs: int, ensembles: int) -> None:
        self.rounds.append((jobs, ensembles))

    def add(self, rule: str, reasons, where: str) -> None:
        self.rules[rule] += 1
        for reason in reasons:
            self.reasons[rule][reason] += 1
        self.where[rule][where] += 1

    def render(self, site_label: str) -> str:
        if not self.rules:
            return ""
        total = sum(self.rules.values())
        width = max(8, *(len(r) for r in self.rules))
        lines = [f"mdflow dry-run: {total} job(s); {LIST_HINT}",
                 f"  {'rule':<{width}} {'jobs':>7}  why"]
        for rule, count in self.rules.items():
            why = "; ".join(f"{reason} ({n})" for reason, n in self.reasons[rule].most_common()) or "-"
            lines.append(f"  {rule:<{width}} {count:>7}  {why}")
        if self.rounds:
            lines.append(f"  ensembles: {sum(e for _, e in self.rounds)} for {sum(j for j, _ in self.rounds)} short "
                         f"job(s) in {len(self.rounds)} round(s) of jobs ready together (plans above)")
        places = {place for counts in self.where.values() for place in counts}
        if len(places) == 1:
            lines.append(f"  where ({site_label}): all on {places.pop()}")
            return "\n".join(lines) + "\n"
        lines.append(f"  where ({site_label}):")
        for rule, count in self.rules.items():
            where = "; ".join(f"{place} ({n})" if len(self.where[rule]) > 1 else place
                              for place, n in self.where[rule].most_common())
            lines.append(f"  {rule:<{width}} {count:>7}  {where}")
        return "\n".join(lines) + "\n"


def ensemble_shape_lines(shapes) -> list[str]:
    """One line per distinct ensemble shape, with how many ensembles have it, in first-seen order.
    `shapes` are the per-ensemble descriptions (everything but the job name and member list)."""
    counts = Counter(shapes)
    return [f"    {n} x {shape}" for shape, n in counts.items()]


def pending_jobs_line(rules, target: str, exclude: str, hint: str) -> str | None:
    """The one-line refusal of `mdflow report` when jobs of rules other than `exclude` would have to
    run before `target` can be made (`rules`: jobs per rule, as Summary.rules); None when none would."""
    waiting = {rule: count for rule, count in rules.items() if rule != exclude and count}
    if not waiting:
        return None
    total = sum(waiting.values())
    per_rule = ", ".join(f"{rule} {count}" for rule, count in waiting.items())
    return (f"report: {total} job(s) would have to run before {target} can be built ({per_rule}); "
            f"`{hint}` runs them, then builds the report")
