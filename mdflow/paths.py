"""Where mdflow's own files live: the shipped workflow, its schemas and site profiles.

All of them are package data (mdflow/workflow, mdflow/site_profiles), so an installed mdflow finds
them without a source checkout; a campaign directory holds only the user's files.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WORKFLOW_DIR = PACKAGE_DIR / "workflow"
SNAKEFILE = WORKFLOW_DIR / "Snakefile"
SCHEMA_DIR = WORKFLOW_DIR / "schemas"
SHIPPED_PROFILES = PACKAGE_DIR / "site_profiles"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
CAMPAIGN_TEMPLATE = PACKAGE_DIR / "campaign_template"
# The git checkout mdflow runs from, when it does (an editable install); None for an installed wheel.
SOURCE_ROOT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").is_file() else None
