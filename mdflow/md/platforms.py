"""Choosing the OpenMM platform: CUDA when present, else CPU; others only when asked for.

OpenCL through Debian's PoCL segfaulted during minimisation on these machines, so `auto`
never picks it.
"""

import openmm

from mdflow.errors import MdflowError

AUTO_ORDER = ("CUDA", "CPU", "Reference")


def available_platforms() -> list[str]:
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def choose_platform(requested: str = "auto", cpu_threads: int | None = None, deterministic_forces: bool = False):
    """Return (platform, properties) for `requested` ('auto' or a platform name). `deterministic_forces`
    makes CPU/CUDA/OpenCL sum forces in a fixed order (Reference always does), for bitwise-repeatable runs."""
    names = available_platforms()
    if requested == "auto":
        name = next(n for n in AUTO_ORDER if n in names)
    elif requested in names:
        name = requested
    else:
        raise MdflowError(
            f"config key 'platform': OpenMM platform {requested!r} is not available here "
            f"(available: {', '.join(names)}; or 'auto')"
        )
    properties = {}
    if name == "CPU" and cpu_threads:
        properties["Threads"] = str(int(cpu_threads))
    if name == "CUDA":
        properties["Precision"] = "mixed"
    if deterministic_forces and name != "Reference":
        properties["DeterministicForces"] = "true"
    return openmm.Platform.getPlatformByName(name), properties
