"""A Cobalt (ALCF Theta) CLI emulator that really runs jobs by forwarding them to a real Slurm.

stdlib only, no mdflow imports: bin/qsub, bin/qstat and bin/qdel are thin entry points into this
module, and the Slurm batch wrapper of every job imports it again (run_job).

What is reproduced, and where it comes from (the Cobalt sources, ido/cobalt on GitHub, plus
transcripts from Theta):

* qsub: option set of the client_utils-era qsub; `#COBALT ` directive lines are read only from the
  lines directly after the `#!` line (the first other line stops the scan), and are put *before*
  the command-line options, so the command line wins. Theta's submit filter messages
  (`Job routed to queue "Q".`, `Memory mode set to flat quad for queue Q`, the filesystems
  WARNING and `Setting attrs to:  {...}`) go to stderr, because Cobalt prints a filter's stderr
  and parses its stdout as key=value; the numeric job id is the only stdout line.
  Queue restrictions are checked like cqm does and reported like the client does:
  `<Fault 1001: "The limit of 20 jobs per user in the 'default' queue has been reached\\n">`.
* cobaltlog: `Jobid: N`, `qsub ARGS`, `DATE submitted with cwd set to: DIR` at submission (qsub's
  logjob), then at start/end the cqm lines, each prefixed with the date:
  `DATE Info: task completed normally with an exit code of N; initiating job cleanup and removal`.
  A running job deleted with qdel gets `DATE Info: user delete requested with signal SIGTERM by
  user U` and nothing after it (cqm's Killing state writes no further cobaltlog line, so there is
  no exit code); a queued one gets `DATE Info: user delete requested; removing job from the queue`;
  a job killed at its walltime gets `DATE Info: maximum execution time exceeded; initiating job
  termination`.
* qstat: Cobalt.Util.print_tabular (left-justified columns, two spaces after every column, a row
  of '=' as wide as the columns), the default header JobID:User:WallTime:Nodes:State:Location, -f
  (full header, still a table), -l (vertical `Key : value` layout), --header A:B:..., -u USER,
  queue names as arguments, -Q. A job disappears as soon as it is done. When job ids are given and
  none of them is known any more, qstat prints nothing and exits 1 (as the real client does).
* qdel: `      Deleted Jobs` and a JobID/User table.

State lives in $COBALT_EMULATOR_STATE (default /tmp/cobalt-emulator-state), queues and limits in
the JSON file $COBALT_EMULATOR_CONFIG (see DEFAULT_CONFIG). $COBALT_EMULATOR_FAIL_FILE holding an
integer N > 0 makes the next N qsub/qstat calls fail like an unreachable queue manager.
"""

import fcntl
import json
import optparse
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

EMULATOR_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_STATE_DIR = "/tmp/cobalt-emulator-state"
QUEUE_ERROR_FAULT = 1001  # Cobalt.Exceptions.QueueError.fault_code (ReservationError takes 1000)

DEFAULT_CONFIG = {
    # Theta: default is the production queue (24 h max, 20 queued jobs per user); the two debug
    # queues take 1 h jobs and one job per user at a time. "partition" is the Slurm partition
    # jobs of a queue are forwarded to; walltimes above its MaxTime are clamped on the Slurm side
    # only (qstat still shows the Cobalt walltime).
    "queues": {
        "default": {"max_walltime_min": 1440, "max_queued": 20, "partition": "debug"},
        "debug-cache-quad": {"max_walltime_min": 60, "max_queued": 1, "partition": "debug",
                             "memory_mode": ["cache", "quad"]},
        "debug-flat-quad": {"max_walltime_min": 60, "max_queued": 1, "partition": "debug",
                            "memory_mode": ["flat", "quad"]},
    },
    "default_queue": "default",
    "first_jobid": 600001,
    "system_size": 4392,            # KNL nodes on Theta: -n beyond it is "out of realistic range"
    "cores_per_node": 64,           # COBALT_PARTCORES
    "cpus_per_node": 1,             # Slurm CPUs given to a job per requested node (capped below)
    "max_cpus_per_job": 4,
    "first_nid": 3835,
    "filesystems_attr": "home,grand,eagle,theta-fs0",
    "filesystems_warning": True,    # Theta warns when --attrs has no filesystems=...
    "routing_stream": "stderr",     # where the filter messages go: "stderr" (real) or "stdout"
    "export_submit_env": False,     # Cobalt passes PATH and --env, not the whole submit env
}

TERMINAL_SLURM = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                  "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT"}
DEFAULT_HEADER = ["JobID", "User", "WallTime", "Nodes", "State", "Location"]
FULL_HEADER = ["JobID", "JobName", "User", "WallTime", "QueuedTime", "RunTime", "TimeRemaining", "Nodes",
               "State", "Location", "Mode", "Procs", "Preemptable", "Queue", "StartTime", "Index"]
LONG_HEADER = ["JobID", "JobName", "User", "WallTime", "QueuedTime", "RunTime", "TimeRemaining", "Nodes",
               "State", "Location", "Mode", "Procs", "Preemptable", "User_Hold", "Admin_Hold", "Queue",
               "StartTime", "Index", "SubmitTime", "Path", "OutputDir", "ErrorPath", "OutputPath", "Envs",
               "Command", "Args", "Kernel", "KernelOptions", "Project", "Dependencies", "short_state",
               "Notify", "Score", "Maxtasktime", "attrs", "dep_frac", "user_list", "Geometry"]
QUEUE_HEADER = ["Name", "Users", "MinTime", "MaxTime", "MaxRunning", "MaxQueued", "MaxUserNodes",
                "MaxNodeHours", "TotalNodes", "State"]
SHORT_STATE = {"queued": "Q", "user_hold": "H", "admin_hold": "H", "dep_hold": "H", "dep_fail": "H",
               "starting": "R", "running": "R", "killing": "K", "exiting": "E"}


class EmulatorError(Exception):
    """The emulator's back end (Slurm, the state dir) failed: reported like an unreachable cqm."""


# ----------------------------------------------------------------------------------------- helpers

def load_config() -> dict:
    config = json.loads(json.dumps(DEFAULT_CONFIG))
    path = os.environ.get("COBALT_EMULATOR_CONFIG")
    if path:
        with open(path) as handle:
            user = json.load(handle)
        config.update(user)  # a "queues" entry replaces the whole queue set
    return config


def state_dir() -> str:
    path = os.environ.get("COBALT_EMULATOR_STATE") or DEFAULT_STATE_DIR
    os.makedirs(os.path.join(path, "jobs"), exist_ok=True)
    return path


def current_user() -> str:
    return pwd.getpwuid(os.getuid())[0]


def sec_to_str(seconds: float) -> str:
    """Cobalt.Util.sec_to_str: 'Thu Nov 05 17:29:30 2020 +0000 (UTC)'."""
    return time.strftime("%a %b %d %H:%M:%S %Y %z (%Z)", time.localtime(seconds))


def elapsed(start: float, end: float) -> str:
    minutes, seconds = divmod(max(0, int(end - start)), 60)
    hours, minutes = divmod(minutes, 60)
    return "%02d:%02d:%02d" % (hours, minutes, seconds)


def print_tabular(rows) -> str:
    """Cobalt.Util.print_tabular: every column left-justified and followed by two spaces."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    fmt = "".join("%%-%ds  " % w for w in widths)
    lines = [fmt % tuple(str(v) for v in rows[0]), (sum(widths) + 2 * len(widths)) * "="]
    lines += [fmt % tuple(str(v) for v in row) for row in rows[1:]]
    return "\n".join(lines) + "\n"


def print_vertical(rows) -> str:
    """Cobalt.Util.print_vertical: 'JobID: N' then '    Key    : value' lines, a blank line per job."""
    hmax = max(len(str(x)) for x in rows[0])
    out = []
    for row in rows[1:]:
        for index, value in enumerate(row):
            if index == 0:
                out.append("%s: %s" % (rows[0][index], value))
            else:
                out.append(("    %%-%ds: %%s" % (hmax + 1)) % (rows[0][index], value))
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def human_format(value: float) -> str:
    units = ["  ", " K", " M", " G", " T", " P"]
    count = 0
    while value >= 1000.0 and count < len(units) - 1:
        value /= 1000.0
        count += 1
    return "%5.1f%s" % (max(value, 0.1), units[count])


def parse_time(text: str) -> int:
    """Cobalt.Util.get_time: minutes, or HH:MM:SS / HH:MM; ValueError otherwise."""
    text = str(text).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    match = re.fullmatch(r"(\d+):(\d{1,2})(?::(\d{1,2}))?", text)
    if not match:
        raise ValueError(text)
    hours, minutes, seconds = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    return hours * 60 + minutes + (1 if seconds else 0)


def format_walltime(minutes: int) -> str:
    return "%02d:%02d:00" % divmod(int(minutes), 60)


@contextmanager
def state_lock(path: str):
    with open(os.path.join(path, "lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_path(path: str, jobid) -> str:
    return os.path.join(path, "jobs", "%s.json" % jobid)


def load_record(path: str, jobid):
    try:
        with open(record_path(path, jobid)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def save_record(path: str, record: dict) -> None:
    target = record_path(path, record["jobid"])
    tmp = target + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    os.replace(tmp, target)


def all_records(path: str) -> list:
    records = []
    for name in os.listdir(os.path.join(path, "jobs")):
        if name.endswith(".json"):
            record = load_record(path, name[:-5])
            if record:
                records.append(record)
    return sorted(records, key=lambda r: int(r["jobid"]))


def append_cobaltlog(record: dict, message: str, stamp: bool = True) -> None:
    line = ("%s %s" % (sec_to_str(time.time()), message)) if stamp else message
    with open(record["cobaltlog"], "a") as handle:
        handle.write(line + "\n")


def injected_fault() -> bool:
    """Consume one unit of $COBALT_EMULATOR_FAIL_FILE; True when this call must fail."""
    path = os.environ.get("COBALT_EMULATOR_FAIL_FILE")
    if not path or not os.path.exists(path):
        return False
    with open(path, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            text = handle.read().strip()
            count = int(text) if re.fullmatch(r"-?\d+", text) else 0
            if count <= 0:
                return False
            handle.seek(0)
            handle.truncate()
            handle.write("%d\n" % (count - 1))
            return True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def connection_failure() -> int:
    # client_utils.component_call: logger.error('component error: Failed to connect to %s\n', ...)
    sys.stderr.write("component error: Failed to connect to queue-manager\n\n")
    return 1


# ------------------------------------------------------------------------------------ Slurm side

def run_cmd(argv, timeout=30):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmulatorError("%s: %s" % (argv[0], exc))


def slurm_states(records: list) -> dict:
    """{slurm id: (state, reason)} for the jobs Slurm still knows, from ONE squeue call."""
    if not records:
        return {}
    answer = run_cmd(["squeue", "--noheader", "--states=all", "--format=%i|%T|%r"])
    if answer.returncode != 0:
        raise EmulatorError("squeue exited %d: %s" % (answer.returncode, answer.stderr.strip()))
    states = {}
    for line in answer.stdout.splitlines():
        parts = line.strip().split("|", 2)
        if len(parts) == 3:
            states[parts[0]] = (parts[1].split()[0], parts[2])
    return states


def cobalt_state(record: dict, slurm: dict):
    """The Cobalt state of a job, or None once it is done (gone from qstat)."""
    info = slurm.get(str(record.get("slurm_id")))
    if info is None:
        return None
    state, reason = info
    if state in TERMINAL_SLURM:
        return None
    if record.get("deleted"):
        return None if state == "PENDING" else "killing"
    if state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"):
        if "DependencyNeverSatisfied" in reason:
            return "dep_fail"
        if "Dependency" in reason:
            return "dep_hold"
        if "JobHeldUser" in reason:
            return "user_hold"
        if "JobHeldAdmin" in reason:
            return "admin_hold"
        return "queued"
    if state == "CONFIGURING":
        return "starting"
    if state == "COMPLETING" or "exit_status" in record:
        return "exiting"
    if "starttime" not in record:
        return "starting"
    return "running"


def partition_max_minutes(partition: str):
    answer = run_cmd(["scontrol", "-o", "show", "partition", partition])
    match = re.search(r"\bMaxTime=(\S+)", answer.stdout)
    if answer.returncode != 0 or not match or match.group(1) == "UNLIMITED":
        return None
    text = match.group(1)
    days = 0
    if "-" in text:
        day_text, text = text.split("-", 1)
        days = int(day_text)
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return days * 1440 + parts[0] * 60 + parts[1] + (1 if parts[2] else 0)


def location_for(record: dict, config: dict) -> str:
    first = int(config.get("first_nid", 3835)) + (int(record["jobid"]) * 7) % 400
    nodes = int(record["nodes"])
    return str(first) if nodes == 1 else "%d-%d" % (first, first + nodes - 1)


# ------------------------------------------------------------------------------------------- qsub

def qsub_parser() -> optparse.OptionParser:
    parser = _Parser(usage="usage: qsub [options] <executable> [<excutable options>]", add_help_option=False)
    parser.disable_interspersed_args()
    add = parser.add_option
    add("-d", "--debug", action="store_true", dest="debug")
    add("-v", "--verbose", action="store_true", dest="verbose")
    add("-h", "--held", action="store_true", dest="user_hold")
    add("--preemptable", action="store_true", dest="preemptable")
    add("--run_project", action="store_true", dest="run_project")
    add("--disable_preboot", action="store_false", dest="script_preboot")
    add("-I", "--interactive", action="store_true", dest="interactive")
    add("-n", "--nodecount", type="int", dest="nodes")
    add("--proccount", type="int", dest="procs")
    add("-A", "--project", dest="project")
    add("--cwd", dest="cwd")
    add("-q", "--queue", dest="queue")
    add("-M", "--notify", dest="notify")
    add("--env", dest="envs", action="append")
    add("-t", "--time", dest="walltime")
    add("-u", "--umask", dest="umask")
    add("-O", "--outputprefix", dest="outputprefix")
    add("-e", "--error", dest="errorpath")
    add("-o", "--output", dest="outputpath")
    add("-i", "--inputfile", dest="inputfile")
    add("--debuglog", dest="cobalt_log_file")
    add("--dependencies", dest="all_dependencies")
    add("--attrs", dest="attrs", action="append")
    add("--user_list", "--run_users", dest="user_list")
    add("--jobname", dest="jobname")
    add("--kernel", dest="kernel")
    add("-K", "--kerneloptions", dest="kerneloptions")
    add("--mode", dest="mode")
    add("--geometry", dest="geometry")
    return parser


class UsageExit(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class _Parser(optparse.OptionParser):
    def error(self, msg):
        raise UsageExit("%s\n%s" % (self.get_usage().strip(), msg), 2)


def parse_qsub(argv):
    return qsub_parser().parse_args(list(argv))


def cobalt_directives(path: str) -> list:
    """qsub's validate_args: '#COBALT ' lines directly after the '#!' line, split on whitespace."""
    tag = "#COBALT "
    words = []
    with open(path, errors="replace") as handle:
        line = handle.readline()
        if line[:2] != "#!":
            return words
        line = handle.readline()
        while len(line) > len(tag) and line[:len(tag)] == tag:
            words += line[len(tag):].split()
            line = handle.readline()
    return words


def parse_envs(values) -> dict:
    envs = {}
    for value in values or []:
        value = value.replace("\\:", "<<*COL*>>").replace("\\=", "<<*EQL*>>")
        for item in re.split(r":(?=\w+\b=)", value):
            pair = item.split("=", 1)
            if len(pair) != 2:
                raise UsageExit("Improperly formatted argument to env : %r" % pair)
            envs[pair[0]] = pair[1].replace("<<*COL*>>", ":").replace("<<*EQL*>>", "=")
    return envs


def parse_attrs(values) -> dict:
    if values and len(values) > 1:
        raise UsageExit("Multiple --attrs options not supported.  Specify multiple attributes as follows: "
                        "--attrs FOO=1:BAR=2")
    attrs = {}
    for attr in (values[0].split(":") if values else []):
        pieces = attr.split("=")
        if len(pieces) == 2:
            attrs[pieces[0]] = pieces[1]
        elif len(pieces) == 1:
            if attr[:3] == "no_":
                attrs[attr[3:]] = "false"
            else:
                attrs[attr] = "true"
        else:
            raise UsageExit("Improperly formatted argument to attrs : %s" % attr)
    return attrs


def qsub_main(argv) -> int:
    try:
        return _qsub(list(argv))
    except UsageExit as exc:
        sys.stderr.write(str(exc) + "\n")
        return exc.code
    except EmulatorError as exc:
        sys.stderr.write("component error: Following exception occured while trying to execute "
                         "queue-manager.add_jobs: %s\n\n" % exc)
        return 1


def _qsub(argv) -> int:
    config = load_config()
    if injected_fault():
        return connection_failure()
    user = current_user()
    opts, args = parse_qsub(argv)
    if opts.interactive:
        raise UsageExit("interactive jobs (-I) are not supported by the Cobalt emulator")
    if not args:
        raise UsageExit("%s\nNo executable or script specified" % qsub_parser().get_usage().strip())
    submit_cwd = opts.cwd or os.getcwd()
    command = args[0].replace(" ", "")
    if command[0] != "/":
        command = submit_cwd + "/" + command
    if not os.path.isfile(command):
        raise UsageExit("command %s not found, or is not a file" % command)
    if not os.access(command, os.X_OK | os.R_OK):
        raise UsageExit("command %s is not executable" % command)
    words = cobalt_directives(command)
    full_argv = (["--mode", "script"] + words + argv) if words else argv
    if words:
        opts, args = parse_qsub(full_argv)

    if opts.walltime is None:
        raise UsageExit("'time' not provided")
    if opts.nodes is None:
        raise UsageExit("'nodecount' not provided")
    if not 0 < opts.nodes <= int(config["system_size"]):
        raise UsageExit("node count out of realistic range")
    try:
        walltime = parse_time(opts.walltime)
    except ValueError:
        raise UsageExit("invalid time specification: %s" % opts.walltime)
    cwd = opts.cwd or os.getcwd()
    if not os.path.isdir(cwd):
        raise UsageExit("dir '%s' is not a directory" % cwd)
    envs = parse_envs(opts.envs)
    attrs = parse_attrs(opts.attrs)

    def in_cwd(value):
        path = value if value.startswith("/") else cwd + "/" + value
        if not os.path.isdir(os.path.dirname(path)):
            raise UsageExit("directory %s does not exist" % path)
        return path

    prefix = in_cwd(opts.outputprefix) if opts.outputprefix else None
    queue = opts.queue or config.get("default_queue", "default")
    queues = config["queues"]

    # Theta's submit filter: routing and memory-mode messages, filesystems attribute.
    notes = ['Job routed to queue "%s".' % queue]
    qconf = queues.get(queue, {})
    mode = qconf.get("memory_mode")
    if mode:
        attrs.setdefault("numa", mode[1])
        attrs.setdefault("mcdram", mode[0])
    if "mcdram" in attrs or "numa" in attrs:
        notes.append("Memory mode set to %s %s for queue %s" % (attrs.get("mcdram", "cache"),
                                                                 attrs.get("numa", "quad"), queue))
    if config.get("filesystems_warning") and "filesystems" not in attrs:
        attrs["filesystems"] = config.get("filesystems_attr", "home")
        notes += ["WARNING: Filesystem attribute not set for this job submission.",
                  "This job will be set to request all filesystems.  In the event",
                  "of a filesystem outage, this job may be put on hold unnecessarily.",
                  "Setting attrs to:  %s" % (attrs,)]
    stream = sys.stdout if config.get("routing_stream") == "stdout" else sys.stderr
    stream.write("\n".join(notes) + "\n")
    stream.flush()

    sdir = state_dir()
    with state_lock(sdir):
        records = all_records(sdir)
        slurm = slurm_states(records)
        if queue not in queues:
            return queue_fault("Queue '%s' does not exist" % queue)
        if walltime == 0:
            walltime = int(qconf.get("max_walltime_min") or 60)
        problems = []
        maxtime = qconf.get("max_walltime_min")
        if maxtime is not None and walltime > int(maxtime):
            problems.append("Walltime greater than the '%s' queue max walltime of %s" % (queue, format_walltime(maxtime)))
        mintime = qconf.get("min_walltime_min")
        if mintime is not None and walltime < int(mintime):
            problems.append("Walltime less than the '%s' queue min walltime of %s" % (queue, format_walltime(mintime)))
        maxqueued = qconf.get("max_queued")
        if maxqueued is not None:
            mine = [r for r in records if r["user"] == user and r["queue"] == queue and cobalt_state(r, slurm)]
            if len(mine) >= int(maxqueued):
                problems.append("The limit of %s jobs per user in the '%s' queue has been reached" % (maxqueued, queue))
        maxnodehours = qconf.get("max_node_hours")  # cqm Restriction maxnodehours: queued + running + this job
        if maxnodehours is not None:
            mine = [r for r in records if r["user"] == user and r["queue"] == queue and cobalt_state(r, slurm)]
            used = sum(int(r["nodes"]) * int(r["walltime"]) for r in mine) + int(opts.nodes) * int(walltime)
            if used > float(maxnodehours) * 60:
                problems.append("The limit of %s node hours per user in the '%s' queue has been reached" % (maxnodehours, queue))
        if problems:
            return queue_fault("".join(p + "\n" for p in problems))

        jobid = next_jobid(sdir, config)
        outputpath = in_cwd(opts.outputpath) if opts.outputpath else (prefix + ".output" if prefix else "%s/%s.output" % (cwd, jobid))
        errorpath = in_cwd(opts.errorpath) if opts.errorpath else (prefix + ".error" if prefix else "%s/%s.error" % (cwd, jobid))
        cobaltlog = in_cwd(opts.cobalt_log_file) if opts.cobalt_log_file else (prefix + ".cobaltlog" if prefix else "%s/%s.cobaltlog" % (cwd, jobid))
        outputpath, errorpath, cobaltlog = (p.replace("$jobid", str(jobid)) for p in (outputpath, errorpath, cobaltlog))
        jobname = opts.jobname
        if not jobname:  # cqm: a job without --jobname is named after its output file
            base = os.path.basename(outputpath).split(".output")[0]
            jobname = base if base and base != str(jobid) else None
        dependencies = [d for d in (opts.all_dependencies or "").split(":") if d and d.lower() != "none"]
        record = {
            "jobid": jobid, "user": user, "queue": queue, "nodes": opts.nodes, "procs": opts.procs or opts.nodes,
            "walltime": walltime, "jobname": jobname or "N/A", "project": opts.project, "cwd": cwd,
            "command": command, "args": args[1:], "outputpath": outputpath, "errorpath": errorpath,
            "cobaltlog": cobaltlog, "attrs": attrs, "envs": envs, "mode": opts.mode or "script",
            "submittime": time.time(), "path": os.environ.get("PATH", "/usr/bin:/bin"), "notify": opts.notify,
            "dependencies": dependencies, "user_hold": bool(opts.user_hold), "inputfile":
                in_cwd(opts.inputfile) if opts.inputfile else None, "umask": opts.umask,
        }
        if config.get("export_submit_env"):
            record["submit_env"] = dict(os.environ)
        try:
            with open(cobaltlog, "a") as handle:
                handle.write("Jobid: %s\n" % jobid)
                handle.write("qsub %s\n" % " ".join(full_argv))
                handle.write("%s submitted with cwd set to: %s\n" % (sec_to_str(time.time()), cwd))
        except OSError as exc:
            sys.stderr.write("WARNING: failed to create cobalt log file at: %s: %s\n" % (cobaltlog, exc))
        record["slurm_id"] = sbatch(sdir, config, record, records)
        save_record(sdir, record)
    sys.stdout.write("%s\n" % jobid)
    return 0


def queue_fault(message: str) -> int:
    sys.stderr.write("<Fault %d: %r>\n" % (QUEUE_ERROR_FAULT, message))
    return 1


def next_jobid(sdir: str, config: dict) -> int:
    path = os.path.join(sdir, "next_jobid")
    try:
        with open(path) as handle:
            jobid = int(handle.read().strip())
    except (FileNotFoundError, ValueError):
        jobid = int(config.get("first_jobid", 600001))
    with open(path + ".tmp", "w") as handle:
        handle.write("%d\n" % (jobid + 1))
    os.replace(path + ".tmp", path)
    return jobid


def sbatch(sdir: str, config: dict, record: dict, records: list) -> str:
    jobid = record["jobid"]
    qconf = config["queues"][record["queue"]]
    partition = qconf.get("partition", "debug")
    minutes = int(record["walltime"])
    limit = partition_max_minutes(partition)
    if limit is not None:
        minutes = min(minutes, limit)
    cpus = max(1, min(int(record["nodes"]) * int(config.get("cpus_per_node", 1)),
                      int(config.get("max_cpus_per_job", 4))))
    wrapper = os.path.join(sdir, "jobs", "%s.wrapper" % jobid)
    with open(wrapper, "w") as handle:
        handle.write("#!%s\n# Cobalt emulator: job %s\nimport sys\nsys.path.insert(0, %r)\nimport cobalt_emulator\n"
                     "sys.exit(cobalt_emulator.run_job(%r, %r))\n"
                     % (sys.executable, jobid, EMULATOR_DIR, sdir, str(jobid)))
    os.chmod(wrapper, 0o755)
    argv = ["sbatch", "--parsable", "--job-name=cobalt.%s" % jobid, "--partition=%s" % partition,
            "--time=%d" % max(1, minutes), "--nodes=1", "--ntasks=1", "--cpus-per-task=%d" % cpus,
            "--chdir=%s" % record["cwd"], "--output=%s" % os.path.join(sdir, "jobs", "%s.slurm.out" % jobid),
            "--export=ALL"]
    if record["user_hold"]:
        argv.append("--hold")
    by_id = {str(r["jobid"]): r for r in records}
    deps = [str(by_id[d]["slurm_id"]) for d in record["dependencies"] if d in by_id]
    if deps:
        argv.append("--dependency=afterok:%s" % ":".join(deps))
    answer = run_cmd(argv + [wrapper])
    match = re.search(r"^(\d+)(?:;\S+)?\s*$", answer.stdout.strip().splitlines()[-1] if answer.stdout.strip() else "")
    if answer.returncode != 0 or not match:
        raise EmulatorError("sbatch exited %d: %s" % (answer.returncode, answer.stderr.strip()[:300]))
    return match.group(1)


# ---------------------------------------------------------------------------- the job, under Slurm

def job_env(record: dict, config: dict, location: str, start: float) -> dict:
    if record.get("submit_env"):
        env = dict(record["submit_env"])
    else:
        info = pwd.getpwnam(record["user"]) if record["user"] else None
        env = {"PATH": record.get("path") or "/usr/bin:/bin", "USER": record["user"], "LOGNAME": record["user"],
               "HOME": info.pw_dir if info else "/", "SHELL": info.pw_shell if info else "/bin/bash",
               "LANG": os.environ.get("LANG", "C.UTF-8")}
        for name in ("TMPDIR", "TZ"):
            if name in os.environ:
                env[name] = os.environ[name]
    env.update({
        "COBALT_JOBID": str(record["jobid"]), "COBALT_QUEUE": record["queue"],
        "COBALT_PARTNAME": location, "COBALT_BLOCKNAME": location,
        "COBALT_PARTSIZE": str(record["nodes"]), "COBALT_BLOCKSIZE": str(record["nodes"]),
        "COBALT_JOBSIZE": str(record["procs"]), "COBALT_PARTCORES": str(config.get("cores_per_node", 64)),
        "COBALT_STARTTIME": str(int(start)), "COBALT_ENDTIME": str(int(start + 60 * int(record["walltime"]))),
    })
    if record.get("project"):
        env["COBALT_PROJECT"] = record["project"]
    env.update(record.get("envs") or {})
    return env


def run_job(sdir: str, jobid: str) -> int:
    """Body of the Slurm batch job: run the user's script the way Cobalt's forker does."""
    config = load_config()
    start = time.time()
    with state_lock(sdir):
        record = load_record(sdir, jobid)
        if record is None or record.get("deleted"):
            return 143
        location = location_for(record, config)
        record["starttime"] = start
        record["location"] = location
        save_record(sdir, record)
    env = job_env(record, config, location, start)
    append_cobaltlog(record, "INFO: Starting Resource_Prologue")
    append_cobaltlog(record, "Command: %s" % " ".join([record["command"]] + list(record["args"])))
    with open(record["cobaltlog"], "a") as handle:
        for key in sorted(env):
            handle.write("%s=%s\n" % (key, env[key]))
        handle.write("Info: stdin received from %s\n" % (record.get("inputfile") or "/dev/null"))
        handle.write("Info: stdout sent to %s\n" % record["outputpath"])
        handle.write("Info: stderr sent to %s\n" % record["errorpath"])

    signalled = []
    child = None

    def on_signal(signum, _frame):
        signalled.append(signum)
        current = load_record(sdir, jobid) or {}
        if not current.get("deleted") and len(signalled) == 1:
            append_cobaltlog(record, "Info: maximum execution time exceeded; initiating job termination")
        if child is not None:
            try:
                os.killpg(child.pid, signum)
            except OSError:
                pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    if record.get("umask"):
        try:
            os.umask(int(record["umask"], 8))
        except ValueError:
            pass
    stdin = open(record["inputfile"]) if record.get("inputfile") else subprocess.DEVNULL
    with open(record["outputpath"], "w") as out, open(record["errorpath"], "w") as err:
        try:
            child = subprocess.Popen([record["command"]] + list(record["args"]), cwd=record["cwd"], env=env,
                                     stdin=stdin, stdout=out, stderr=err, start_new_session=True)
        except OSError as exc:
            err.write("%s: %s\n" % (record["command"], exc))
            code = 126
        else:
            code = child.wait()
            code = code if code >= 0 else 128 - code
    end = time.time()
    with state_lock(sdir):
        current = load_record(sdir, jobid) or record
        current["exit_status"] = code
        current["endtime"] = end
        save_record(sdir, current)
    if not current.get("deleted") and not signalled:
        append_cobaltlog(record, "Info: task completed normally with an exit code of %d; "
                                 "initiating job cleanup and removal" % code)
    return code


# ------------------------------------------------------------------------------------------ qstat

def job_values(record: dict, state: str, config: dict, now: float) -> dict:
    start = record.get("starttime")
    walltime = int(record["walltime"])
    if start:
        remaining = walltime * 60 - (now - start)
        timeremaining = "00:00:00" if remaining < 0 else elapsed(0, remaining)
    return {
        "jobid": str(record["jobid"]), "jobname": record.get("jobname") or "N/A", "user": record["user"],
        "walltime": format_walltime(walltime),
        "queuedtime": elapsed(record["submittime"], start or now),
        "runtime": elapsed(start, now) if start else "N/A",
        "timeremaining": timeremaining if start else "N/A",
        "nodes": str(record["nodes"]), "state": state,
        "location": record.get("location") if start else "None",
        "mode": record.get("mode") or "script", "procs": str(record.get("procs") or record["nodes"]),
        "preemptable": "False", "user_hold": str(state == "user_hold"), "admin_hold": str(state == "admin_hold"),
        "queue": record["queue"], "starttime": sec_to_str(start) if start else "N/A", "index": "None",
        "submittime": sec_to_str(record["submittime"]), "path": record.get("path"),
        "outputdir": record["cwd"], "errorpath": record["errorpath"], "outputpath": record["outputpath"],
        "envs": " ".join("%s=%s" % kv for kv in (record.get("envs") or {}).items()),
        "command": record["command"], "args": " ".join(record.get("args") or []), "kernel": "default",
        "kerneloptions": "None", "project": str(record.get("project")),
        "dependencies": str(record.get("dependencies") or []), "short_state": SHORT_STATE.get(state, "Q"),
        "notify": str(record.get("notify")), "score": human_format(0.0), "maxtasktime": "None",
        "attrs": str(record.get("attrs") or {}), "dep_frac": "None", "user_list": record["user"],
        "geometry": "Any",
    }


def qstat_main(argv) -> int:
    parser = _Parser(usage="usage: qstat [options] <jobids1> ... <jobidsN>", add_help_option=False)
    parser.add_option("-d", "--debug", action="store_true")
    parser.add_option("-f", "--full", action="store_true")
    parser.add_option("-l", "--long", action="store_true")
    parser.add_option("-Q", dest="Q", action="store_true")
    parser.add_option("--reverse", action="store_true")
    parser.add_option("--header")
    parser.add_option("--sort")
    parser.add_option("-u", "--user")
    try:
        opts, args = parser.parse_args(list(argv))
    except UsageExit as exc:
        sys.stderr.write(str(exc) + "\n")
        return exc.code
    if injected_fault():
        return connection_failure()
    config = load_config()
    try:
        sdir = state_dir()
        if opts.Q:
            return print_queues(config, args)
        header = choose_header(opts)
        queue_names = set(config["queues"])
        jobids, queues = set(), set()
        for name in args:
            if name in queue_names:
                queues.add(name)
            elif re.fullmatch(r"\d+", name):
                jobids.add(int(name))
            else:
                sys.stderr.write("%s is not a valid jobid or queue name\n" % name)
                return 1
        records = all_records(sdir)
        if args:
            records = [r for r in records if int(r["jobid"]) in jobids or r["queue"] in queues]
        if opts.user:
            records = [r for r in records if r["user"] == opts.user]
        slurm = slurm_states(records)
    except EmulatorError:
        return connection_failure()
    now = time.time()
    rows = []
    for record in records:
        state = cobalt_state(record, slurm)
        if state is not None:
            values = job_values(record, state, config, now)
            rows.append([values.get(h.lower(), "-") for h in header])
    if args and not rows:
        return 1
    if rows and "jobid" in [h.lower() for h in header]:  # qstat: jobidfmt = "%<longest>s"
        at = [h.lower() for h in header].index("jobid")
        width = max(len(row[at]) for row in rows)
        for row in rows:
            row[at] = row[at].rjust(width)
    lower = [h.lower() for h in header]
    keys = [k.lower() for k in (opts.sort.split(":") if opts.sort else ["score"]) if k.lower() in lower]
    index = [lower.index(k) for k in keys] or [0]

    def sort_key(row):
        out = []
        for i in index:
            try:
                out.append((0, float(row[i]), ""))
            except ValueError:
                out.append((1, 0.0, row[i]))
        return out + [(0, float(row[0]) if row[0].strip().isdigit() else 0.0, "")]

    rows.sort(key=sort_key, reverse=bool(opts.reverse))
    shown = ["S" if h.lower() == "short_state" else h for h in header]
    text = print_vertical([shown] + rows) if opts.long else print_tabular([shown] + rows)
    sys.stdout.write(text)
    return 0


def choose_header(opts) -> list:
    custom = opts.header.split(":") if opts.header else None
    if custom is None:
        env = os.environ.get("CQSTAT_HEADER") or os.environ.get("QSTAT_HEADER")
        custom = env.split(":") if env else None
    if opts.full and opts.long:
        return list(LONG_HEADER)
    if opts.full:
        env = os.environ.get("CQSTAT_HEADER_FULL") or os.environ.get("QSTAT_HEADER_FULL")
        return env.split(":") if env else list(FULL_HEADER)
    return custom or list(DEFAULT_HEADER)


def print_queues(config: dict, names) -> int:
    rows = [QUEUE_HEADER]
    for name, q in sorted(config["queues"].items()):
        if names and name not in names:
            continue
        maxtime = q.get("max_walltime_min")
        mintime = q.get("min_walltime_min")
        rows.append([name, "*", format_walltime(mintime) if mintime else "None",
                     format_walltime(maxtime) if maxtime else "None", "None", str(q.get("max_queued")),
                     "None", "None", "None", "running"])
    if names and len(rows) == 1:
        return 1
    sys.stdout.write(print_tabular(rows))
    return 0


# ------------------------------------------------------------------------------------------- qdel

def qdel_main(argv) -> int:
    args = [a for a in argv if a not in ("-d", "--debug")]
    if not args:
        sys.stderr.write("Usage: qdel [options] <jobid1> [ ... <jobidN>]\nNo Jobid(s) given\n\n")
        return 1
    jobids = []
    for arg in args:
        if arg == "*":
            continue
        if not re.fullmatch(r"\d+", arg):
            sys.stderr.write("jobid must be an integer: %s\n" % arg)
            return 1
        jobids.append(arg)
    user = current_user()
    sdir = state_dir()
    deleted = []
    try:
        with state_lock(sdir):
            records = [load_record(sdir, j) for j in dict.fromkeys(jobids)]
            records = [r for r in records if r and r["user"] == user]
            slurm = slurm_states(records)
            for record in records:
                state = cobalt_state(record, slurm)
                if state is None:
                    continue
                deleted.append(record)
                if state == "exiting":
                    append_cobaltlog(record, "Info: job is in the process of exiting; user delete request ignored")
                    continue
                if state == "killing":
                    append_cobaltlog(record, "Info: user delete request already pending with signal SIGTERM; "
                                             "ignoring user delete request")
                    continue
                record["deleted"] = True
                record["deleted_by"] = user
                save_record(sdir, record)
                if state in ("queued", "user_hold", "admin_hold", "dep_hold", "dep_fail"):
                    append_cobaltlog(record, "Info: user delete requested; removing job from the queue")
                else:
                    append_cobaltlog(record, "Info: user delete requested with signal SIGTERM by user %s" % user)
                run_cmd(["scancel", str(record["slurm_id"])])
    except EmulatorError:
        return connection_failure()
    if deleted:
        sys.stdout.write("      Deleted Jobs\n")
        sys.stdout.write(print_tabular([("JobID", "User")] + [(r["jobid"], r["user"]) for r in deleted]))
    return 0
