"""The registry: scheduler name -> adapter module (its `ADAPTER` class implements
adapter.SchedulerAdapter). Adding a scheduler: its module, its template, one line here, its tests."""

import importlib

from mdflow.errors import MdflowError
from mdflow.executors.adapter import SchedulerAdapter

ADAPTERS = {
    "slurm": "mdflow.executors.slurm",
    "pbs": "mdflow.executors.pbs",
    "cobalt": "mdflow.executors.cobalt",
    "sge": "mdflow.executors.drmaa_adapter",  # Grid Engine through DRMAA (a helper process per call)
}


def adapter_class(scheduler: str) -> type:
    """The SchedulerAdapter subclass of `scheduler`; MdflowError for a scheduler without one."""
    if scheduler not in ADAPTERS:
        raise MdflowError(f"scheduler {scheduler!r} has no batch adapter (known: {', '.join(ADAPTERS)})")
    module = importlib.import_module(ADAPTERS[scheduler])
    cls = getattr(module, "ADAPTER", None)
    if not (isinstance(cls, type) and issubclass(cls, SchedulerAdapter)):
        raise MdflowError(f"adapter module {ADAPTERS[scheduler]} defines no ADAPTER = <a SchedulerAdapter "
                          f"subclass> (see mdflow/executors/adapter.py)")
    return cls


def get(scheduler: str) -> SchedulerAdapter:
    """A fresh adapter for `scheduler` (its own cache between polls)."""
    return adapter_class(scheduler)()


def job_id_variables() -> list[tuple[str, str]]:
    """(scheduler, variable in which it gives a job its id), highest JOB_ID_PRECEDENCE first: where
    a front end runs on top of another scheduler, both variables are set and the front end names
    the job. Adapters whose module cannot be loaded are skipped."""
    found = []
    for scheduler in ADAPTERS:
        try:
            cls = adapter_class(scheduler)
        except (ImportError, MdflowError):
            continue
        found.append((-cls.JOB_ID_PRECEDENCE, scheduler, cls.JOB_ID_VAR))
    return [(scheduler, variable) for _, scheduler, variable in sorted(found, key=lambda f: f[0])]
