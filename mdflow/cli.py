"""`mdflow`: resolve the profile, validate the campaign, then run Snakemake in-process.

The commands and options, and every help text, are in mdflow/cli_help.py (`mdflow --help`,
`mdflow COMMAND --help`). Snakemake's Python API cannot load profiles, so mdflow builds
Snakemake's own command line (shipped Snakefile, project as working directory, the merged
profile) and hands it to `snakemake.cli.parse_args` / `args_to_api` (see design.md).
"""

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mdflow import cli_help
from mdflow.campaign import claim_results, freeze_sheet, load_campaign
from mdflow.controller_lock import controller_lock
from mdflow.dryrun_summary import Summary, parse_listing, pending_jobs_line
from mdflow.errors import MdflowError
from mdflow.executors.site import SITE_ENV, current_site
from mdflow.layout import scratch_dir
from mdflow.paths import SNAKEFILE
from mdflow.progress import SNAKEMAKE_QUIET, show_progress, snakemake_output
from mdflow.rule_placement import BATCH_RULES
from mdflow.targets import check_targets

USAGE = cli_help.MAIN
DEFAULT_PROFILE = "local"


def pop_repeated_option(argv: list, *names: str) -> tuple[list, list]:
    """Remove every `--name VALUE` / `--name=VALUE` from argv; return (the values in order, the rest)."""
    values, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in names:
            if i + 1 >= len(argv):
                raise MdflowError(f"option {arg} needs a value")
            values.append(argv[i + 1])
            i += 2
            continue
        matched = next((n for n in names if arg.startswith(n + "=")), None)
        if matched:
            values.append(arg[len(matched) + 1:])
        else:
            rest.append(arg)
        i += 1
    return values, rest


def pop_option(argv: list, *names: str, default=None):
    """Remove `--name VALUE` / `--name=VALUE` from argv; return the last value given."""
    values, rest = pop_repeated_option(argv, *names)
    return (values[-1] if values else default), rest


QUIETNESS = ("rules", "progress", "all", "host", "reason")  # the words Snakemake's --quiet takes


def pop_quiet(argv: list) -> tuple[tuple | None, list]:
    """Remove `-q`/`--quiet [WORD...]` (words as Snakemake's --quiet takes them); return (the
    quietness to hand Snakemake: mdflow's SNAKEMAKE_QUIET plus those words, or None, the rest)."""
    words, rest, quiet, i = set(), [], False, 0
    while i < len(argv):
        if argv[i] in ("-q", "--quiet"):
            quiet, i = True, i + 1
            while i < len(argv) and argv[i] in QUIETNESS:
                words.add(argv[i])
                i += 1
            continue
        rest.append(argv[i])
        i += 1
    return (tuple(sorted(words | set(SNAKEMAKE_QUIET))) if quiet else None), rest


def prepare_snakemake(argv: list):
    """Return (parser, args, profile, campaign) ready for `args_to_api`; raises MdflowError."""
    import snakemake.cli

    from mdflow.profiles import load_profile, materialize

    profile_name, argv = pop_option(argv, "--profile", default=DEFAULT_PROFILE)
    quiet, argv = pop_quiet(argv)
    scripts_dir, argv = pop_option(argv, "--scripts")
    listed_systems, argv = pop_option(argv, "--system")
    list_jobs = "--list-jobs" in argv
    argv = [a for a in argv if a != "--list-jobs"]
    adopt_results = "--adopt-results" in argv
    argv = [a for a in argv if a != "--adopt-results"]
    directory, argv = pop_option(argv, "--directory", "-d")
    if directory:
        if not Path(directory).is_dir():
            raise MdflowError(f"--directory {directory}: not a directory")
        os.chdir(directory)
    project = Path.cwd()
    profile = load_profile(profile_name, project)
    materialized = materialize(profile, project)
    os.environ[SITE_ENV] = str(materialized)
    register_executor()
    snakemake_argv = [
        "--snakefile", str(SNAKEFILE),
        "--directory", str(project),
        "--profile", str(materialized),
        "--workflow-profile", "none",
        *argv,
        *(["--quiet", *quiet] if quiet else []),
    ]
    parser, args = _parse_quietly(snakemake_argv)
    if not args.configfile and profile.site.get("configfile"):
        args.configfile = [Path(profile.site["configfile"])]
    try:
        overrides = snakemake.cli.parse_config(args.config)
    except ValueError as error:
        raise MdflowError(f"--config: {error}") from None
    campaign = load_campaign(project, list(args.configfile or []), overrides)
    check_config_values(args.config)
    claim_results(project, campaign, write=False, adopt=adopt_results)  # a dry run refuses a mismatch too
    if scripts_dir and not args.dryrun:
        raise MdflowError("--scripts DIR only goes with --dry-run")
    if (list_jobs or listed_systems is not None) and not args.dryrun:
        raise MdflowError(f"{'--list-jobs' if list_jobs else '--system'} only goes with --dry-run")
    args.mdflow_listing = parse_listing(list_jobs, listed_systems, campaign.systems)
    if profile.scheduler != "local" and not is_read_only(args):
        check_account(profile)
    check_sheet_sites(profile, campaign)
    workdir = site_workdir(profile, keep_unset=is_read_only(args))
    check_targets(args.targets, campaign.systems, [campaign.results, scratch_dir(workdir, campaign.name)],
                  str(project), campaign.settings["systems"])
    if profile.scheduler != "local" and not is_read_only(args):
        check_batch_site(profile, args)
    if not quiet:
        print(f"mdflow: profile {profile.name!r} ({profile.scheduler}) from {profile.path}", file=sys.stderr)
    args.config = list(args.config or []) + [
        f"site_name={profile.name}",
        f"site_workdir={workdir}",
    ]
    if not is_read_only(args):
        args.config.append(f"systems={freeze_sheet(project, campaign.settings['systems'])}")
    args.mdflow_scripts_dir = scripts_dir
    args.mdflow_quiet = quiet
    args.mdflow_adopt_results = adopt_results
    return parser, args, profile, campaign


def load_project_campaign(argv: list):
    """(profile, campaign, remaining argv) for commands that read a campaign without running Snakemake:
    `--profile` (default local), `--configfile` (default: the profile's), `--config KEY=VALUE…`."""
    from mdflow.profiles import campaign_configfiles, load_profile

    profile_name, argv = pop_option(argv, "--profile", default=DEFAULT_PROFILE)
    configfile, argv = pop_option(argv, "--configfile", "--configfiles")
    config_values, argv = pop_option(argv, "--config")
    project = Path.cwd()
    profile = load_profile(profile_name, project)
    overrides = {}
    if config_values:  # importing Snakemake costs more than the rest of `mdflow status`
        import snakemake.cli

        try:
            overrides = snakemake.cli.parse_config([config_values])
        except ValueError as error:
            raise MdflowError(f"--config: {error}") from None
    campaign = load_campaign(project, campaign_configfiles(profile, configfile), overrides)
    return profile, campaign, argv


def site_workdir(profile, keep_unset: bool = False) -> str:
    """The profile's work directory with $VARIABLES expanded (e.g. $SCRATCH on a login node).
    keep_unset (a dry-run, anywhere): a variable not set here stays as written."""
    workdir = profile.site.get("workdir", "scratch")
    expanded = os.path.expandvars(os.path.expanduser(workdir))
    if "$" in expanded and not keep_unset:
        raise MdflowError(f"profile {profile.name!r}, key 'workdir': {workdir!r} names a variable that is not set here")
    if re.search(UNSAFE_IN_JOB_ARGS, expanded):
        raise MdflowError(f"profile {profile.name!r}, key 'workdir': {workdir!r} expands to {expanded!r}, which holds "
                          f"a quote, backslash or control character; expected a plain path")
    return expanded


# Snakemake hands --config values to batch jobs quoted with Python's repr(): a value with a single
# quote comes out in double quotes, where the shell expands $(...) and `...`. mdflow refuses those.
UNSAFE_IN_JOB_ARGS = r"['\"`\\\x00-\x1f\x7f]"


def check_config_values(items) -> None:
    for item in items or []:
        if re.search(UNSAFE_IN_JOB_ARGS, str(item)):
            raise MdflowError(f"--config {item!r}: quotes, backslashes and control characters are not allowed in "
                              f"--config values (they are passed on to every batch job's command line)")


def check_sheet_sites(profile, campaign) -> None:
    """Under a multi-site profile, every `site` the sheet names is one of its sites (one line if not)."""
    sites = profile.site.get("sites") or []
    if not sites:
        return
    for system in campaign.systems.values():
        if system.site and system.site not in sites:
            raise MdflowError(f"{campaign.settings['systems']}, system {system.name}, column site: {system.site} is not "
                              f"a site of this profile (its sites: {', '.join(sites)})")


def is_read_only(args) -> bool:
    return bool(args.dryrun or args.dag or args.rulegraph or args.summary or args.list_target_rules)


ACCOUNT_PLACEHOLDER = "ACCOUNT-NOT-SET"


def missing_account(profile) -> bool:
    return bool(profile.site.get("account_required")) and not profile.site.get("account")


def check_account(profile) -> None:
    """Sites that charge every job to an allocation refuse jobs without one: say so before submitting."""
    if missing_account(profile):
        raise MdflowError(f"profile {profile.name!r} ({profile.path / 'mdflow.yaml'}): key 'account' is not set; "
                          f"{profile.site.get('description', profile.name).split('.')[0]} charges every job to an "
                          f"allocation: add `account: YOUR_PROJECT` to a profile that extends {profile.name} "
                          f"(or to ./profiles/{profile.name}/mdflow.yaml)")


def check_batch_site(profile, args) -> None:
    """Before a real run on a batch scheduler: its commands are on PATH (a remote site's are checked
    there, over SSH, by the executor), and every batch rule's runtime (default-resources/
    set-resources) fits some queue, so nothing is submitted in vain. Each site of a multi-site profile."""
    from mdflow import profiles

    for member in profiles.member_profiles(profile, Path.cwd()):
        check_one_batch_site(member, args)


def check_one_batch_site(profile, args) -> None:
    from mdflow.executors import adapters
    from mdflow.executors.adapter import parse_walltime
    from mdflow.executors.render import choose_queue
    from mdflow.executors.ssh import target_of

    check_account(profile)
    adapter = adapters.get(profile.scheduler)
    site = {**profile.site, "name": profile.name}
    if profile.is_remote:
        target_of(site)  # a host, user or option ssh could misread: one line now
        workdir = site.get("workdir", "scratch")
        if workdir.startswith(("/", "~", "$")):
            raise MdflowError(f"profile {profile.name!r}, key 'workdir': {workdir!r}; on a remote site the work "
                              f"directory lies inside its remote_dir (the project's copy there): give a relative "
                              f"path (scratch), and put the site's scratch file system in remote_dir")
    else:
        missing = [command for command in adapter.COMMANDS if shutil.which(command) is None]
        if missing:
            raise MdflowError(f"profile {profile.name!r} submits to {profile.scheduler}, but {', '.join(missing)} "
                              f"not found on PATH ({os.environ.get('PATH', '')}); run mdflow where the scheduler's "
                              f"commands are (a login node), load their module, or give the profile a `host:`")
    defaults = dict(args.default_resources or {})
    for rule in BATCH_RULES:
        resources = {**defaults, **(args.set_resources or {}).get(rule, {})}
        if any(resources[k].is_evaluable() for k in ("runtime", "nodes", "queue", "partition")
               if hasattr(resources.get(k), "is_evaluable")):
            continue  # computed per job: the executor checks each job before submitting it
        values = {k: getattr(resources[k], "value", resources[k]) for k in ("runtime", "nodes", "queue", "partition")
                  if k in resources}
        runtime, nodes = values.get("runtime"), values.get("nodes") or 1
        queue = values.get("queue") or values.get("partition")
        if not isinstance(nodes, int) or not isinstance(queue, (str, type(None))):
            continue
        try:
            minutes = parse_walltime(runtime or site.get("default_walltime", 60))
        except (TypeError, ValueError):
            continue  # the executor names the job and the bad value
        choose_queue(site, minutes, nodes, queue, f"{rule} (every job of this rule, runtime from the profile)")


def register_executor() -> None:
    """Make `executor: mdflow` known to Snakemake (an editable flat install is not discovered)."""
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    from mdflow.executors import plugin

    ExecutorPluginRegistry().register_plugin("mdflow", plugin)


def _parse_quietly(snakemake_argv: list):
    """Snakemake's parse_args, minus its 'Using profile …' line (mdflow names the profile itself)."""
    import snakemake.cli

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return snakemake.cli.parse_args(snakemake_argv)
    except SystemExit as exit_:  # argparse refused an option: its usage is Snakemake's, hundreds of lines
        errors = [line.split(": error: ", 1)[1] for line in captured.getvalue().splitlines() if ": error: " in line]
        if exit_.code in (0, None) or not errors:
            raise
        captured = io.StringIO()  # not Snakemake's usage text: the one line below says it all
        raise MdflowError(f"{errors[-1]} (mdflow --help: mdflow's options; mdflow --help-snakemake: "
                          f"Snakemake's)") from None
    finally:
        noise = "for setting default command line arguments."
        sys.stderr.write("".join(line for line in captured.getvalue().splitlines(True) if noise not in line))


def run_snakemake(argv: list) -> int:
    import snakemake.cli

    parser, args, profile, campaign = prepare_snakemake(argv)
    read_only = is_read_only(args)
    problems, summary = [], Summary()
    if args.dryrun:
        from mdflow.executors import dryrun

        site = current_site()
        if missing_account(profile):
            print(f"mdflow: profile {profile.name!r} sets no `account`; the batch scripts show "
                  f"{ACCOUNT_PLACEHOLDER} where {profile.name} needs your allocation (a real run refuses to start)",
                  file=sys.stderr)
            site = {**site, "account": ACCOUNT_PLACEHOLDER}
        problems = dryrun.install(site, args.mdflow_scripts_dir, Path.cwd(), summary, *args.mdflow_listing)
    if not read_only:  # Ctrl-C, SIGTERM, SIGHUP: stop local jobs, cancel batch jobs, one line (mdflow/interrupt.py)
        from mdflow.interrupt import stop_on_signals

        stop_on_signals()
    lock = contextlib.nullcontext() if read_only else controller_lock(Path.cwd())
    scratch = scratch_dir(site_workdir(profile, keep_unset=read_only), campaign.name)
    quiet = args.mdflow_quiet
    progress = show_progress(Path.cwd(), campaign, profile.name, scratch, quiet=read_only or "all" in (quiet or ()))
    with lock, progress:
        if not read_only:
            claim_results(Path.cwd(), campaign, write=True, adopt=args.mdflow_adopt_results)
        with snakemake_output(quiet=quiet is not None, dryrun=bool(args.dryrun)):
            success = snakemake.cli.args_to_api(args, parser)
    if args.dryrun:
        print(summary.render(f"profile {profile.name}, {profile.scheduler}"), end="", flush=True)
    if problems:
        raise MdflowError(f"{len(problems)} job(s) could not be submitted; first: {problems[0]}")
    return 0 if success else 1


def dry_run_summary(argv: list):
    """(Summary of the jobs a dry-run of `argv` would run, the campaign); Snakemake's output is
    shown only when it fails."""
    import snakemake.cli

    from mdflow.executors import dryrun

    captured, summary = io.StringIO(), Summary()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        parser, args, profile, campaign = prepare_snakemake([*argv, "--dry-run", "--quiet"])
        site = {**current_site(), **({"account": ACCOUNT_PLACEHOLDER} if missing_account(profile) else {})}
        dryrun.install(site, None, Path.cwd(), summary, False, None)
        with snakemake_output(quiet=True, dryrun=True):
            success = snakemake.cli.args_to_api(args, parser)
    if not success:
        sys.stderr.write(captured.getvalue())
        raise MdflowError("Snakemake could not plan the jobs (see the messages above)")
    return summary, campaign


def run_report(argv: list) -> int:
    """Build the report only when nothing else has to run first; `--run` runs what it needs too."""
    import shlex

    run_first = "--run" in argv
    argv = [a for a in argv if a != "--run"]
    if not run_first and not {"-n", "--dry-run", "--dryrun"} & set(argv):  # a dry run just shows it
        summary, campaign = dry_run_summary([*argv, "report"])
        report = f"{campaign.results}/report.html"
        if not summary.rules:
            print(f"mdflow: {report} is up to date")
            return 0
        hint = shlex.join(["mdflow", "report", "--run", *argv])
        refusal = pending_jobs_line(summary.rules, report, exclude="report", hint=hint)
        if refusal:
            raise MdflowError(refusal)
        code = run_snakemake([*argv, "report"])
        if code == 0:
            print(f"mdflow: wrote {report}")
        return code
    return run_snakemake([*argv, "report"])


def run_dag(argv: list) -> int:
    output, argv = pop_option(argv, "-o", "--output", default="dag.dot")
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        code = run_snakemake(argv + ["--dag"])
    dot = captured.getvalue()
    start = dot.find("digraph")
    if code != 0 or start < 0:
        sys.stdout.write(dot)
        raise MdflowError("Snakemake did not produce a DAG (see the messages above)")
    Path(output).write_text(dot[start:])
    print(f"wrote {output}")
    if shutil.which("dot"):
        svg = str(Path(output).with_suffix(".svg"))
        subprocess.run(["dot", "-Tsvg", output, "-o", svg], check=True)
        print(f"wrote {svg}")
    else:
        print("Graphviz 'dot' not found: install graphviz for an SVG")
    return 0


def run_profiles(argv: list) -> int:
    from mdflow import profiles

    project = Path.cwd()
    action, rest = (argv[0], argv[1:]) if argv else ("", [])
    if action == "list" and not rest:
        print(f"{'name':<16} {'scheduler':<10} found in")
        for name, directory in profiles.available(project):
            try:
                scheduler = profiles.load_profile(name, project).scheduler
            except MdflowError as error:
                scheduler = f"BROKEN ({error})"
            print(f"{name:<16} {scheduler:<10} {directory}")
        return 0
    if action in ("show", "check") and len(rest) == 1:
        profile = profiles.load_profile(rest[0], project)  # validates: raises one clear line
        if action == "check":
            check_account(profile)
            members = profiles.member_profiles(profile, project)  # a multi-site profile: each of its sites
            for member in members if profile.site.get("sites") else []:
                check_account(member)
            kind = f"sites {', '.join(m.name for m in members)}" if profile.site.get("sites") else profile.scheduler
            print(f"profile {rest[0]!r} is valid ({kind}; "
                  f"{' -> '.join(str(d) for d in profile.chain)})")
            return 0
        print(profiles.describe(profile))
        return 0
    raise MdflowError("usage: mdflow profiles list | show NAME | check NAME")


def run_verify(argv: list) -> int:
    from mdflow import verify
    from mdflow.md.platforms import choose_platform

    update = "--update" in argv
    exact_checks = "--skip-exact" not in argv
    argv = [a for a in argv if a not in ("--update", "--skip-exact")]
    reference_option, argv = pop_option(argv, "--reference")
    repeats, argv = pop_repeated_option(argv, "--repeat")
    profile, campaign, rest = load_project_campaign(argv)
    if rest or (repeats and not update):
        raise MdflowError(f"verify: unexpected argument {(rest or ['--repeat'])[0]!r}; usage: mdflow verify "
                          f"[--profile NAME] [--configfile F] [--reference FILE] [--skip-exact | --update "
                          f"[--repeat PROJECT_DIR]...]")
    shown = reference_option or campaign.settings["reference"]
    path = Path.cwd() / shown
    ran_on = verify.platforms_used(Path.cwd() / campaign.results)
    here = verify.environment(ran_on or choose_platform(campaign.settings["platform"])[0].getName())
    measured = verify.measure(Path.cwd(), campaign)
    if update:
        again = [verify.measure(Path(directory).resolve(), campaign) for directory in repeats]
        reference = verify.reference_from(measured, here, again)
        verify.write_reference(path, reference)
        print(f"wrote {shown}: {len(reference['quantities'])} quantities")
        return 0
    rows = verify.compare(verify.load_reference(path, shown), measured, here, exact_checks)
    print(verify.render(rows), end="")
    return 0 if all(row.ok for row in rows) else 1


def run_status(argv: list) -> int:
    import json

    from mdflow import status

    as_json = "--json" in argv
    argv = [a for a in argv if a != "--json"]
    state_filter, argv = pop_option(argv, "--state")
    system_filter, argv = pop_option(argv, "--system")
    profile, campaign, argv = load_project_campaign(argv)
    if argv:
        raise MdflowError(f"status: unexpected argument {argv[0]!r}; usage: mdflow status [--profile NAME] "
                          f"[--configfile F] [--state S[,S]] [--system NAME[,NAME]] [--json]")
    states = status.parse_filter("--state", state_filter, status.STATES)
    systems = status.parse_filter("--system", system_filter, list(campaign.systems))
    claim_results(Path.cwd(), campaign, write=False)  # another campaign's files are not this one's progress
    notes = []
    state = status.collect(Path.cwd(), campaign, profile.name, scratch_dir(site_workdir(profile), campaign.name),
                           remote_progress=remote_progress_reader(profile, notes))
    shown = status.select_rows(state.rows, states, systems) if states or systems else None
    print(json.dumps(status.to_json(state, shown), indent=2) if as_json
          else status.render_table(state, shown).rstrip("\n"))
    for note in notes:
        print(f"mdflow: {note}", file=sys.stderr)
    return 0


def remote_progress_reader(profile, notes: list):
    """For `mdflow status`: a reader of the progress of jobs running on the profile's remote sites
    (mdflow/remote_status.py), or None where none of its sites is remote."""
    from mdflow import profiles

    sites = {member.name: member.site for member in profiles.member_profiles(profile, Path.cwd()) if member.site.get("host")}
    if not sites:
        return None
    from mdflow.remote_status import remote_progress

    return lambda ledger: remote_progress(Path.cwd(), sites, ledger, notes)


def run_init(argv: list) -> int:
    from mdflow.init_campaign import run_init as init

    return init(argv)


COMMANDS = {"dag": run_dag, "profiles": run_profiles, "verify": run_verify, "status": run_status, "init": run_init,
            "report": run_report}


def print_snakemake_help() -> int:
    import snakemake.cli

    parser = snakemake.cli.get_argument_parser()
    parser.prog = "mdflow"
    print("Snakemake's options, accepted after `mdflow` (mdflow sets --snakefile, --directory, --profile and "
          "--configfile from the profile itself; mdflow --help for mdflow's own)\n")
    print(parser.format_help())
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        if command and cli_help.wants_help(argv[1:]):
            print(cli_help.command_help(command))
            return 0
        if not command and cli_help.wants_help(argv):
            print(USAGE)
            return 0
        if not command and "--help-snakemake" in argv:
            return print_snakemake_help()
        if not command and ("--version" in argv or "-v" in argv):  # -v: Snakemake's short --version
            print(cli_help.version_text())
            return 0
        if command:
            return COMMANDS[command](argv[1:])
        return run_snakemake(argv)
    except MdflowError as error:
        print(f"mdflow: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP once stop_on_signals() runs: one line, 128 + signal
        from mdflow.interrupt import interrupted

        return interrupted()
    except BrokenPipeError:  # `mdflow profiles list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
