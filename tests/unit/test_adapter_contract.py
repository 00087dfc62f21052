"""The executor/adapter contract (mdflow/executors/adapter.py): every registered adapter implements
it, and the base class's defaults for optional capabilities behave as documented."""

import inspect
import subprocess

import pytest

from mdflow.errors import MdflowError
from mdflow.executors import adapters, launchers
from mdflow.executors.adapter import (
    AMBIGUOUS, FATAL, GONE, LIMIT, QUEUED, RUNNING, SUCCESS, TRANSIENT,
    GarbledAnswer, JobRequest, JobState, JobStatus, LimitOrRefused, LimitReached, QueryFailed, SchedulerAdapter,
    SchedulerError, SubmitRefused, TransientError, drive,
)
from mdflow.executors.render import TEMPLATE_DIR, render_script

SCHEDULERS = sorted(adapters.ADAPTERS)


def converted(scheduler: str) -> type:
    return adapters.adapter_class(scheduler)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_registered_adapter_implements_the_contract(scheduler):
    cls = converted(scheduler)
    assert issubclass(cls, SchedulerAdapter) and not inspect.isabstract(cls), cls.__abstractmethods__
    adapter = adapters.get(scheduler)
    for name in SchedulerAdapter.__abstractmethods__:
        assert callable(getattr(adapter, name)), name
        assert getattr(type(adapter), name) is not getattr(SchedulerAdapter, name), f"{scheduler} lacks {name}"
    assert adapter.NAME == scheduler
    assert (TEMPLATE_DIR / adapter.TEMPLATE).is_file()
    assert adapter.JOB_ID_VAR and isinstance(adapter.COMMANDS, tuple)
    assert isinstance(adapter.launcher({}), launchers.Launcher)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_adapter_renders_a_script_and_builds_its_commands(scheduler):
    adapter = converted(scheduler)()
    request = JobRequest(name="md.ala.0", queue=None, walltime_min=30, log_path="logs/md.log", workdir="/w")
    script = render_script(adapter, request, {"name": "site"}, "run-it")
    assert script.startswith("#!/bin/bash") and "run-it" in script and "${%s:-}" % adapter.JOB_ID_VAR in script
    for argv in (adapter.submit_argv("/w/x.sh"), adapter.status_argv(["1"]), adapter.cancel_argv(["1"]),
                 adapter.count_user_jobs_argv("me", None), adapter.find_by_name_argv("md.ala.0", "me"),
                 *adapter.cancel_argvs(["1", "2"])):
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    for kind, error in ((TRANSIENT, TransientError), (LIMIT, LimitReached), (FATAL, SubmitRefused),
                        (AMBIGUOUS, LimitOrRefused)):
        assert issubclass(error, SchedulerError)
    assert isinstance(adapter.submit_error("something nobody recognises"), SchedulerError)


def test_registry_names_each_schedulers_job_id_variable_once():
    variables = adapters.job_id_variables()
    assert sorted(s for s, _ in variables) == sorted(s for s in SCHEDULERS if adapters.adapter_class(s))
    assert variables[-1] == ("slurm", "SLURM_JOB_ID")  # front ends on top of Slurm are asked first


def test_unknown_scheduler_is_refused():
    with pytest.raises(MdflowError, match="no batch adapter"):
        adapters.get("lsf")


def test_job_state_is_one_enum_equal_to_the_ledgers_strings():
    assert QUEUED is JobState.QUEUED and QUEUED == "queued" and f"{GONE}" == "gone"
    assert {s.value for s in JobState} == {"queued", "running", "success", "failed", "unknown", "gone"}


def test_error_hierarchy_keeps_the_old_exception_types():
    """Callers that caught RuntimeError (no status answer) or ValueError (garbled output) still do."""
    assert issubclass(QueryFailed, TransientError) and issubclass(QueryFailed, RuntimeError)
    assert issubclass(GarbledAnswer, ValueError) and issubclass(GarbledAnswer, TransientError)
    assert issubclass(LimitOrRefused, SubmitRefused)


class Fake(SchedulerAdapter):
    """The smallest adapter: only the abstract methods."""

    NAME, TEMPLATE, JOB_ID_VAR, COMMANDS = "fake", "slurm.sh.j2", "FAKE_JOB_ID", ("fsub",)

    def directives(self, request):
        return [f"--name={request.name}"]

    def submit_argv(self, script):
        return ["fsub", script]

    def parse_submit(self, stdout):
        if not stdout.strip().isdigit():
            raise GarbledAnswer(stdout)
        return stdout.strip()

    def classify_submit_error(self, text):
        return LIMIT if "too many" in text else TRANSIENT if "try again" in text else FATAL

    def status_argv(self, ids):
        return ["fstat", *ids]

    def parse_status(self, returncode, stdout, stderr, ids):
        if returncode:
            raise QueryFailed(stderr)
        rows = dict(line.split() for line in stdout.splitlines())
        states = {"Q": QUEUED, "R": RUNNING, "D": SUCCESS}
        return {i: JobStatus(states[rows[i]]) for i in ids if i in rows}

    def cancel_argv(self, ids):
        return ["fdel", *ids]

    def count_user_jobs_argv(self, user, queue):
        return ["fstat", "-u", user]

    def count_user_jobs(self, returncode, stdout, stderr):
        return len(stdout.split())

    def find_by_name_argv(self, name, user):
        return ["fstat", "-n", name]

    def parse_find_by_name(self, stdout, workdir):
        return stdout.split()


def test_a_class_missing_an_abstract_method_cannot_be_instantiated():
    class Incomplete(SchedulerAdapter):
        NAME, TEMPLATE, JOB_ID_VAR, COMMANDS = "x", "slurm.sh.j2", "X_ID", ()

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_a_class_missing_a_required_attribute_cannot_be_instantiated():
    class Nameless(Fake):
        NAME = None

    with pytest.raises(TypeError, match="NAME"):
        Nameless()


def test_base_class_defaults_for_optional_capabilities():
    fake = Fake()
    assert fake.cancel_argvs(["1", "2"]) == [["fdel", "1", "2"]]
    assert fake.submitted_ids_in_log("logs/x.log") == []
    assert fake.log_files("logs/x.log") == ["logs/x.log"]
    assert fake.launcher({}).name == "local" and fake.launcher({"launcher": "srun"}).name == "srun"
    assert fake.JOB_ID_PRECEDENCE == 0 and fake.state == {}
    assert isinstance(fake.submit_error("too many jobs"), LimitReached)
    assert isinstance(fake.submit_error("please try again"), TransientError)
    refused = fake.submit_error("bad account\nJob refused: bad account")
    assert isinstance(refused, SubmitRefused) and str(refused) == "Job refused: bad account"


def test_default_poll_is_one_status_query_run_by_the_caller():
    calls = []

    def run(argv):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "1 Q\n2 D\n", "")

    assert Fake().poll(["1", "2", "3"], run) == {"1": JobStatus(QUEUED), "2": JobStatus(SUCCESS)}
    assert calls == [["fstat", "1", "2", "3"]]
    assert Fake().poll([], run) == {} and len(calls) == 1
    with pytest.raises(QueryFailed):
        Fake().poll(["1"], lambda argv: subprocess.CompletedProcess(argv, 1, "", "server down"))


def test_drive_feeds_each_answer_back_to_a_multi_step_query():
    def steps():
        first = yield ["a"]
        second = yield ["b", first.stdout]
        return second.stdout

    seen = []
    result = drive(steps(), lambda argv: (seen.append(argv), subprocess.CompletedProcess(argv, 0, "+".join(argv), ""))[1])
    assert seen == [["a"], ["b", "a"]] and result == "b+a"


def test_adapters_run_no_commands_themselves(monkeypatch):
    """Polling every registered adapter through a recording `run` never starts a process."""
    def refuse(*args, **kwargs):
        raise AssertionError("an adapter ran a command itself")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    for scheduler in SCHEDULERS:
        adapter = adapters.get(scheduler)
        adapter.state["accounting"] = False  # Slurm: skip the sacct probe
        asked = []
        try:
            adapter.poll(["1"], lambda argv: (asked.append(argv), subprocess.CompletedProcess(argv, 0, "", ""))[1],
                         {"1": {"log_path": "/nonexistent/x.log"}})
        except RuntimeError:
            pass  # an empty answer may be no answer; what matters is who ran the command
        assert asked, scheduler


def test_a_module_without_an_adapter_class_is_refused(monkeypatch):
    import sys
    import types

    module = types.ModuleType("legacy_adapter")
    module.NAME, module.TEMPLATE = "legacy", "slurm.sh.j2"
    monkeypatch.setitem(sys.modules, "legacy_adapter", module)
    monkeypatch.setitem(adapters.ADAPTERS, "legacy", "legacy_adapter")
    with pytest.raises(MdflowError, match="defines no ADAPTER"):
        adapters.get("legacy")


def test_a_submission_waiting_to_retry_ends_when_the_run_is_cancelled(tmp_path):
    """Submitter holds no lock; its retry wait ends at once when `stop` is set, and it submits no more."""
    import threading
    import time

    from mdflow.executors.submission import Cancelled, Submitter

    class Log:
        def warning(self, message):
            pass

    calls = []

    def run(argv):
        calls.append(argv)
        if argv[0] == "fsub":
            return subprocess.CompletedProcess(argv, 1, "", "please try again")
        return subprocess.CompletedProcess(argv, 0, "", "")  # find_by_name: no such job

    stop = threading.Event()
    submitter = Submitter(Fake(), {"name": "s"}, None, tmp_path, Log(), stop, run=run)
    submitter.wait = lambda seconds, wait=submitter.wait: wait(seconds * 100)  # a long wait, unless cancelled
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    request = JobRequest(name="md", queue=None, walltime_min=5)
    with pytest.raises(Cancelled):
        submitter.submit(tmp_path / "x.sh", request)
    assert time.monotonic() - started < 5
    submitted = len([c for c in calls if c[0] == "fsub"])
    with pytest.raises(Cancelled):
        submitter.submit(tmp_path / "x.sh", request)
    assert len([c for c in calls if c[0] == "fsub"]) == submitted  # nothing more after the cancel
