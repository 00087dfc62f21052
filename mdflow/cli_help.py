"""What `mdflow --help`, `mdflow COMMAND --help` and `mdflow --version` print: the texts, in one place.

Pure data and small functions; mdflow/cli.py decides when to print them.
"""

import platform
from importlib import metadata

MAIN = """\
usage: mdflow [--profile NAME] [-q] [SNAKEMAKE OPTIONS] [TARGETS]   run the campaign (default profile: local)
       mdflow COMMAND [--help]

Run:
  mdflow [--profile NAME]                       run what is missing or out of date, then the report
  mdflow -n | --dry-run [--scripts DIR]         what would run and be submitted: a summary (+ batch scripts)
  mdflow -n --list-jobs | --system NAME[,NAME]  ... and every job, or the jobs of those systems
  mdflow --adopt-results                        run into a results directory another campaign made
  -q, --quiet                                   only errors and mdflow's own progress and summary lines

Commands (`mdflow COMMAND --help` for each):
  status     state of every segment: done, running, queued, failed, ...
  verify     compare finished results with the campaign's reference
  report     build results/report.html from finished results (--run: run what it needs first)
  dag        write the job DAG as DOT (and SVG with Graphviz)
  profiles   list, show or check the profiles (sites) mdflow knows
  init       write a new campaign directory (config, systems sheet, example structure)

Other:
  -h, --help          this text
  --help-snakemake    Snakemake's own options (all accepted after `mdflow`)
  --version           mdflow's version and its engines' (Snakemake, OpenMM, Python)"""

COMMANDS = {
    "dag": """\
usage: mdflow dag [-o FILE] [--profile NAME] [SNAKEMAKE OPTIONS] [TARGETS]

Write the campaign's job DAG (every job and what it needs) as Graphviz DOT, and as SVG when
Graphviz's `dot` is installed. Nothing runs.

  -o, --output FILE   where to write the DOT (default: dag.dot; the SVG goes beside it)
  --profile NAME      the profile whose campaign and settings to use (default: local)""",
    "status": """\
usage: mdflow status [--profile NAME] [--configfile F] [--state S[,S]] [--system NAME[,NAME]] [--json]

Where the campaign stands: every segment of every replica of every system with its state (done,
simulated, running, queued, interrupted, failed, missing), then per-system totals. Reads files and
the job ledger only, never the scheduler; safe next to a running mdflow.

  --profile NAME          the profile (site) whose work directory to read (default: local)
  --configfile F          the campaign config (default: the profile's, else config/config.yaml)
  --config KEY=VALUE      override a config key, as for a run
  --state S[,S]           list only segments in these states (the totals stay complete)
  --system NAME[,NAME]    list only these systems' segments
  --json                  the same as JSON, for scripts""",
    "verify": """\
usage: mdflow verify [--profile NAME] [--configfile F] [--reference FILE] [--skip-exact]
       mdflow verify --update [--reference FILE] [--repeat PROJECT_DIR]...

Compare a finished campaign's results with its reference (config key `reference`): checksums where
the environment matches the reference's, statistics and model checks everywhere. One line per
quantity; exit status 1 if any fails.

  --profile NAME          the profile the campaign ran with (default: local)
  --configfile F          the campaign config (default: the profile's, else config/config.yaml)
  --reference FILE        compare with (or write) FILE instead of the config's reference
  --skip-exact            judge as against another machine's reference: statistics only
  --update                write the reference from these results instead of comparing
  --repeat PROJECT_DIR    (with --update) a project that ran the same campaign with another
                          velocity_seed_offset; its spread goes into the reference""",
    "profiles": """\
usage: mdflow profiles list | show NAME | check NAME

  list         every profile found (./profiles, $MDFLOW_PROFILE_PATH, your config directory, shipped)
  show NAME    the profile's merged settings and where each came from (its `extends` chain)
  check NAME   validate the profile, including an `account` where the site needs one""",
    "init": """\
usage: mdflow init [DIR] [--profiles]

Write a new campaign directory (config/config.yaml, config/systems.tsv, an example structure) into
DIR, which must be new or empty (default: the current directory).

  --profiles   also copy the shipped profiles into DIR/profiles, to edit""",
    "report": """\
usage: mdflow report [--run] [--profile NAME] [SNAKEMAKE OPTIONS]

Build the campaign's report (<results>/report.html) from finished results. Without --run it only
builds the report: when other jobs (simulations, analyses) would have to run first, it refuses and
says how many of which rules.

  --run            run whatever the report still needs, then build it
  --profile NAME   the profile the campaign runs with (default: local)""",
}

HELP_FLAGS = ("-h", "--help")


def command_help(command: str) -> str:
    return COMMANDS[command]


def wants_help(argv) -> bool:
    return any(arg in HELP_FLAGS for arg in argv)


def installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


ENGINES = ("snakemake", "openmm")


def version_text(versions=None, python=None) -> str:
    """`mdflow 0.1.0 (snakemake 9.27.1, openmm 8.6.1, python 3.11.7)`; `versions` maps distribution
    names to versions (default: the installed ones)."""
    if versions is None:
        versions = {name: installed_version(name) for name in ("mdflow", *ENGINES)}
    engines = ", ".join(f"{name} {versions[name]}" for name in ENGINES)
    return f"mdflow {versions['mdflow']} ({engines}, python {python or platform.python_version()})"
