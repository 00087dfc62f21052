"""The bad-input corpus: every way a user can hand mdflow broken input, as data.

Each case breaks a fresh copy of an already computed project, runs the real `mdflow` CLI on it and
expects: exit != 0, stderr's last line `mdflow: error: ...` containing the case's words, no
traceback anywhere, and the project's results/ byte-identical afterwards ("nothing lost"). Cases
marked up_front must fail before Snakemake starts: stderr is that one line and nothing else.

Used by tests/faults/test_bad_input_corpus.py and benchmarks/faults.py (the scorecard).
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from conftest import MDFLOW, make_project, run_mdflow

SHEET = "config/ci_systems.tsv"
PDB = "resources/alanine-dipeptide.pdb"
HEADER = "name\tstructure\tforcefield\tsolvent\ttemperature_k\treplicas\tlength_ps\tsegment_ps\tseed\n"
ROW = "ala\tresources/alanine-dipeptide.pdb\tamber99sbildn\timplicit\t300\t1\t0.2\t0.2\t3\n"
CI_SITE = "extends: local\nconfigfile: config/ci.yaml\n"
SLURM_OPTIONS = ("executor: mdflow\njobs: 10\nseconds-between-status-checks: 1\ndefault-resources:\n"
                 "  - runtime=5\n  - mem_mb=1000\n")
MARKER = "PWNED"  # hostile values try to create this file; its presence anywhere fails the case
UNPRIVILEGED = (65534, 65534)  # nobody: root ignores permission bits, so chmod 000 needs another user
GAP_PDB = Path(__file__).resolve().parents[1] / "data/structures/1bhl_gap_fragment.pdb"  # 16-residue chain gap
HEADER_GAPS = HEADER.replace("\tseed\n", "\tseed\tgaps\n")


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[Path], None]           # breaks the project copy
    words: tuple                           # the error line must contain each
    args: tuple = ("--profile", "ci")
    env: Callable[[Path], dict] | None = None   # extra environment, given the project
    unprivileged: bool = False             # run mdflow as `nobody` (setpriv), project owned by nobody
    up_front: bool = True                  # rejected before Snakemake runs: stderr is the one line

    @property
    def expected(self) -> str:
        return "exit!=0, one line with " + ", ".join(repr(w) for w in self.words)


@dataclass
class Outcome:
    ok: bool
    detail: str                            # the error line, or what went wrong
    problems: list = field(default_factory=list)


# ------------------------------------------------------------------------------------ edits


def replace(path, old, new, count=-1):
    def apply(project):
        file = project / path
        text = file.read_text()
        assert old in text, (path, old)
        file.write_text(text.replace(old, new, count))
    return apply


def write(path, content):
    def apply(project):
        file = project / path
        file.parent.mkdir(parents=True, exist_ok=True)
        if file.is_symlink() or file.is_file():
            file.unlink()
        file.write_bytes(content) if isinstance(content, bytes) else file.write_text(content)
    return apply


def sheet_row(**cells):
    """The sheet with its one system changed: sheet_row(name='x', replicas='-1')."""
    columns = HEADER.rstrip("\n").split("\t")
    values = dict(zip(columns, ROW.rstrip("\n").split("\t")))
    values.update(cells)
    return write(SHEET, HEADER + "\t".join(values[c] for c in columns) + "\n")


def both(*edits):
    def apply(project):
        for edit in edits:
            edit(project)
    return apply


def as_directory(path):
    def apply(project):
        (project / path).unlink()
        (project / path).mkdir()
    return apply


def dangling_symlink(path):
    def apply(project):
        (project / path).unlink()
        (project / path).symlink_to(project / "no-such-file")
    return apply


def chmod_000(path):
    def apply(project):
        (project / path).chmod(0)
    return apply


def profile(name, site, options=""):
    return both(write(f"profiles/{name}/mdflow.yaml", site), *([write(f"profiles/{name}/config.v9+.yaml", options)]
                                                              if options else []))


def nothing(project):
    pass


def empty_path(project) -> dict:
    """PATH holding only bash and sh: no scheduler command can be found."""
    bin_dir = project.parent / "shell-only-bin"
    bin_dir.mkdir(exist_ok=True)
    for shell in ("bash", "sh"):
        if not (bin_dir / shell).exists():
            (bin_dir / shell).symlink_to(shutil.which(shell))
    return {"PATH": str(bin_dir)}


def garbage_bytes() -> bytes:
    return bytes((i * 197 + 89) % 256 for i in range(4096))


# ------------------------------------------------------------------------------------ the corpus

HOSTILE_NAMES = {
    "semicolon": "a;rm -rf x",
    "command substitution": f"$(touch {MARKER})",
    "backticks": f"`touch {MARKER}`",
    "space": "my system",
    "quotes": "it's\"x",
    "path traversal": "../evil",
    "absolute path": "/abs",
}

CASES = [
    # structures
    Case("pdb: bad coordinates", replace(PDB, "   2.000   2.090", "   2.0x0   2.090"),
         (f"{PDB} line 2", "columns 31-54")),
    Case("pdb: no atoms", write(PDB, "REMARK   1 nothing here\nEND\n"), (PDB, "no ATOM or HETATM records")),
    Case("pdb: empty file", write(PDB, ""), (PDB, "no ATOM or HETATM records")),
    Case("pdb: binary garbage", write(PDB, garbage_bytes()), (PDB, "not a PDB file")),
    Case("pdb: unknown residue", replace(PDB, " ALA ", " XYZ "),
         (PDB, "residue 'XYZ'", "amber99sbildn", "no template")),
    Case("pdb: no residue name", replace(PDB, " ALA A   2", "     A   2"), (PDB, "no residue name")),
    Case("pdb: 16-residue chain gap", both(write("resources/gap.pdb", GAP_PDB.read_bytes()),
                                           sheet_row(structure="resources/gap.pdb")),
         ("line 2 (ala), structure resources/gap.pdb", "16 residues missing in chain A between GLN 137 and MET 154",
          "column 'gaps'", "'model'", "'cap'")),
    Case("pdb: chain break without SEQRES", both(
        write("resources/gap.pdb", b"".join(line for line in GAP_PDB.read_bytes().splitlines(True)
                                            if not line.startswith(b"SEQRES"))),
        sheet_row(structure="resources/gap.pdb")),
         ("resources/gap.pdb", "chain A is broken between GLN 137 and MET 154", "column 'gaps'", "'cap'")),
    Case("pdb: ACE/NME caps with charmm36", sheet_row(forcefield="charmm36", solvent="explicit"),
         (PDB, "cap residue 'ACE'", "'charmm36'")),
    Case("sheet: unknown gaps value", write(SHEET, HEADER_GAPS + ROW.replace("\t3\n", "\t3\tfill\n")),
         ("column 'gaps'", "'fill'", "refuse, model, cap")),
    Case("sheet: gaps cap with charmm36", write(SHEET, HEADER_GAPS + ROW.replace(
        "alanine-dipeptide.pdb\tamber99sbildn\timplicit", "villin.pdb\tcharmm36\texplicit").replace("\t3\n", "\t3\tcap\n")),
         ("column 'gaps'", "'cap' does not work with force field 'charmm36'")),
    Case("pdb: is a directory", as_directory(PDB), (PDB, "not a regular file")),
    Case("pdb: dangling symlink", dangling_symlink(PDB), (PDB, "not found")),
    Case("pdb: chmod 000 (run as nobody via setpriv)", chmod_000(PDB), (PDB, "cannot be read", "Permission denied"),
         unprivileged=True),
    Case("structure: path escapes the project", sheet_row(structure="../../../../../../../../etc/passwd"),
         ("'structure'", "../../../../../../../../etc/passwd", "inside the project")),
    Case("structure: absolute path", sheet_row(structure="/etc/hostname"),
         ("'structure'", "/etc/hostname", "inside the project")),
    # the systems sheet
    *[Case(f"sheet: name with {what}", sheet_row(name=value), ("column 'name'", repr(value), "not allowed"))
      for what, value in HOSTILE_NAMES.items()],
    Case("sheet: not UTF-8", write(SHEET, (HEADER + ROW.replace("ala", "al\xe4")).encode("latin-1")),
         (SHEET, "not UTF-8", "line 2")),
    Case("sheet: duplicate system names", write(SHEET, HEADER + ROW + ROW), (SHEET, "line 3", "'ala' appears twice")),
    Case("sheet: negative replicas", sheet_row(replicas="-1"), ("'replicas'", "-1", ">= 1")),
    Case("sheet: segment does not divide length", sheet_row(length_ps="0.5"),
         ("'length_ps'", "0.5", "whole multiple of segment_ps 0.2")),
    Case("sheet: unknown force field", sheet_row(forcefield="opls"), ("'forcefield'", "'opls'", "amber14")),
    Case("sheet: wrong cell count", write(SHEET, HEADER + ROW.replace("\t3\n", "\t3\textra\n")), (SHEET, "cells")),
    Case("sheet: is a directory", as_directory(SHEET), (SHEET, "cannot be read")),
    Case("sheet: dangling symlink", dangling_symlink(SHEET), (SHEET, "not found")),
    Case("sheet: chmod 000 (run as nobody via setpriv)", chmod_000(SHEET), (SHEET, "cannot be read", "Permission denied"),
         unprivileged=True),
    # the campaign config
    Case("config: bad YAML", write("config/ci.yaml", "systems: [oops\n"), ("config/ci.yaml", "not valid YAML")),
    Case("config: unknown key", write("config/ci.yaml", f"systems: {SHEET}\nsteps: 5\n"), ("unknown key 'steps'",)),
    Case("config: unknown platform", replace("config/ci.yaml", "platform: CPU", "platform: Metal"),
         ("'platform'", "'Metal'", "CUDA")),
    Case("config: ill-typed --config value", nothing, ("--config", "'timestep_fs'", "'fast'"),
         args=("--profile", "ci", "--config", "timestep_fs=fast")),
    Case("config: not a mapping", write("config/ci.yaml", "- systems\n"), ("config/ci.yaml", "expected a mapping")),
    # profiles
    Case("profile: mdflow.yaml bad YAML", profile("ci", "extends: local\nqueue: [debug\n"),
         ("profiles/ci/mdflow.yaml", "not valid YAML")),
    Case("profile: config.v9+.yaml bad YAML", profile("ci", CI_SITE, "jobs: {4\n"),
         ("profiles/ci/config.v9+.yaml", "not valid YAML")),
    Case("profile: unknown key", profile("ci", CI_SITE + "qeue: debug\n"), ("profiles/ci/mdflow.yaml", "unknown key 'qeue'")),
    Case("profile: max_queued not an integer", profile("ci", CI_SITE + "max_queued: many\n"),
         ("'max_queued'", "'many'", "integer")),
    Case("profile: negative cores_per_node", profile("ci", CI_SITE + "cores_per_node: -1\n"),
         ("'cores_per_node'", "-1", ">= 1")),
    Case("profile: bad max_walltime", profile("ci", CI_SITE + "queues:\n  debug: {max_walltime: soon}\n"),
         ("queues.debug.max_walltime", "'soon'")),
    Case("profile: unknown scheduler", profile("ci", "scheduler: lsf\nconfigfile: config/ci.yaml\n"),
         ("'scheduler'", "'lsf'", "slurm")),
    Case("profile: extends cycle", both(profile("lab-a", "extends: lab-b\n"), profile("lab-b", "extends: lab-a\n")),
         ("'extends: lab-a' forms a cycle",), args=("--profile", "lab-a")),
    Case("profile: workdir names an unset variable", profile("ci", CI_SITE + "workdir: $MDFLOW_NO_SUCH_VAR/x\n"),
         ("'workdir'", "$MDFLOW_NO_SUCH_VAR/x", "not set")),
    Case("profile: account with shell metacharacters", profile("ci", CI_SITE + f"account: 'x; touch {MARKER}'\n"),
         ("'account'", f"'x; touch {MARKER}'", "not allowed")),
    Case("profile: queue with command substitution", profile("ci", CI_SITE + f"queue: '$(touch {MARKER})'\n"),
         ("'queue'", f"'$(touch {MARKER})'", "not allowed")),
    Case("profile: logdir with a newline", profile("ci", CI_SITE + f"logdir: \"logs\\ntouch {MARKER}\"\n"),
         ("'logdir'", "not allowed")),
    Case("profile: mdflow.yaml is a directory", both(profile("ci", CI_SITE), as_directory("profiles/ci/mdflow.yaml")),
         ("profiles/ci/mdflow.yaml", "cannot be read")),
    Case("profile: mdflow.yaml chmod 000 (run as nobody via setpriv)", both(profile("ci", CI_SITE),
         chmod_000("profiles/ci/mdflow.yaml")), ("profiles/ci/mdflow.yaml", "cannot be read", "Permission denied"),
         unprivileged=True),
    Case("profile: unknown name lab/x", nothing, ("unknown profile 'lab/x'",), args=("--profile", "lab/x")),
    Case("cli: --directory not a directory", nothing, ("--directory", "not a directory"),
         args=("--profile", "ci", "--directory", "no/such/dir")),
    # schedulers
    Case("slurm: runtime over every queue's max walltime (dry-run)",
         profile("qlimit", "extends: slurm\nconfigfile: config/ci.yaml\nqueue: debug\nqueues:\n"
                 "  debug: {max_walltime: 10}\n  long: {max_walltime: '00:20:00'}\n",
                 SLURM_OPTIONS + "set-resources:\n  simulate:\n    runtime: 45\n"),
         ("fits no queue", "45 min", "debug: max 00:10:00", "long: max 00:20:00"),
         args=("--profile", "qlimit", "--dry-run", "--forceall"), up_front=False),
    Case("slurm: runtime over every queue's max walltime (real run, refused up front)",
         profile("qlimit", "extends: slurm\nconfigfile: config/ci.yaml\nqueue: debug\nqueues:\n"
                 "  debug: {max_walltime: 10}\n  long: {max_walltime: '00:20:00'}\n",
                 SLURM_OPTIONS + "set-resources:\n  simulate:\n    runtime: 45\n"),
         ("job simulate", "fits no queue", "45 min", "debug: max 00:10:00", "long: max 00:20:00"),
         args=("--profile", "qlimit", "--forceall")),
    Case("profile: hostile name with quotes and backticks", nothing, ("unknown profile", "letters, digits"),
         args=("--profile", f"x'`touch {MARKER}`")),
    Case("config: --config value with a quote and backticks", nothing, ("--config", "quotes"),
         args=("--profile", "ci", "--config", f"results=r'`touch {MARKER}`")),
    Case("profile: workdir with backticks", profile("ci", CI_SITE + f"workdir: \"s'`touch {MARKER}`\"\n"),
         ("'workdir'", "not allowed")),
    Case("profile: directive with a line break", profile("ci", CI_SITE + f"directives: [\"--qos=x\\ntouch {MARKER}\"]\n"),
         ("'directives.0'", "line break")),
    Case("slurm: sbatch missing from PATH", profile("noslurm", "extends: slurm\nconfigfile: config/ci.yaml\n",
                                                    SLURM_OPTIONS),
         ("'noslurm'", "sbatch", "not found on PATH"), args=("--profile", "noslurm"), env=empty_path),
    Case("pbs: qsub missing from PATH", profile("nopbs", "extends: pbs\nconfigfile: config/ci.yaml\n", SLURM_OPTIONS),
         ("'nopbs'", "qsub", "not found on PATH"), args=("--profile", "nopbs"), env=empty_path),
    Case("results: made by another campaign", write("results/.campaign.json", '{"campaign": "demo"}\n'),
         ("results/ was made by campaign 'demo'", "this is campaign 'ci'", "--adopt-results"),
         args=("--profile", "ci", "--config", "results=results")),
    Case("status: unknown state in --state", nothing, ("--state 'runing'", "expected one or more of", "interrupted"),
         args=("status", "--profile", "ci", "--state", "runing")),
    Case("status: unknown system in --system", nothing, ("--system 'villn'", "expected one or more of", "ala"),
         args=("status", "--profile", "ci", "--system", "villn")),
]


# ------------------------------------------------------------------------------------ running


def digest_tree(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def computed_project(destination: Path) -> Path:
    """A project whose one-system ci campaign has been run to the end (the results to protect)."""
    project = make_project(destination)
    (project / SHEET).write_text(HEADER + ROW)
    run_mdflow(project, "--profile", "ci", check=True)
    return project


def _run(project: Path, case: Case) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENMM_CPU_THREADS": "1", "PYTHONUNBUFFERED": "1", **(case.env(project) if case.env else {})}
    prefix = []
    if case.unprivileged:
        uid, gid = UNPRIVILEGED
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        env.update(HOME=str(project), XDG_CONFIG_HOME=str(project / ".config"))
    return subprocess.run([*prefix, *MDFLOW, *case.args], cwd=project, capture_output=True, text=True,
                          timeout=300, env=env)


def run_case(case: Case, computed: Path, workdir: Path) -> Outcome:
    """Break a copy of `computed` under `workdir`, run mdflow, and judge the answer."""
    if case.unprivileged:  # a tree `nobody` can enter: pytest's tmp dirs are root-only (0700)
        workdir = Path(tempfile.mkdtemp(prefix="mdflow-fault-"))
        workdir.chmod(0o755)
    project = workdir / "project"
    shutil.copytree(computed, project, symlinks=True)
    try:
        before = digest_tree(project / "results-ci")
        case.edit(project)
        if case.unprivileged:
            uid, gid = UNPRIVILEGED
            for path in [project, *project.rglob("*")]:
                os.lchown(path, uid, gid)
        result = _run(project, case)
        return judge(case, result, project, before)
    finally:
        if case.unprivileged:
            shutil.rmtree(workdir, ignore_errors=True)


def judge(case: Case, result: subprocess.CompletedProcess, project: Path, before: dict) -> Outcome:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    problems = []
    if result.returncode == 0:
        problems.append("exit status 0")
    if "Traceback" in result.stdout + result.stderr:
        problems.append("traceback printed")
    if not last.startswith("mdflow: error: "):
        problems.append(f"last stderr line is not 'mdflow: error: ...': {last[:200]!r}")
    elif case.up_front and len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines, expected the error line alone: {lines[:3]}")
    missing = [w for w in case.words if w not in last]
    if missing and last.startswith("mdflow: error: "):
        problems.append(f"message lacks {missing}")
    if digest_tree(project / "results-ci") != before:
        problems.append("results-ci/ changed")
    if list(project.parent.rglob(MARKER)) or Path("/tmp", MARKER).exists():
        problems.append(f"marker file {MARKER} was created: a value reached a shell")
    return Outcome(not problems, last.removeprefix("mdflow: error: ") if not problems else "; ".join(problems),
                   problems)
