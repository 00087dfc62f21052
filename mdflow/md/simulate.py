"""One segment of one replica, restartable.

Work in progress lives in a `partial` directory beside the outputs (never a declared Snakemake
output, so Snakemake does not delete it when it reruns an incomplete job). Every
`checkpoint_interval` steps the DCD and CSV are flushed, then checkpoint, portable XML state and
progress are written atomically, progress last (also every `checkpoint_interval_min` minutes). A rerun loads the checkpoint, cuts the DCD and CSV
back to it and carries on, so at most one checkpoint interval is redone. SIGTERM (sent by batch
schedulers before the walltime kill, and by mdflow's controller when it is interrupted) checkpoints
and exits; so do SIGINT, SIGHUP and SIGUSR1 (Grid Engine's warning at the soft walltime s_rt).
"""

import hashlib
import json
import shutil
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import openmm
from openmm import app, unit

from mdflow.errors import MdflowError
from mdflow.io_atomic import atomic_write_bytes, atomic_write_text, sha256_file
from mdflow.md import stages, trajfiles
from mdflow.md.platforms import create_context, describe_device
from mdflow.model_summary import integrator_summary

EXIT_INTERRUPTED = 143
STAGE_FIELDS = ("restraint_k_kj_mol_nm2", "heat_from_k", "pressure_bar", "keep_velocities", "seed_stream")


class SegmentInterrupted(SystemExit):
    """Raised after a SIGTERM (SIGINT, SIGHUP) was handled by checkpointing; exit code 128 + the signal,
    like a plain SIGTERM (143)."""

    def __init__(self, message: str = "", signum: int = signal.SIGTERM):
        super().__init__(EXIT_INTERRUPTED if signum == signal.SIGTERM else 128 + int(signum))
        self.message = message


@dataclass(frozen=True)
class SegmentSpec:
    system_xml: str
    start_state_xml: str
    topology_pdb: str
    out_dcd: str
    out_csv: str
    out_state: str
    temperature_k: float
    friction_per_ps: float
    timestep_fs: float
    steps: int
    report_interval: int
    checkpoint_interval: int | None  # steps; None: wall-clock cadence only
    seed: int
    replica: int
    segment: int
    platform: str = "auto"
    cpu_threads: int | None = None
    deterministic_forces: bool = False
    checkpoint_interval_min: float = 10.0
    velocity_seed_offset: int = 0
    # equilibration stages (mdflow.md.stages); the defaults are a production segment
    restraint_k_kj_mol_nm2: float = 0.0   # harmonic restraints of the solute's heavy atoms to the start
    heat_from_k: float | None = None      # heating: velocities at this temperature, thermostat ramped up
    pressure_bar: float | None = None     # NPT: a Monte Carlo barostat (periodic systems only)
    keep_velocities: bool = False         # segment 0 continues the start state's velocities (after a stage)
    seed_stream: str = ""                 # "eq": stages draw other random numbers than segments

    @property
    def draws_velocities(self) -> bool:
        return self.segment == 0 and not self.keep_velocities

    @property
    def partial_dir(self) -> Path:
        return Path(self.out_dcd).with_name(Path(self.out_dcd).stem + ".partial")

    def fingerprint(self) -> str:
        """Identity of the work: a partial result is only resumed by the same work."""
        defaults = {f.name: f.default for f in fields(self)}
        relevant = {k: v for k, v in asdict(self).items() if k not in (
            "platform", "cpu_threads", "deterministic_forces", "checkpoint_interval", "checkpoint_interval_min")
            and not (k in STAGE_FIELDS and v == defaults[k])}  # partial results of older mdflow still resume
        relevant["start_state_sha256"] = sha256_file(self.start_state_xml)
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def derive_seed(seed: int, replica: int, segment: int, offset: int = 0) -> int:
    """A reproducible, non-zero 31-bit seed per (system seed, replica, segment[, velocity seed offset]);
    0 means random to OpenMM."""
    digest = hashlib.sha256((f"{seed}:{replica}:{segment}" + (f":{offset}" if offset else "")).encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1) + 1


def degrees_of_freedom(system) -> int:
    dof = sum(3 for i in range(system.getNumParticles()) if system.getParticleMass(i) > 0 * unit.dalton)
    dof -= system.getNumConstraints()
    if any(isinstance(f, openmm.CMMotionRemover) for f in system.getForces()):
        dof -= 3
    return dof


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
# SIGUSR1 is a batch job's walltime warning: Grid Engine sends it to every process of the job at its
# soft limit s_rt, SIGKILL following at h_rt (the batch script ignores it, so that the job's shell and
# Snakemake live on while the segment checkpoints); Slurm sends it where asked (--signal=USR1@120).
ALWAYS_HANDLED = (signal.SIGUSR1,)


class _Stopper:
    """Turns SIGTERM, SIGINT, SIGHUP and SIGUSR1 into a flag the step loop checks between chunks (a
    signal ignored on entry, e.g. SIGHUP under nohup, stays ignored; SIGUSR1 is handled all the same)."""

    def __init__(self):
        self.requested = None  # the signal number once one came
        self._previous = {}

    def __enter__(self):
        def handler(signum, frame):
            self.requested = self.requested or signum

        for signum in STOP_SIGNALS:
            try:
                if signum in ALWAYS_HANDLED or signal.getsignal(signum) != signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, handler)
            except ValueError:  # not the main thread (e.g. a threaded test runner): no handler
                break
        return self

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}


def _build_context(spec: SegmentSpec, system, topology, start_state):
    seed = derive_seed(spec.seed, spec.replica, f"{spec.seed_stream}{spec.segment}", spec.velocity_seed_offset)
    if spec.restraint_k_kj_mol_nm2 > 0:
        stages.add_restraints(system, topology, start_state.getPositions(), spec.restraint_k_kj_mol_nm2)
    if spec.pressure_bar is not None and system.usesPeriodicBoundaryConditions():
        stages.add_barostat(system, spec.pressure_bar, spec.temperature_k, spec.report_interval)
    integrator = openmm.LangevinMiddleIntegrator(
        (spec.heat_from_k or spec.temperature_k) * unit.kelvin,
        spec.friction_per_ps / unit.picosecond,
        spec.timestep_fs * unit.femtosecond,
    )
    integrator.setRandomNumberSeed(seed)
    for force in system.getForces():
        if isinstance(force, openmm.MonteCarloBarostat):
            force.setRandomNumberSeed(seed)
            force.setDefaultTemperature(spec.temperature_k * unit.kelvin)
    context = create_context(system, integrator, spec.platform, spec.cpu_threads, spec.deterministic_forces)
    return context, integrator, seed


def _start_fresh(spec: SegmentSpec, context, seed: int, state) -> None:
    if state.getPeriodicBoxVectors() is not None:
        context.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
    context.setPositions(state.getPositions())
    try:
        velocities = state.getVelocities()
    except Exception:  # a minimized state carries no velocities
        velocities = None
    if spec.draws_velocities or velocities is None:
        context.setVelocitiesToTemperature((spec.heat_from_k or spec.temperature_k) * unit.kelvin, seed)
    else:
        context.setVelocities(velocities)
    context.setStepCount(spec.segment * spec.steps)
    context.setTime(spec.segment * spec.steps * spec.timestep_fs / 1000.0)


def _try_resume(spec: SegmentSpec, context, fingerprint: str) -> int | None:
    """Load the checkpoint of an interrupted attempt; return its step, or None to start over."""
    partial = spec.partial_dir
    progress_file = partial / "progress.json"
    if not progress_file.exists():
        return None
    try:
        progress = json.loads(progress_file.read_text())
        if progress["fingerprint"] != fingerprint:
            return None
        frames = progress["steps"] // spec.report_interval
        trajfiles.truncate_dcd(partial / "trajectory.dcd", frames)
        trajfiles.truncate_csv_rows(partial / "energies.csv", frames)
        if progress["platform"] == context.getPlatform().getName():
            context.loadCheckpoint((partial / progress["checkpoint"]).read_bytes())
        else:  # checkpoints are tied to the platform that wrote them; XML states are portable
            context.setState(openmm.XmlSerializer.deserialize((partial / progress["state"]).read_text()))
        return int(progress["steps"])
    except (OSError, ValueError, KeyError, openmm.OpenMMException):
        return None


class _Cadence:
    """When to checkpoint: every checkpoint_interval_min of wall-clock time (GROMACS mdrun: 15 min),
    so lost work is bounded in minutes whatever the hardware's speed, and, if set, every
    checkpoint_interval steps. A portable XML state costs ~0.1 s on a GPU: every 2 ps halved
    throughput there (docs: shared/design.md)."""

    def __init__(self, spec: SegmentSpec, clock=time.monotonic):
        self.spec, self.clock = spec, clock
        self.last = clock()

    def due(self, steps_done: int) -> bool:
        by_steps = bool(self.spec.checkpoint_interval) and steps_done % self.spec.checkpoint_interval == 0
        return by_steps or self.clock() - self.last >= self.spec.checkpoint_interval_min * 60

    def saved(self) -> None:
        self.last = self.clock()


def _save_checkpoint(spec, context, dcd_handle, csv_handle, steps_done, fingerprint, ns_per_day=None):
    import os

    for handle in (dcd_handle, csv_handle):
        handle.flush()
        os.fsync(handle.fileno())
    # The checkpoint and state files carry their step in their names and progress.json, renamed last,
    # names the pair it belongs to: a kill between the three writes never pairs a new checkpoint with
    # old progress (which would resume at one step with the state of another).
    partial = spec.partial_dir
    checkpoint = context.createCheckpoint()
    names = {"checkpoint": f"checkpoint.{steps_done}.chk", "state": f"state.{steps_done}.xml"}
    atomic_write_bytes(partial / names["checkpoint"], checkpoint)
    state = context.getState(getPositions=True, getVelocities=True, getParameters=True)
    atomic_write_text(partial / names["state"], openmm.XmlSerializer.serialize(state))
    progress = {"steps": steps_done, "fingerprint": fingerprint, "platform": context.getPlatform().getName(),
                "ns_per_day": ns_per_day, **names}  # the speed for `mdflow status`
    atomic_write_text(partial / "progress.json", json.dumps(progress))
    for old in [*partial.glob("checkpoint.*.chk"), *partial.glob("state.*.xml")]:
        if old.name not in names.values():
            old.unlink(missing_ok=True)
    return checkpoint


def needs_restart_points(context, system) -> bool:
    """Whether continuing differs from restarting. Measured (OpenMM 8.6, CPU, one thread,
    DeterministicForces): a periodic (PME) system continued past a checkpoint differs in the last bits
    from one restarted in a new Context from that checkpoint, because the kernels keep internal state
    (setPositions or loadCheckpoint in the same Context change nothing); implicit solvent on CPU and
    CUDA with DeterministicForces continue bit for bit, and Reference does."""
    return context.getPlatform().getName() == "CPU" and system.usesPeriodicBoundaryConditions()


def restart_point(context, checkpoint: bytes) -> None:
    """Continue as a resumed run would: rebuild the kernels and load the checkpoint. Done at every
    report interval (not only where a checkpoint is written, which depends on the wall clock), so the
    trajectory never depends on when checkpoints happened and a run resumed from any of them repeats
    the undisturbed one bit for bit. Cost: benchmarks/restart_points.py."""
    context.reinitialize(preserveState=True)
    context.loadCheckpoint(checkpoint)


def run_segment(spec: SegmentSpec, log=print) -> dict:
    """Run (or finish) one segment; write DCD, energy CSV and final state XML. Returns a summary."""
    system = openmm.XmlSerializer.deserialize(Path(spec.system_xml).read_text())
    topology = app.PDBFile(spec.topology_pdb).topology
    start_state = openmm.XmlSerializer.deserialize(Path(spec.start_state_xml).read_text())
    context, integrator, seed = _build_context(spec, system, topology, start_state)
    fingerprint = spec.fingerprint()
    partial = spec.partial_dir

    resumed_from = _try_resume(spec, context, fingerprint)
    if resumed_from is None:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _start_fresh(spec, context, seed, start_state)
        steps_done = 0
        with open(partial / "energies.csv", "w") as handle:
            handle.write(trajfiles.energy_header())
    else:
        steps_done = resumed_from
        log(f"resuming segment {spec.segment} of replica {spec.replica} from checkpoint at step "
            f"{steps_done} of {spec.steps}")

    dcd_path = partial / "trajectory.dcd"
    dcd_handle = open(dcd_path, "r+b" if dcd_path.exists() else "wb")
    dcd = app.DCDFile(
        dcd_handle, topology, spec.timestep_fs * unit.femtosecond,
        firstStep=spec.segment * spec.steps + spec.report_interval,
        interval=spec.report_interval, append=dcd_path.stat().st_size > 0,
    )
    csv_handle = open(partial / "energies.csv", "a")
    kb_dof = (unit.MOLAR_GAS_CONSTANT_R * degrees_of_freedom(system)).value_in_unit(
        unit.kilojoule_per_mole / unit.kelvin)

    periodic = topology.getPeriodicBoxVectors() is not None
    started = time.perf_counter()
    steps_at_start = steps_done
    cadence = _Cadence(spec)
    restart_points = needs_restart_points(context, system)
    reported = stages.reported_groups(system)
    with _Stopper() as stopper:
        while steps_done < spec.steps:
            if stopper.requested:
                _save_checkpoint(spec, context, dcd_handle, csv_handle, steps_done, fingerprint)
                name = signal.Signals(stopper.requested).name
                message = f"{name}: checkpointed segment {spec.segment} at step {steps_done}; exiting"
                log(message)
                raise SegmentInterrupted(message, stopper.requested)
            if spec.heat_from_k is not None:  # from the step count alone: a resumed stage heats the same way
                integrator.setTemperature(stages.ramp_temperature(
                    steps_done, spec.steps, spec.heat_from_k, spec.temperature_k) * unit.kelvin)
            frame_step = steps_done + spec.report_interval
            try:
                integrator.step(spec.report_interval)
                steps_done += spec.report_interval
                _write_frame(context, dcd, csv_handle, kb_dof, spec, steps_done, periodic, reported)
            except openmm.OpenMMException as error:
                raise blown_up(spec, frame_step, error) from None
            checkpoint = None
            if cadence.due(steps_done) or steps_done == spec.steps:
                speed = _ns_per_day(steps_done - steps_at_start, spec.timestep_fs, time.perf_counter() - started)
                checkpoint = _save_checkpoint(spec, context, dcd_handle, csv_handle, steps_done, fingerprint, speed)
                cadence.saved()
                log(f"{Path(spec.out_dcd).stem}: step {steps_done} of {spec.steps} "
                    f"({100 * steps_done // spec.steps}%), {speed or 0:.3g} ns/day")
            if restart_points and steps_done < spec.steps:
                restart_point(context, checkpoint or context.createCheckpoint())
    elapsed = time.perf_counter() - started
    dcd_handle.close()
    csv_handle.close()
    trajfiles.stamp_dcd_title(dcd_path)

    final = context.getState(getPositions=True, getVelocities=True, getParameters=True)
    atomic_write_text(spec.out_state, openmm.XmlSerializer.serialize(final))
    Path(dcd_path).replace(spec.out_dcd)
    (partial / "energies.csv").replace(spec.out_csv)
    shutil.rmtree(partial, ignore_errors=True)

    return {
        "steps": spec.steps,
        "resumed_from_step": resumed_from,
        "platform": context.getPlatform().getName(),
        "gpu": describe_device(context),
        "integrator_seed": seed,
        "integrator": integrator_summary(integrator),
        **({"stage": {k: getattr(spec, k) for k in STAGE_FIELDS}} if spec.seed_stream else {}),
        "wall_s": round(elapsed, 3),
        "ns_per_day": _ns_per_day(steps_done - steps_at_start, spec.timestep_fs, elapsed),
    }


def _ns_per_day(steps: int, timestep_fs: float, elapsed_s: float) -> float | None:
    return round(steps * timestep_fs * 1e-6 / elapsed_s * 86400, 3) if elapsed_s > 0 else None


def blown_up(spec, step: int, error: Exception) -> Exception:
    """One line for a simulation that blew up (OpenMM's 'Particle coordinate is NaN'): where, and the
    usual causes; the segment's last checkpoint is kept. Other OpenMM errors pass unchanged."""
    if "NaN" not in str(error):
        return error
    return MdflowError(f"{Path(spec.out_dcd).stem}: the simulation blew up (coordinates became NaN) by step "
                       f"{step} of {spec.steps}: atoms clashed or moved too far in one "
                       f"step; minimize longer (config key minimize_iterations), add a heating stage, lower "
                       f"timestep_fs, or check the structure (clashes, a modelled loop)")


def _write_frame(context, dcd, csv_handle, kb_dof, spec, step, periodic, groups=-1):
    state = context.getState(getPositions=True, getEnergy=True, enforcePeriodicBox=False, groups=groups)
    potential = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    kinetic = state.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole)
    box = state.getPeriodicBoxVectors()
    volume = (box[0][0] * box[1][1] * box[2][2]).value_in_unit(unit.nanometer**3) if periodic else 0.0
    dcd.writeModel(state.getPositions(), periodicBoxVectors=box)
    time_ps = (spec.segment * spec.steps + step) * spec.timestep_fs / 1000.0
    csv_handle.write(trajfiles.energy_row((
        spec.segment * spec.steps + step, time_ps, potential, kinetic, potential + kinetic,
        2 * kinetic / kb_dof, volume,
    )))
