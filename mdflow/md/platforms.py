"""Choosing the OpenMM platform: CUDA when present, else CPU; others only when asked for.

OpenCL through Debian's PoCL segfaulted during minimisation on these machines, so `auto`
never picks it.
"""

import os
import subprocess

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
        # The CPU platform's PME plugin ignores the Threads property: it spreads charges over as many
        # threads as OPENMM_CPU_THREADS says, else as the machine has cores, read once per process when
        # the first PME context starts. Its sums depend on that count, so without this the same run
        # gives other bits on a machine with another number of cores.
        os.environ["OPENMM_CPU_THREADS"] = properties["Threads"]
    if name == "CUDA":
        properties["Precision"] = "mixed"
    if deterministic_forces and name != "Reference":
        properties["DeterministicForces"] = "true"
    return openmm.Platform.getPlatformByName(name), properties


def create_context(system, integrator, requested: str = "auto", cpu_threads: int | None = None,
                   deterministic_forces: bool = False, log=print):
    """An openmm.Context on the chosen platform. A GPU platform that is installed but cannot start
    (no device, driver too old): with 'auto' mdflow falls back to CPU and says so; asked for by
    name it is one clear line."""
    platform, properties = choose_platform(requested, cpu_threads, deterministic_forces)
    try:
        return openmm.Context(system, integrator, platform, properties)
    except Exception as error:  # OpenMMException: "Error initializing CUDA: CUDA_ERROR_NO_DEVICE …"
        if platform.getName() not in ("CUDA", "OpenCL", "HIP"):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if requested != "auto":
            raise MdflowError(f"config key 'platform': OpenMM platform {platform.getName()} is installed but "
                              f"cannot start here ({reason}); use platform: auto or CPU") from None
        log(f"OpenMM platform {platform.getName()} is installed but cannot start here ({reason}); using CPU")
        platform, properties = choose_platform("CPU", cpu_threads, deterministic_forces)
        return openmm.Context(system, integrator, platform, properties)


def platform_with_defaults(requested: str = "auto", cpu_threads: int | None = None,
                           deterministic_forces: bool = False, log=print):
    """For library code that builds its own Contexts without properties (PDBFixer.addMissingAtoms,
    Modeller.addHydrogens): the platform create_context would pick, with mdflow's properties (threads,
    precision, deterministic forces) set as its defaults. Without this they run on OpenMM's fastest
    platform with every thread, and a multi-threaded CPU reduction is not repeatable under load."""
    probe_system = openmm.System()
    probe_system.addParticle(1.0)
    probe = create_context(probe_system, openmm.VerletIntegrator(0.001), requested, cpu_threads,
                           deterministic_forces, log)
    platform = probe.getPlatform()
    del probe
    for key, value in choose_platform(platform.getName(), cpu_threads, deterministic_forces)[1].items():
        platform.setPropertyDefaultValue(key, value)
    return platform


def describe_device(context) -> dict | None:
    """For provenance: the GPU a context runs on (model, OpenMM device index, precision, driver, the
    devices this process may see); None on CPU and Reference."""
    platform = context.getPlatform()
    if platform.getName() not in ("CUDA", "OpenCL", "HIP"):
        return None

    def value(key):
        try:
            return platform.getPropertyValue(context, key)
        except Exception:
            return None

    driver = None
    try:
        answer = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=10)
        driver = (answer.stdout.split() or [None])[0] if answer.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {"model": value("DeviceName"), "device_index": value("DeviceIndex"), "precision": value("Precision"),
            "driver": driver, "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
