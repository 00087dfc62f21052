"""Profiles: where they are found, `extends`, and the merged Snakemake profile handed to Snakemake.

A profile is a directory holding `config.v9+.yaml` (Snakemake options) and `mdflow.yaml` (the site).
Search order for a name: ./profiles, each dir of $MDFLOW_PROFILE_PATH, the user config dir, the
profiles shipped with mdflow. A value containing '/' that is an existing directory is used as is.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mdflow.campaign import merge, read_yaml, validate
from mdflow.errors import MdflowError
from mdflow.executors.adapters import ADAPTERS
from mdflow.executors.launchers import LAUNCHERS
from mdflow.paths import SCHEMA_DIR, SHIPPED_PROFILES
from mdflow.project_files import PROFILE_COPIES_DIR, SITE_FILE

SNAKEMAKE_FILE = "config.v9+.yaml"
SCHEDULERS = ("local", *ADAPTERS)  # local runs jobs on this host; the others through their adapter
JOB_TEMPLATE = "job.sh.j2"
PROFILE_NAME = re.compile(r"[A-Za-z0-9_./-]+")
# Site keys whose values are shell code (or free text) written by the site's admin on purpose:
# `env` lines run before each job (`module load …`). They are not quoted; every other value is
# either restricted by profile.schema.yaml or quoted where it is used.
SHELL_CODE_KEYS = ("env", "login_env", "description")
MULTI_SITE = "sites"  # the scheduler a multi-site profile shows: its sites have theirs


@dataclass
class Profile:
    name: str
    path: Path
    site: dict = field(default_factory=dict)
    snakemake: dict = field(default_factory=dict)
    chain: list = field(default_factory=list)  # profile dirs, most derived first

    @property
    def scheduler(self) -> str:
        if self.site.get("sites"):
            return MULTI_SITE
        return self.site.get("scheduler", "local")

    @property
    def is_remote(self) -> bool:
        return bool(self.site.get("host"))


def search_path(project: Path) -> list[Path]:
    dirs = [project / "profiles"]
    dirs += [Path(p) for p in os.environ.get("MDFLOW_PROFILE_PATH", "").split(os.pathsep) if p]
    config_home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    dirs += [config_home / "mdflow" / "profiles", SHIPPED_PROFILES]
    return dirs


def find_profile_dir(name: str, project: Path, exclude=()) -> Path:
    """The first directory on the search path holding `name`, skipping those in `exclude` (so a
    project's `local` can extend the shipped `local`)."""
    if not PROFILE_NAME.fullmatch(name):
        raise MdflowError(f"unknown profile {name!r}: a profile name or path has only letters, digits and _ . / -")
    if "/" in name and (project / name).is_dir() and (project / name / SITE_FILE).exists():
        return (project / name).resolve()
    for directory in search_path(project):
        candidate = directory / name
        if candidate.is_dir() and (candidate / SITE_FILE).exists() and candidate.resolve() not in exclude:
            return candidate.resolve()
    searched = ", ".join(str(d) for d in search_path(project))
    raise MdflowError(f"unknown profile {name!r}: no {name}/{SITE_FILE} in {searched}")


def site_schema() -> dict:
    schema = yaml.safe_load((SCHEMA_DIR / "profile.schema.yaml").read_text())
    schema["properties"]["scheduler"]["enum"] = list(SCHEDULERS)  # the registries are the one list
    schema["properties"]["launcher"]["enum"] = list(LAUNCHERS)
    return schema


def check_site(site: dict, source: Path) -> None:
    """Unknown keys, wrong types, unknown scheduler, values that could break out of a batch script
    line (line breaks, control characters): one clear line naming the file."""
    validate(site, site_schema(), str(source))
    for key, value in _strings(site):
        if key.split(".")[0] not in SHELL_CODE_KEYS and re.search(r"[\x00-\x1f\x7f]", value):
            raise MdflowError(f"{source}, key {key!r}: {value!r} is not allowed; expected one line without "
                              f"control characters (a line break would start a new line of the batch script)")
    for name, spec in (site.get("queues") or {}).items():
        wall = (spec or {}).get("max_walltime")
        if wall is not None:
            from mdflow.executors.adapter import parse_walltime

            try:
                parse_walltime(wall)
            except ValueError:
                raise MdflowError(f"{source}, key 'queues.{name}.max_walltime': {wall!r} is not minutes or HH:MM:SS") from None


def _strings(value, key=""):
    """(dotted key, text) of every string in a profile mapping, list items as key.N."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{key}.{i}")
    elif isinstance(value, str):
        yield key, value


def load_profile(name: str, project: Path) -> Profile:
    """Find `name` and fold in its `extends` chain (the derived profile's values win)."""
    chain, site, options = [], {}, {}
    directory = find_profile_dir(name, project)
    while directory is not None:
        chain.append(directory)
        own_site = read_yaml(directory / SITE_FILE)
        check_site(own_site, directory / SITE_FILE)
        own_options = read_yaml(directory / SNAKEMAKE_FILE) if (directory / SNAKEMAKE_FILE).exists() else {}
        site, options = merge(own_site, site), merge(own_options, options)
        parent = own_site.get("extends")
        directory = _find_parent(parent, project, chain) if parent else None
    site.pop("extends", None)
    return Profile(name=name, path=chain[0], site=site, snakemake=options, chain=chain)


def _find_parent(parent: str, project: Path, chain: list) -> Path:
    try:
        return find_profile_dir(parent, project, exclude=chain)
    except MdflowError:
        if parent in [d.name for d in chain]:
            raise MdflowError(f"{chain[-1] / SITE_FILE}: 'extends: {parent}' forms a cycle") from None
        raise


def available(project: Path) -> list[tuple[str, Path]]:
    """(name, directory) of every profile on the search path; the first of each name wins."""
    seen, found = set(), []
    for directory in search_path(project):
        if not directory.is_dir():
            continue
        for candidate in sorted(directory.iterdir()):
            if (candidate / SITE_FILE).exists() and candidate.name not in seen:
                seen.add(candidate.name)
                found.append((candidate.name, directory))
    return found


def describe(profile: Profile) -> str:
    """Merged values, each with the file it came from (the most derived profile that sets it)."""
    lines = [f"profile {profile.name} ({profile.scheduler})", f"  extends chain: {' -> '.join(map(str, profile.chain))}"]
    for filename, merged in ((SITE_FILE, profile.site), (SNAKEMAKE_FILE, profile.snakemake)):
        lines.append(f"  {filename}:")
        for key, value in merged.items():
            origin = next((d / filename for d in profile.chain if key in _own(d / filename)), "?")
            lines.append(f"    {key}: {json.dumps(value, ensure_ascii=False)}    # from {origin}")
    return "\n".join(lines)


def _own(path: Path) -> dict:
    return read_yaml(path) if path.exists() else {}


def materialize(profile: Profile, project: Path) -> Path:
    """Write the merged profile where Snakemake's --profile (config.v9+.yaml) and mdflow's executor
    (mdflow.yaml, job.sh.j2 from the most derived profile that has one) read it."""
    target = project / PROFILE_COPIES_DIR / profile.name.replace("/", "__")
    target.mkdir(parents=True, exist_ok=True)
    (target / SNAKEMAKE_FILE).write_text(yaml.safe_dump(profile.snakemake, sort_keys=True))
    site = {**profile.site, "name": profile.name, "scheduler": profile.scheduler}
    if profile.site.get("sites"):
        site["sites"] = [member_site(name, profile, project) for name in profile.site["sites"]]
    (target / SITE_FILE).write_text(yaml.safe_dump(site, sort_keys=True))
    template = next((d / JOB_TEMPLATE for d in profile.chain if (d / JOB_TEMPLATE).exists()), None)
    (target / JOB_TEMPLATE).unlink(missing_ok=True)
    if template is not None:
        (target / JOB_TEMPLATE).write_text(template.read_text())
    return target


def member_profiles(profile: Profile, project: Path) -> list:
    """The site profiles a multi-site profile drives (itself for any other); one line for a member
    that is itself multi-site, or listed twice."""
    names = profile.site.get("sites") or []
    if not names:
        return [profile]
    if len(set(names)) != len(names):
        raise MdflowError(f"profile {profile.name!r}, key 'sites': {names} names a site twice")
    members = []
    for name in names:
        member = load_profile(name, project)
        if member.site.get("sites"):
            raise MdflowError(f"profile {profile.name!r}, key 'sites': {name!r} is itself a multi-site profile")
        if member.scheduler == "local":
            raise MdflowError(f"profile {profile.name!r}, key 'sites': {name!r} runs jobs on this host (scheduler "
                              f"local); the sites of a multi-site profile are batch sites")
        members.append(member)
    return members


def member_site(name: str, profile: Profile, project: Path) -> dict:
    """A member site as the executor reads it (materialized, with its own job template)."""
    member = next(m for m in member_profiles(profile, project) if m.name == name)
    directory = materialize(member, project)
    return {**member.site, "name": member.name, "scheduler": member.scheduler, "profile_dir": str(directory)}


def campaign_configfiles(profile, explicit=None) -> list:
    """The campaign files `mdflow` would use: --configfile, else the profile's Snakemake option
    `configfile` (a value naming a file in the profile directory means that file, as Snakemake
    reads profiles), else the site's `configfile`."""
    if explicit:
        return [explicit]
    value = profile.snakemake.get("configfile")
    if value:
        values = value if isinstance(value, list) else [value]
        resolved = []
        for item in values:
            item = os.path.expanduser(os.path.expandvars(str(item)))
            in_profile = next((d / item for d in profile.chain if (d / item).exists()), None)
            resolved.append(str(in_profile) if in_profile else item)
        return resolved
    site_value = profile.site.get("configfile")
    return [site_value] if site_value else []
