"""Snakemake's own executor-plugin test base (snakemake.common.tests, as the official plugins use it)
run against mdflow's executor on the real Slurm: its simple workflow and its group workflow (a
`group:` of two rules per sample, then a rule over all samples), through the Python API with
mdflow's typed ExecutorSettings naming the shipped `slurm` site profile (issue 18)."""

import pytest
from snakemake.common.tests import TestWorkflowsLocalStorageBase

from mdflow.cli import register_executor
from mdflow.executors.plugin import ExecutorSettings
from mdflow.executors.site import SITE_ENV

pytestmark = pytest.mark.campaign


@pytest.fixture(autouse=True)
def real_slurm_and_no_site_from_elsewhere(slurm, monkeypatch):
    monkeypatch.setenv(SITE_ENV, "")  # restored (removed) after the test: the executor sets it itself
    monkeypatch.delenv(SITE_ENV)
    register_executor()


class TestMdflowExecutorOnSlurm(TestWorkflowsLocalStorageBase):
    __test__ = True

    def get_executor(self) -> str:
        return "mdflow"

    def get_executor_settings(self):
        return ExecutorSettings(profile="slurm")
