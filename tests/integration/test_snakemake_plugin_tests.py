"""Snakemake's own executor-plugin test base (snakemake.common.tests, as the official plugins use it)
run against mdflow's executor on the real Slurm: its simple workflow and its group workflow (a
`group:` of two rules per sample, then a rule over all samples), through the Python API with
mdflow's typed ExecutorSettings naming the shipped `slurm` site profile (issue 18); and the same
under the PBS Pro and Cobalt emulators (tests/emulators, whose jobs run on that Slurm) with a site
profile given as a path."""

import pytest
from snakemake.common.tests import TestWorkflowsLocalStorageBase

from conftest import EMULATED_QUEUE, emulator_env
from mdflow.cli import register_executor
from mdflow.executors.plugin import ExecutorSettings
from mdflow.executors.site import SITE_ENV

pytestmark = pytest.mark.campaign


@pytest.fixture(autouse=True)
def real_slurm_and_no_site_from_elsewhere(slurm, monkeypatch, request, tmp_path_factory):
    monkeypatch.setenv(SITE_ENV, "")  # restored (removed) after the test: the executor sets it itself
    monkeypatch.delenv(SITE_ENV)
    scheduler = request.cls.emulated
    if scheduler:  # the emulator's commands first on PATH, its state and a site profile of this test's
        here = tmp_path_factory.mktemp(scheduler)
        for name, value in emulator_env(here, scheduler).items():
            monkeypatch.setenv(name, value)
        # The shipped pbs/cobalt profiles name no queue; the emulators have this one, of 60 min. The
        # runtime-less members of the group workflow's two levels ask for 2 x the 60-min default: on
        # PBS mdflow holds them to the queue's resources_max.walltime (qstat -Q -f); Cobalt's limits
        # are not read, and qsub would refuse that in one line, so its profile states a default.
        default = "default_walltime: 20\n" if scheduler == "cobalt" else ""
        (here / "site").mkdir()
        (here / "site/mdflow.yaml").write_text(f"scheduler: {scheduler}\nqueue: {EMULATED_QUEUE[scheduler]}\n"
                                               f"{default}logdir: logs/batch\n")
        request.instance.site_profile = str(here / "site")
    register_executor()


class TestMdflowExecutorOnSlurm(TestWorkflowsLocalStorageBase):
    __test__ = True
    emulated = None
    site_profile = "slurm"

    def get_executor(self) -> str:
        return "mdflow"

    def get_executor_settings(self):
        return ExecutorSettings(profile=self.site_profile)


class TestMdflowExecutorOnEmulatedPbs(TestMdflowExecutorOnSlurm):
    emulated = "pbs"


class TestMdflowExecutorOnEmulatedCobalt(TestMdflowExecutorOnSlurm):
    emulated = "cobalt"
