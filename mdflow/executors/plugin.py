"""mdflow's batch executor as a Snakemake executor plugin, `executor: mdflow`.

Snakemake finds it as the package `snakemake_executor_plugin_mdflow` (which re-exports this module)
in an installed mdflow, so any workflow can use it: `snakemake --executor mdflow --mdflow-profile
slurm` (a shipped site profile, one in ./profiles or $MDFLOW_PROFILE_PATH, or a path). The `mdflow`
command registers this module itself (an editable install is not discovered) and names the site in
$MDFLOW_SITE_PROFILE instead.
"""

from dataclasses import dataclass, field
from typing import Optional

from snakemake_interface_executor_plugins.settings import CommonSettings, ExecutorSettingsBase

from mdflow.executors.batch import Executor  # noqa: F401 (the registry looks it up here)

common_settings = CommonSettings(
    non_local_exec=True,
    implies_no_shared_fs=False,
    job_deploy_sources=False,
    pass_default_storage_provider_args=True,
    pass_default_resources_args=True,
    pass_envvar_declarations_to_cmd=True,
    auto_deploy_default_storage_provider=False,
    init_seconds_before_status_checks=1,
)


@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    profile: Optional[str] = field(  # typing.Optional: Snakemake turns the annotation into an argparse type
        default=None,
        metadata={"help": "mdflow site profile the jobs go to: its scheduler, queues and their limits, account, "
                          "max_queued, launcher, environment lines, ensemble policy (a shipped profile such as "
                          "slurm, stampede, polaris, theta, sge; one in ./profiles or $MDFLOW_PROFILE_PATH; or a "
                          "path). Not needed when run through the `mdflow` command.",
                  "env_var": False, "required": False})
