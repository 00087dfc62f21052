"""`snakemake --executor mdflow`: Snakemake discovers executor plugins as top-level packages named
snakemake_executor_plugin_<name>; this one is mdflow's batch executor (mdflow/executors/plugin.py)."""

from mdflow.executors.plugin import Executor, ExecutorSettings, common_settings  # noqa: F401
