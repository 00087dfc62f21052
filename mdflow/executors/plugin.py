"""The module Snakemake's executor registry loads as executor `mdflow` (see cli.register_executor)."""

from snakemake_interface_executor_plugins.settings import CommonSettings

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
