"""`mdflow init [DIR] [--profiles]`: write a new campaign directory from the shipped template."""

import shutil
from pathlib import Path

from mdflow.errors import MdflowError
from mdflow.layout import CAMPAIGN_NAME
from mdflow.paths import CAMPAIGN_TEMPLATE, SHIPPED_PROFILES

USAGE = "usage: mdflow init [DIR] [--profiles]"
TEMPLATE_NAME = "my-campaign"


def campaign_name(directory: Path) -> str:
    """The directory's name when it can name a campaign, else the template's."""
    return directory.name if CAMPAIGN_NAME.match(directory.name) else TEMPLATE_NAME


def init_campaign(directory: Path, with_profiles: bool) -> list[Path]:
    """Copy the template into `directory` (new or empty); return the files written."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise MdflowError(f"init: {directory} already exists and is not an empty directory; "
                          f"name a new one (mdflow init DIR)")
    shutil.copytree(CAMPAIGN_TEMPLATE, directory, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    config = directory / "config" / "config.yaml"
    name = campaign_name(directory.resolve())
    config.write_text(config.read_text().replace(TEMPLATE_NAME, name))
    if with_profiles:
        shutil.copytree(SHIPPED_PROFILES, directory / "profiles", ignore=shutil.ignore_patterns("__pycache__"))
    return sorted(p for p in directory.rglob("*") if p.is_file())


def run_init(argv: list) -> int:
    with_profiles = "--profiles" in argv
    rest = [a for a in argv if a != "--profiles"]
    if len(rest) > 1 or any(a.startswith("-") for a in rest):
        raise MdflowError(f"init: unexpected argument {rest[-1]!r}; {USAGE}")
    directory = Path(rest[0] if rest else ".")
    written = init_campaign(directory, with_profiles)
    shown = "the current directory" if not rest else str(directory)
    print(f"wrote a campaign in {shown} ({len(written)} files): edit config/systems.tsv, then run "
          f"`mdflow -n` to see what would run and `mdflow` to run it")
    return 0
