"""Where a campaign's files go, shared by the campaign, the CLI and the executor (which must not
import the campaign module: it pulls in the science code).

Each campaign has its own results directory (config key `results`), its own directory in the site's
work directory (`<workdir>/<campaign>`) and its own logs (`logs/<campaign>`, batch jobs' in
`<logdir>/<campaign>`), so two campaigns of one project never write the same file.
"""

import posixpath
import re

from mdflow.errors import MdflowError

CAMPAIGN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # as in mdflow/workflow/schemas/config.schema.yaml


# Inside a results or scratch directory (`root`): <root>/<system>/setup, <root>/<system>/analysis, and
# per replica <root>/<system>/rep<r>/ holding production segments seg<kkk>.* and stages eq<nn>.*.
# The workflow (rules/common.smk), `mdflow status` and `mdflow verify` all take it from here.
REPLICA_DIR = "{root}/{system}/rep{replica}"
SEGMENT_STEM = "seg{segment}"
STAGE_STEM = "eq{stage}"
SEGMENT_FILE = re.compile(r"^seg(\d{3,})\.(.+)$")
STAGE_FILE = re.compile(r"^eq(\d{2,})\.(.+)$")


def segment_id(index: int) -> str:
    return f"{index:03d}"


def stage_id(index: int) -> str:
    return f"{index:02d}"


def replica_dir(root, system: str, replica) -> str:
    return REPLICA_DIR.format(root=root, system=system, replica=replica)


def segment_stem(index: int) -> str:
    return SEGMENT_STEM.format(segment=segment_id(index))


def scratch_dir(site_workdir: str, campaign: str) -> str:
    """`<site workdir>/<campaign>`: each campaign stages and simulates in a directory of its own."""
    return posixpath.join(site_workdir, campaign)


def default_campaign_name(results: str, where: str) -> str:
    """The name of a campaign whose config has no `campaign` key (written before there was one):
    its results directory's name, so that two such configs differ as long as their results do."""
    name = posixpath.basename(posixpath.normpath(results))
    if not CAMPAIGN_NAME.match(name):
        raise MdflowError(f"{where}: no key 'campaign', and the results directory's name {name!r} cannot stand in "
                          f"for it; add `campaign: NAME` (letters, digits and _ . -)")
    return name


def campaign_name(config: dict) -> str:
    """The campaign's name from its config as Snakemake holds it (defaults not filled in)."""
    return config.get("campaign") or default_campaign_name(config.get("results", "results"), "config")


def campaign_directories(config: dict) -> tuple:
    """(results, scratch) of a campaign from its config as Snakemake holds it."""
    return config.get("results", "results"), scratch_dir(config.get("site_workdir", "scratch"), campaign_name(config))
