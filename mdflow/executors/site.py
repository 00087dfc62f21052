"""The site (merged mdflow.yaml of the active profile) as the executor sees it.

The CLI materializes the merged profile and names it in $MDFLOW_SITE_PROFILE before Snakemake
starts; the executor, created by Snakemake in the same process, reads it back from there. Under
plain `snakemake --executor mdflow --mdflow-profile NAME` the executor materializes NAME itself.
"""

import os
from pathlib import Path

import yaml

from mdflow.errors import MdflowError
from mdflow.project_files import SITE_FILE

SITE_ENV = "MDFLOW_SITE_PROFILE"


def current_site(profile_name: str | None = None) -> dict:
    """The site named by $MDFLOW_SITE_PROFILE (set by `mdflow`), else by `profile_name` (the plugin's
    --mdflow-profile), materialized in the working directory's .mdflow/profiles."""
    directory = os.environ.get(SITE_ENV)
    if not directory and profile_name:
        from mdflow.profiles import load_profile, materialize

        directory = str(materialize(load_profile(profile_name, Path.cwd()), Path.cwd()))
        os.environ[SITE_ENV] = directory  # what the `mdflow` command would have set, for the jobs' scripts
    if not directory:
        raise MdflowError("executor mdflow needs a site profile: snakemake --executor mdflow --mdflow-profile NAME "
                          "(a shipped one: slurm, pbs, sge, stampede, polaris, theta; or a path), or run `mdflow`")
    site = yaml.safe_load((Path(directory) / SITE_FILE).read_text()) or {}
    site.setdefault("profile_dir", directory)
    return site
