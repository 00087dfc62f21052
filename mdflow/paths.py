"""Where mdflow's own files live: the shipped workflow, its schemas and profiles.

mdflow is installed from a checkout (`pip install -e .`), so these sit beside the package.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent
WORKFLOW_DIR = SOURCE_ROOT / "workflow"
SNAKEFILE = WORKFLOW_DIR / "Snakefile"
SCHEMA_DIR = WORKFLOW_DIR / "schemas"
SHIPPED_PROFILES = SOURCE_ROOT / "profiles"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
