"""System names in file patterns and targets.

The Snakefile constrains `{system}` by the sheet's name pattern (mdflow/workflow/schemas/systems.schema.yaml),
not by the alternation of all names: Snakemake copies a constraint into every output pattern, so an
alternation of N names makes every wildcard match cost O(N), and planning O(jobs x systems). The
price is that a target naming a system the sheet lacks now matches a rule (and its input functions
would fail on the unknown name), so the CLI checks the targets against the sheet first.
"""

import functools
import os

import yaml

from mdflow.errors import MdflowError
from mdflow.paths import SCHEMA_DIR


@functools.cache
def system_name_pattern() -> str:
    """The sheet's `name` pattern without its anchors, for `wildcard_constraints`."""
    schema = yaml.safe_load((SCHEMA_DIR / "systems.schema.yaml").read_text())
    return schema["properties"]["name"]["pattern"].removeprefix("^").removesuffix("$")


def target_system(target: str, roots: list, project: str) -> str | None:
    """The system a file target names: the directory right below one of `roots` (the campaign's
    results and scratch directories), for targets deeper than that; None for other targets (rule
    names, the report, files elsewhere)."""
    path = os.path.normpath(target if os.path.isabs(target) else os.path.join(project, target))
    for root in roots:
        root = os.path.normpath(root if os.path.isabs(root) else os.path.join(project, root))
        relative = os.path.relpath(path, root)
        parts = relative.split(os.sep)
        if parts[0] not in ("..", ".") and len(parts) >= 2:
            return parts[0]
    return None


def check_targets(targets, systems, roots: list, project: str, sheet: str) -> None:
    """MdflowError (one line) for the first target that names a system not in the sheet."""
    for target in targets or []:
        name = target_system(str(target), roots, project)
        if name is not None and name not in systems:
            known = list(systems)
            shown = ", ".join(known[:5]) + (f", … ({len(known)} in all)" if len(known) > 5 else "")
            raise MdflowError(f"target {target}: system {name!r} is not in the systems sheet {sheet} "
                              f"(systems: {shown}); add a row for it or fix the target's path")
