"""Where mdflow keeps its own state in a project directory: the one place these paths are written.

Relative to the project (the directory mdflow runs in). Used by the executor, the controller lock,
the ledger, the check cache, the campaign's sheet copies and `mdflow status`.
"""

from pathlib import Path

STATE_DIR = Path(".mdflow")
LEDGER_FILE = STATE_DIR / "ledger.sqlite"        # every batch submission (mdflow/ledger.py)
LOCK_FILE = STATE_DIR / "controller.lock"        # one controller per project (mdflow/controller_lock.py)
JOB_SCRIPTS_DIR = STATE_DIR / "jobs"             # rendered batch scripts (mdflow/executors/)
PROFILE_COPIES_DIR = STATE_DIR / "profiles"      # materialized profiles the executor reads back
SHEET_COPIES_DIR = STATE_DIR / "sheets"          # frozen copies of the systems sheet a run reads (mdflow/campaign.py)
STRUCTURE_CACHE = STATE_DIR / "cache" / "structures.json"  # structures that passed the checks (mdflow/checkcache.py)
ROW_CACHE = STATE_DIR / "cache" / "rows.json"    # sheet rows that passed validation (mdflow/checkcache.py)
INCOMING_PREFIX = ".incoming-"                    # files being fetched from a remote site, in STATE_DIR (executors/ssh.py)
SITE_FILE = "mdflow.yaml"                        # a profile's site description, inside the profile directory
