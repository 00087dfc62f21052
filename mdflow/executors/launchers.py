"""How a batch script starts one task on its allocation: srun, mpiexec, aprun, ibrun, or nothing.

A launcher is the site's choice (profile key `launcher`; Stampede runs Slurm with ibrun), so it is
kept apart from the scheduler adapters; an adapter names the one its sites use when the profile
names none (SchedulerAdapter.DEFAULT_LAUNCHER, SchedulerAdapter.launcher). Pure string building.
A new launcher is one subclass here and one entry in LAUNCHERS (the profile schema's `launcher`
enum is filled in from it).
"""

import shlex


class Launcher:
    """No launcher: the command runs where the batch script runs (the allocation's first node)."""

    name = "local"
    service_node = False  # True: batch scripts run on a service (MOM) node; every command goes through it

    def prefix(self, index: int, cores: int) -> str:
        """What goes before a command to start it as one task with `cores` cores on node `index`."""
        return ""

    def task(self, index: int, cores: int, command: str) -> str:
        """`command` (a shell line: it may start with `export …&&`) started through this launcher."""
        prefix = self.prefix(index, cores)
        return prefix + "bash -c " + shlex.quote(command) if prefix else command

    def gpu_task(self, node: int, device: int, first: int, last: int, members_per_gpu: int, command: str) -> str:
        """`command` started on node `node` (0 = the job's first) with GPU `device` and cores first..last
        only: CUDA_VISIBLE_DEVICES shows the process its device alone, taskset its cores."""
        return (f"{self.prefix(node, last - first + 1)}env CUDA_VISIBLE_DEVICES={device} "
                f"taskset -c {first}-{last} bash -c {shlex.quote(command)}")


class Srun(Launcher):
    name = "srun"

    def prefix(self, index, cores):
        return f"srun --nodes=1 --ntasks=1 --cpus-per-task={cores} --exact "

    def gpu_task(self, node, device, first, last, members_per_gpu, command):
        """Slurm binds a GPU per task itself (--gpus-per-task) unless members share a GPU."""
        gpu = "--gpus-per-task=1 " if members_per_gpu == 1 else ""
        visible = "" if gpu else f"env CUDA_VISIBLE_DEVICES={device} "
        return (f"srun --nodes=1 --ntasks=1 --relative={node} --cpus-per-task={last - first + 1} {gpu}--exact "
                f"{visible}bash -c {shlex.quote(command)}")


class Mpiexec(Launcher):
    """PBS Pro (Cray PALS / MPICH): the node by its line in $PBS_NODEFILE."""

    name = "mpiexec"

    def prefix(self, index, cores):
        return (f'mpiexec -n 1 --ppn 1 --depth={cores} --cpu-bind depth '
                f'--hosts "$(sed -n {index + 1}p "$PBS_NODEFILE")" ')

    def gpu_task(self, node, device, first, last, members_per_gpu, command):
        return (f'mpiexec -n 1 --ppn 1 --hosts "$(sed -n {node + 1}p "$PBS_NODEFILE")" '
                f"--cpu-bind list:{first}-{last} env CUDA_VISIBLE_DEVICES={device} bash -c {shlex.quote(command)}")


class Aprun(Launcher):
    """Cray ALPS (Theta): batch scripts run on a service node."""

    name = "aprun"
    service_node = True

    def prefix(self, index, cores):
        return f"aprun -n 1 -N 1 -d {cores} -cc none "


class Ibrun(Launcher):
    """TACC's MPI launcher."""

    name = "ibrun"

    def prefix(self, index, cores):
        return f"ibrun -n 1 -o {index} "


LAUNCHERS = {launcher.name: launcher for launcher in (Launcher(), Srun(), Mpiexec(), Aprun(), Ibrun())}
SERVICE_NODE_LAUNCHERS = tuple(name for name, launcher in LAUNCHERS.items() if launcher.service_node)


def get(name: str | None) -> Launcher:
    """The launcher called `name`; an unknown or missing name starts commands without one."""
    return LAUNCHERS.get(name or "local", LAUNCHERS["local"])


def launched(launcher: str, index: int, cores: int, command: str) -> str:
    return get(launcher).task(index, cores, command)


def gpu_launch(launcher: str, node: int, device: int, first: int, last: int, members_per_gpu: int,
               command: str) -> str:
    return get(launcher).gpu_task(node, device, first, last, members_per_gpu, command)
