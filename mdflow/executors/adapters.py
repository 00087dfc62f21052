"""Scheduler name -> adapter module."""

import importlib

from mdflow.errors import MdflowError

ADAPTERS = {"slurm": "mdflow.executors.slurm", "pbs": "mdflow.executors.pbs", "cobalt": "mdflow.executors.cobalt"}


def get(scheduler: str):
    if scheduler not in ADAPTERS:
        raise MdflowError(f"scheduler {scheduler!r} has no batch adapter (known: {', '.join(ADAPTERS)})")
    return importlib.import_module(ADAPTERS[scheduler])
