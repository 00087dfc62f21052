"""The site (merged mdflow.yaml of the active profile) as the executor sees it.

The CLI materializes the merged profile and names it in $MDFLOW_SITE_PROFILE before Snakemake
starts; the executor, created by Snakemake in the same process, reads it back from there.
"""

import os
from pathlib import Path

import yaml

from mdflow.project_files import SITE_FILE

SITE_ENV = "MDFLOW_SITE_PROFILE"


def current_site() -> dict:
    directory = os.environ.get(SITE_ENV)
    if not directory:
        raise RuntimeError(f"${SITE_ENV} is not set: run mdflow's executor through the `mdflow` command")
    site = yaml.safe_load((Path(directory) / SITE_FILE).read_text()) or {}
    site.setdefault("profile_dir", directory)
    return site
