"""A PBS Pro (2022.1) command-line emulator that really runs jobs, by forwarding them to a real Slurm.

`bin/qsub`, `bin/qstat`, `bin/qdel` and `bin/qselect` are thin entry points into this module. They
reproduce what mdflow's PBS adapter depends on, as OpenPBS prints it (src/cmds/qstat.c, qsub.c,
qdel.c, src/lib/Libcmds/pbs_json.c, src/include/pbs_error.h):

* `qsub` prints the full job id `<seq>.<server suffix>`; `#PBS` directives before the first command
  line, command-line options win; server-side refusals print the real texts with the real exit
  statuses (PBS error number modulo 256): `Unknown queue` 170, `Job violates queue and/or server
  resource limits` 188, `would exceed queue generic's per-user limit[ of jobs in 'Q' state]` 38.
* `qstat -x -f -F json ID...` prints PBS's own JSON layout (4-space indent, `"key":value`, values
  that `strtod` fully parses printed bare, embedded quotes escaped but backslashes not): a header
  (`timestamp`, `pbs_version`, `pbs_server`) and a `Jobs` object only when at least one job is shown.
  Unknown ids: `qstat: Unknown Job Id ID`, exit 153. A finished job without `-x`: `qstat: ID Job has
  finished, use -x or -H to obtain historical job information`, exit 35. Without `-F json` the
  `-f` output wraps long values onto tab-indented continuation lines, as prt_attr() does.
* `qstat` (table, ids cut at the second dot and truncated to 17 characters with `*`) and
  `qstat -u USER [QUEUE]` (the alternate layout).
* `qdel ID...` runs scancel; unknown ids `qdel: Unknown Job Id ID` (153), finished ones
  `qdel: Job has finished ID` (35).

Job state comes from `scontrol -o show job SLURMID`. Exit_status: the script's exit code; Slurm
TIMEOUT -29 (JOB_EXEC_KILL_WALLTIME); CANCELLED after the job ran 271 (256 + SIGTERM, what qdel
gives); cancelled before it ran: no Exit_status; other failures the code, or 256 + signal.

Environment:
  PBS_EMULATOR_CONFIG     JSON file: {"queues": {NAME: {...}}, "default_queue": ..., ...} (see DEFAULTS)
  PBS_EMULATOR_STATE      state directory (default /tmp/pbs-emulator-state): job records, script copies
  PBS_EMULATOR_FAIL_FILE  file holding an integer N: the next N qsub/qstat/qselect calls fail the
                          way PBS does when the server cannot be reached, and N is decremented.

Deviations from PBS, on purpose: output and error files are written while the job runs (as with
`-k doe`), not staged back at the end; the job starts in the directory qsub ran in (PBS starts it
in $HOME; set "job_start_dir": "home" in the config for that); a request larger than the Slurm
node is shrunk to fit it (the PBS view keeps the request as given); no arrays, no interactive jobs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid

PBS_VERSION = "2022.1.1"

DEFAULTS = {
    "server": "pbs-emu",                     # PBS_SERVER: pbs_server in JSON, names in messages
    "id_suffix": "pbs-emu.mdflow.test",      # job ids are <slurm id>.<id_suffix>
    "default_queue": "debug",
    "default_slurm_partition": "debug",      # where a queue without "slurm_partition" goes
    "job_start_dir": "submit",               # "submit" (qsub's cwd) or "home" (what PBS does)
    "job_history_enable": True,              # False: OpenPBS's default; finished jobs are purged at once
                                             # and `qstat -x` is refused (req_stat.c, qstat.c)
    "queues": {
        # Per queue: max_walltime_min, default_walltime_min, min_nodes, max_nodes,
        # max_queued (per user, queued + running: max_queued = [u:PBS_GENERIC=N]),
        # queued_jobs_threshold (per user, jobs not yet running), enabled, slurm_partition,
        # drop_after_qsub (qsub prints the id, then the job is gone: ALCF's routing can reject a
        # job after qsub answered).
        "debug": {"max_walltime_min": 60, "max_queued": 100},
        "prod": {"max_walltime_min": 1440},
        "preemptable": {"max_walltime_min": 4320},
    },
}

# PBS error numbers (src/include/pbs_error.h); commands exit with the number modulo 256.
PBSE_UNKJOBID = 15001
PBSE_SYSTEM = 15010
PBSE_UNKQUE = 15018
PBSE_QUNOENB = 15021
PBSE_EXCQRESC = 15036
PBSE_HISTJOBID = 15139
PBSE_ENTLIMCT = 15142

JOB_EXEC_KILL_WALLTIME = -29
JOB_EXEC_KILL_MEM = -27
SIGTERM = 15

FINISHED_STATES = ("F", "M", "X")
ACTIVE_STATES = ("Q", "H", "W", "T", "R", "E", "B", "S", "U")
NOT_RUNNING_STATES = ("Q", "H", "W", "T")

QSUB_USAGE = """usage: qsub [-a date_time] [-A account_string] [-c interval]
\t[-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j oe|eo] [-J X-Y[:Z]]
\t[-k keep] [-l resource_list] [-m mail_options] [-M user_list]
\t[-N jobname] [-o path] [-p priority] [-P project] [-q queue] [-r y|n]
\t[-R o|e|oe] [-S path] [-u user_list] [-W otherattributes=value...]
\t[-v variable_list] [-V ] [-z] [script | -- command [arg1 ...]]
       qsub --version
"""

QSTAT_USAGE = """usage: 
qstat [-f] [-J] [-p] [-t] [-x] [-E] [-F format | -w] [-D delim] [ job_identifier... | destination... ]
qstat [-a|-i|-r|-H|-T] [-J] [-t] [-u user] [-n] [-s] [-G|-M] [-1] [-w]
\t[ job_identifier... | destination... ]
qstat -Q [-f] [-F format] [-D delim] [ destination... ]
qstat -q [-G|-M] [ destination... ]
qstat -B [-f] [-F format] [-D delim] [ server_name... ]
qstat --version
"""

QDEL_USAGE = "usage:\n\tqdel [-W force|suppress_email=X] [-x] job_identifier...\n\tqdel --version\n"


class PbsError(Exception):
    """A refusal the way the PBS command prints it: the text (without the 'cmd: ' prefix) and the
    PBS error number."""

    def __init__(self, text: str, code: int):
        super().__init__(text)
        self.text = text
        self.code = code


class ServerDown(Exception):
    """Slurm (the emulated server) could not be reached."""


# --------------------------------------------------------------------------------------------
# configuration, state directory, fault injection


def load_config() -> dict:
    config = json.loads(json.dumps(DEFAULTS))
    path = os.environ.get("PBS_EMULATOR_CONFIG")
    if path:
        with open(path) as handle:
            config.update(json.load(handle))
    return config


class State:
    """Job records as one JSON file each (jobs/<seq>.json), replaced atomically; `lock()` serializes
    read-modify-write and qsub's count-then-submit across concurrent commands."""

    def __init__(self, root: str | None = None):
        self.root = root or os.environ.get("PBS_EMULATOR_STATE") or "/tmp/pbs-emulator-state"
        for sub in ("jobs", "scripts", "aux", "exit", "undelivered"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)

    @contextlib.contextmanager
    def lock(self):
        with open(os.path.join(self.root, "lock"), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def path(self, seq: str) -> str:
        return os.path.join(self.root, "jobs", f"{seq}.json")

    def load(self, seq: str) -> dict | None:
        try:
            with open(self.path(seq)) as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None

    def save(self, record: dict) -> None:
        target = self.path(record["seq"])
        temporary = f"{target}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        with open(temporary, "w") as handle:
            json.dump(record, handle, indent=1)
        os.replace(temporary, target)

    def delete(self, seq: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(seq))

    def all(self) -> list[dict]:
        records = []
        for name in os.listdir(os.path.join(self.root, "jobs")):
            if name.endswith(".json"):
                record = self.load(name[:-5])
                if record:
                    records.append(record)
        return sorted(records, key=lambda r: int(r["seq"]))

    def exit_code(self, seq: str) -> int | None:
        try:
            with open(os.path.join(self.root, "exit", seq)) as handle:
                return int(handle.read().strip())
        except (FileNotFoundError, ValueError):
            return None


def take_injected_fault() -> bool:
    """True when PBS_EMULATOR_FAIL_FILE holds N > 0 (and N is decremented under a lock)."""
    path = os.environ.get("PBS_EMULATOR_FAIL_FILE")
    if not path:
        return False
    try:
        handle = open(path, "r+")
    except FileNotFoundError:
        return False
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            count = int(handle.read().strip() or 0)
        except ValueError:
            return False
        if count <= 0:
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{count - 1}\n")
        return True


def connect_failure_text(command: str, config: dict) -> str:
    return f"Connection refused\n{command}: cannot connect to server {config['server']} (errno={PBSE_SYSTEM})\n"


# --------------------------------------------------------------------------------------------
# job ids


def seq_of(job_id: str, config: dict) -> str | None:
    """The sequence number of a PBS job id this server owns ('12', '12.pbs-emu', the full id)."""
    match = re.fullmatch(r"(\d+)(?:\.(\S*))?", job_id.strip())
    if not match:
        return None
    suffix = match.group(2)
    if suffix and suffix != config["id_suffix"] and not config["id_suffix"].startswith(suffix + "."):
        return None
    return match.group(1)


def full_id(seq: str, config: dict) -> str:
    return f"{seq}.{config['id_suffix']}"


def shown_id(job_id: str, config: dict) -> str:
    """How PBS names an id in messages: as given, with the server appended when it has none."""
    return job_id if "." in job_id else f"{job_id}.{config['server']}"


# --------------------------------------------------------------------------------------------
# Slurm


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


SLURM_DOWN = ("Unable to contact slurm controller", "Socket timed out", "Connection refused",
              "Zero Bytes were transmitted", "Slurm is busy", "slurm_load_partitions")


def slurm_jobs(seqs: list[str] | None = None) -> dict[str, dict]:
    """`scontrol -o show job` fields by Slurm job id: one id, or every job Slurm still remembers."""
    argv = ["scontrol", "-o", "show", "job"]
    if seqs is not None and len(seqs) == 1:
        argv.append(seqs[0])
    answer = run(argv)
    if answer.returncode != 0:
        if "Invalid job id" in answer.stderr:
            return {}
        raise ServerDown(answer.stderr.strip())
    jobs = {}
    for line in answer.stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def parse_slurm_minutes(text: str) -> float:
    """Minutes from a Slurm time limit: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, or 'infinite'."""
    text = text.strip()
    if text in ("infinite", "UNLIMITED", "n/a", ""):
        return math.inf
    if "-" in text:
        day_text, rest = text.split("-", 1)
        parts = [int(p) for p in rest.split(":")] + [0, 0]
        return int(day_text) * 1440 + parts[0] * 60 + parts[1] + parts[2] / 60
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 3:
        return parts[0] * 60 + parts[1] + parts[2] / 60
    if len(parts) == 2:
        return parts[0] + parts[1] / 60
    return parts[0]


def slurm_partitions() -> dict[str, dict]:
    answer = run(["sinfo", "-h", "-o", "%P|%l|%D|%c"])
    if answer.returncode != 0:
        raise ServerDown(answer.stderr.strip())
    partitions = {}
    for line in answer.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        name = parts[0].rstrip("*")
        cpus = re.match(r"\d+", parts[3])
        partitions[name] = {"max_minutes": parse_slurm_minutes(parts[1]), "nodes": int(parts[2] or 1),
                            "cpus": int(cpus.group(0)) if cpus else 1, "default": parts[0].endswith("*")}
    return partitions


def slurm_time(text: str | None) -> float | None:
    if not text or text in ("Unknown", "None", "N/A", "(null)"):
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def slurm_duration(text: str | None) -> int:
    """Seconds from Slurm's RunTime ('00:01:02', '1-00:00:00')."""
    if not text or text in ("Unknown", "INVALID"):
        return 0
    days = 0
    if "-" in text:
        day_text, text = text.split("-", 1)
        days = int(day_text)
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return days * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def expand_hostlist(nodelist: str) -> list[str]:
    if not nodelist or nodelist in ("(null)", "None"):
        return []
    if "[" not in nodelist:
        return nodelist.split(",")
    answer = run(["scontrol", "show", "hostnames", nodelist])
    return answer.stdout.split() if answer.returncode == 0 else [nodelist]


# --------------------------------------------------------------------------------------------
# PBS value formats


def hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def parse_pbs_duration(text: str) -> int:
    """Seconds from a PBS duration: [[HH:]MM:]SS[.ms] or plain seconds. ValueError otherwise."""
    text = text.strip()
    if not re.fullmatch(r"\d+(?::\d+){0,2}(?:\.\d+)?", text):
        raise ValueError(text)
    text = text.split(".")[0]
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def ctime(epoch: float) -> str:
    return time.ctime(epoch)


def run_at(epoch: float) -> str:
    """The date in PBS's 'Job run at Tue Mar 12 at 13:04' comments."""
    return time.strftime("%a %b %d at %H:%M", time.localtime(epoch))


def parse_select(select: str) -> list[tuple[int, dict]]:
    """'2:ncpus=64:ngpus=4+1:ncpus=2' -> [(2, {'ncpus': '64', 'ngpus': '4'}), (1, {'ncpus': '2'})]."""
    chunks = []
    for chunk in select.split("+"):
        parts = chunk.split(":")
        count = 1
        if parts and re.fullmatch(r"\d+", parts[0]):
            count = int(parts.pop(0))
        resources = {}
        for part in parts:
            if "=" not in part:
                raise ValueError(chunk)
            key, value = part.split("=", 1)
            resources[key] = value
        if count < 1:
            raise ValueError(chunk)
        chunks.append((count, resources))
    return chunks


# JSON the way pbs_json.c writes it.

_STRTOD = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?"
    r"|(?i:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?))\s*")


def pbs_numeric(value: str) -> bool:
    """pbs_json.c add_json_node(): printed bare when strtod() consumes it all, unless it has a
    leading zero and is >= 1 ('007' stays a string, '0' and '0.5' do not)."""
    if value.strip() == "" or not _STRTOD.fullmatch(value):
        return False
    if not value.startswith("0"):
        return True
    try:
        number = float.fromhex(value) if value[:2].lower() == "0x" else float(value)
    except ValueError:
        return True
    return number < 1


def pbs_escape(value: str) -> str:
    """strdup_escape(JSON_ESCAPE): control characters escaped, '"' escaped unless already after a
    backslash, '\\' before ' or , dropped, any other backslash copied with the next character."""
    out = []
    index = 0
    while index < len(value):
        char = value[index]
        if char in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
            index += 1
        elif char == '"':
            if index == 0 or value[index - 1] != "\\":
                out.append("\\")
            out.append(char)
            index += 1
        elif char == "\\":
            following = value[index + 1] if index + 1 < len(value) else ""
            if following in ("'", ","):
                out.append(following)
                index += 2
            else:
                out.append(char + following)
                index += 2 if following else 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _json_items(items: list, indent: int) -> str:
    out = []
    pad = " " * indent
    for position, (key, value) in enumerate(items):
        out.append(",\n" if position else "\n")
        if isinstance(value, list):
            out.append(f'{pad}"{key}":{{')
            out.append(_json_items(value, indent + 4))
            out.append(f"\n{pad}}}")
        elif isinstance(value, int):
            out.append(f'{pad}"{key}":{value}')
        else:
            rendered = value if pbs_numeric(value) else f'"{pbs_escape(value)}"'
            out.append(f'{pad}"{key}":{rendered}')
    return "".join(out)


def render_json(items: list) -> str:
    return "{" + _json_items(items, 4) + "\n}\n"


def prt_attr(name: str, resource: str | None, value: str) -> str:
    """qstat.c prt_attr() default format: values split at commas, wrapped past 78 columns with
    '\\n\\t' (a new line starting with a tab)."""
    out = ["    " + name]
    start = len(name) + 7
    if resource:
        start += len(resource) + 1
        out.append("." + resource)
    out.append(" = ")
    tokens = [token for token in value.split(",") if token]
    first = True
    for position, token in enumerate(tokens):
        if len(token) + start < 78:
            out.append(token)
            start += len(token)
        else:
            if not first:
                out.append("\n\t")
                start = 9
            for char in token:
                out.append(char)
                start += 1
                if start > 78:
                    start = 8
                    out.append("\n\t")
        if position + 1 < len(tokens):
            first = False
            out.append(",")
    return "".join(out)


def escape_commas(value: str) -> str:
    return value.replace(",", "\\,")


def split_variable_list(value: str) -> list[tuple[str, str]]:
    """Variable_List 'A=1,B=x\\,y' -> [('A', '1'), ('B', 'x,y')] (qstat's JSON splitting)."""
    pairs = []
    key, current, index = None, [], 0
    while index <= len(value):
        char = value[index] if index < len(value) else ","
        if char == "\\" and index + 1 < len(value) and value[index + 1] == ",":
            current.append(",")
            index += 2
            continue
        if char == ",":
            text = "".join(current)
            if key is None:
                if text:
                    pairs.append((text, ""))
            else:
                pairs.append((key, text))
            key, current = None, []
        elif char == "=" and key is None:
            key, current = "".join(current), []
        else:
            current.append(char)
        index += 1
    return pairs


# --------------------------------------------------------------------------------------------
# qsub


QSUB_VALUE_OPTIONS = set("aAcCejJklmMNopPqrRSuvW")
QSUB_FLAG_OPTIONS = set("fhIVXzG")


def parse_qsub_options(tokens: list[str], command_line: bool) -> tuple[list[tuple[str, str]], list[str], bool]:
    """getopt-style parse: ([(letter, value)], operands, executable_form). On the command line the
    first operand ends the options ('--' introduces an executable and its arguments)."""
    options, index = [], 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--" and command_line:
            return options, tokens[index + 1:], True
        if not token.startswith("-") or token == "-":
            return options, tokens[index:], False
        letters = token[1:]
        while letters:
            letter, letters = letters[0], letters[1:]
            if letter in QSUB_FLAG_OPTIONS:
                options.append((letter, ""))
            elif letter in QSUB_VALUE_OPTIONS:
                if letters:
                    value, letters = letters, ""
                else:
                    index += 1
                    if index >= len(tokens):
                        raise PbsError(f"option requires an argument -- '{letter}'\n{QSUB_USAGE}", -2)
                    value = tokens[index]
                options.append((letter, value))
            else:
                raise PbsError(f"invalid option -- '{letter}'\n{QSUB_USAGE}", -2)
        index += 1
    return options, [], False


def script_directives(text: str, prefix: str) -> list[tuple[str, str]]:
    """Options from the directive lines before the first command line of the script."""
    options = []
    for line in text.splitlines():
        stripped = line.strip()
        if line.startswith(prefix) and (len(line) == len(prefix) or line[len(prefix)] in " \t"):
            try:
                words = shlex.split(line[len(prefix):], comments=False)
            except ValueError:
                raise PbsError("directive error: " + line, -2)
            found, operands, _ = parse_qsub_options(words, command_line=False)
            if operands:
                raise PbsError("directive error: " + line, -2)
            options.extend(found)
            continue
        if stripped == "" or stripped.startswith("#"):
            continue
        break
    return options


def check_job_name(name: str) -> bool:
    """check_job_name(name, chk_alpha=1): -N must start with a letter, then [A-Za-z0-9-_+.], <= 236."""
    return 0 < len(name) <= 236 and name[0].isascii() and name[0].isalpha() and \
        re.fullmatch(r"[A-Za-z0-9_+.\-]+", name) is not None


def parse_resource_list(text: str) -> dict[str, str]:
    resources = {}
    for item in text.split(","):
        if not item:
            continue
        if "=" not in item:
            raise PbsError("illegal -l value\n" + QSUB_USAGE, -2)
        key, value = item.split("=", 1)
        resources[key.strip()] = value.strip()
    return resources


def qsub_main(argv: list[str]) -> int:
    config = load_config()
    if argv[:1] == ["--version"]:
        print(f"pbs_version = {PBS_VERSION}")
        return 0
    try:
        job_id = qsub(argv, config)
    except PbsError as error:
        sys.stderr.write(f"qsub: {error.text}" + ("" if error.text.endswith("\n") else "\n"))
        return 2 if error.code == -2 else (error.code % 256 or 1)
    except ServerDown:
        sys.stderr.write(connect_failure_text("qsub", config))
        return PBSE_SYSTEM % 256
    sys.stdout.write(job_id + "\n")
    return 0


def qsub(argv: list[str], config: dict) -> str:
    cli_options, operands, executable_form = parse_qsub_options(argv, command_line=True)
    if take_injected_fault():
        raise ServerDown("injected")
    cwd = os.getcwd()

    # The script: a file, stdin, or a generated one for `-- executable args`.
    if executable_form:
        if not operands:
            raise PbsError(QSUB_USAGE, -2)
        script_text = "#!/bin/sh\nexec " + shlex.join(operands) + "\n"
        default_name = os.path.basename(operands[0])
    elif operands:
        if len(operands) > 1:
            raise PbsError(QSUB_USAGE, -2)
        try:
            with open(operands[0], errors="replace") as handle:
                script_text = handle.read()
        except OSError as error:
            raise PbsError(f"script file:: {error.strerror}", -2)
        default_name = os.path.basename(operands[0])
    else:
        script_text = sys.stdin.read()
        default_name = "STDIN"

    prefix = dict(cli_options).get("C") or os.environ.get("PBS_DPREFIX") or "#PBS"
    directive_options = [] if executable_form else script_directives(script_text, prefix)

    # Directives first, then the command line: later values win; -l resources merge by name.
    opts: dict[str, str] = {}
    flags: set[str] = set()
    resources: dict[str, str] = {}
    variables: list[str] = []
    for pairs in (directive_options, cli_options):
        for letter, value in pairs:
            if letter == "N" and not check_job_name(value):
                raise PbsError("illegal -N value\n" + QSUB_USAGE, -2)
            if letter == "l":
                resources.update(parse_resource_list(value))
            elif letter == "v":
                variables.extend(v for v in value.split(",") if v)
            elif letter in QSUB_FLAG_OPTIONS:
                flags.add(letter)
            elif letter == "W" and opts.get("W"):
                opts["W"] += "," + value
            else:
                opts[letter] = value
    if "I" in flags:
        raise PbsError("interactive jobs are not supported by pbs-emu", -2)
    if "J" in opts:
        raise PbsError("job arrays are not supported by pbs-emu", -2)
    if opts.get("j", "n") not in ("oe", "eo", "n"):
        raise PbsError("illegal -j value\n" + QSUB_USAGE, -2)

    name = opts.get("N") or default_name[:236]
    queue_name = (opts.get("q") or config["default_queue"]).split("@")[0] or config["default_queue"]

    # Resource_List as the server stores it.
    walltime_s = None
    if "walltime" in resources:
        try:
            walltime_s = parse_pbs_duration(resources["walltime"])
        except ValueError:
            raise PbsError("illegal -l value\n" + QSUB_USAGE, -2)
    if "select" not in resources:
        chunk = {"ncpus": resources.pop("ncpus", "1")}
        for key in ("mem", "ngpus", "mpiprocs"):
            if key in resources:
                chunk[key] = resources.pop(key)
        resources["select"] = "1:" + ":".join(f"{k}={v}" for k, v in chunk.items())
    try:
        chunks = parse_select(resources["select"])
        nodect = sum(count for count, _ in chunks)
        ncpus = sum(count * int(res.get("ncpus", 1)) for count, res in chunks)
        for key in ("ngpus", "mpiprocs"):
            if any(key in res for _, res in chunks):
                resources[key] = str(sum(count * int(res.get(key, 0)) for count, res in chunks))
    except ValueError:
        raise PbsError("illegal -l value\n" + QSUB_USAGE, -2)
    resources["nodect"] = str(nodect)
    resources["ncpus"] = str(ncpus)
    resources.setdefault("place", "free")

    user = pwd.getpwuid(os.getuid())
    host = socket.gethostname()
    state = State()

    with state.lock():
        # Server-side checks, in the order the PBS server makes them.
        queue = config["queues"].get(queue_name)
        if queue is None:
            raise PbsError("Unknown queue", PBSE_UNKQUE)
        if not queue.get("enabled", True):
            raise PbsError("Queue is not enabled", PBSE_QUNOENB)
        max_walltime_s = queue.get("max_walltime_min", math.inf) * 60
        if walltime_s is None:
            default_min = queue.get("default_walltime_min", queue.get("max_walltime_min", 60))
            walltime_s = int(default_min * 60)
        resources["walltime"] = hms(walltime_s)
        if walltime_s > max_walltime_s or nodect > queue.get("max_nodes", math.inf) \
                or nodect < queue.get("min_nodes", 0):
            raise PbsError("Job violates queue and/or server resource limits", PBSE_EXCQRESC)
        if "max_queued" in queue or "queued_jobs_threshold" in queue:
            counts = count_user_jobs(state, user.pw_name, queue_name)
            if "max_queued" in queue and counts["active"] >= queue["max_queued"]:
                raise PbsError("would exceed queue generic's per-user limit", PBSE_ENTLIMCT)
            if "queued_jobs_threshold" in queue and counts["queued"] >= queue["queued_jobs_threshold"]:
                raise PbsError("would exceed queue generic's per-user limit of jobs in 'Q' state",
                               PBSE_ENTLIMCT)
        depend = translate_depend(opts.get("W", ""), state, config)

        record = submit_to_slurm(
            config=config, state=state, script_text=script_text, name=name, queue_name=queue_name,
            queue=queue, resources=resources, chunks=chunks, walltime_s=walltime_s, opts=opts,
            flags=flags, variables=variables, user=user, host=host, cwd=cwd, depend=depend,
            submit_arguments=" ".join(shlex.quote(a) for a in argv))
        state.save(record)
        if queue.get("drop_after_qsub"):
            run(["scancel", record["seq"]])
            state.delete(record["seq"])
    return record["pbs_id"]


def count_user_jobs(state: State, user: str, queue_name: str) -> dict[str, int]:
    """This user's jobs in the queue, from the emulator's own records: active (queued + running) and
    queued (not yet running). One scontrol call for all of them."""
    mine = [r for r in state.all() if r["owner"] == user and r["queue"] == queue_name and not r.get("final")]
    counts = {"active": 0, "queued": 0}
    if not mine:
        return counts
    slurm = slurm_jobs(None)
    for record in mine:
        view = job_view(record, slurm.get(record["seq"]), state, cache=False)
        if view is None or view["job_state"] in FINISHED_STATES:
            continue
        counts["active"] += 1
        if view["job_state"] in NOT_RUNNING_STATES:
            counts["queued"] += 1
    return counts


def translate_depend(w_value: str, state: State, config: dict) -> str | None:
    """-W depend=afterok:ID[:ID],afterany:ID -> Slurm --dependency (after/afterok/afternotok/afterany)."""
    match = re.search(r"(?:^|,)depend=([^\s]+)", w_value)
    if not match:
        return None
    clauses = []
    for clause in match.group(1).split(","):
        kind, _, ids = clause.partition(":")
        if kind not in ("after", "afterok", "afternotok", "afterany"):
            continue
        seqs = []
        for job_id in ids.split(":"):
            seq = seq_of(job_id, config)
            if seq is None or state.load(seq) is None:
                raise PbsError(f"Unknown Job Id {shown_id(job_id, config)}", PBSE_UNKJOBID)
            seqs.append(seq)
        clauses.append(kind + ":" + ":".join(seqs))
    return ",".join(clauses) or None


def resolve_path(value: str | None, cwd: str) -> str | None:
    if not value:
        return None
    if ":" in value and not value.startswith("/"):
        value = value.split(":", 1)[1]          # host:path
    value = os.path.expanduser(value)
    return os.path.normpath(os.path.join(cwd, value))


def submit_to_slurm(*, config, state, script_text, name, queue_name, queue, resources, chunks,
                    walltime_s, opts, flags, variables, user, host, cwd, depend, submit_arguments) -> dict:
    partitions = slurm_partitions()
    wanted = queue.get("slurm_partition", config["default_slurm_partition"])
    minutes = max(1, math.ceil(walltime_s / 60))
    partition = wanted if wanted in partitions else next(
        (p for p, info in partitions.items() if info["default"]), next(iter(partitions), wanted))
    if partition in partitions and partitions[partition]["max_minutes"] < minutes:
        fitting = sorted((info["max_minutes"], p) for p, info in partitions.items() if info["max_minutes"] >= minutes)
        if fitting:
            partition = fitting[0][1]
        else:
            partition = max(partitions, key=lambda p: partitions[p]["max_minutes"])
            minutes = int(partitions[partition]["max_minutes"])
    info = partitions.get(partition, {"nodes": 1, "cpus": 1})
    nodect = int(resources["nodect"])
    slurm_nodes = max(1, min(nodect, info["nodes"]))
    cpus = max(int(res.get("ncpus", 1)) for _, res in chunks)
    slurm_cpus = max(1, min(cpus, info["cpus"]))
    mpiprocs = max(int(res.get("mpiprocs", 1)) for _, res in chunks)

    # PBS_O_* and the job's environment.
    pbs_o = {}
    for var, source in (("HOME", "HOME"), ("LANG", "LANG"), ("LOGNAME", "LOGNAME"), ("PATH", "PATH"),
                        ("MAIL", "MAIL"), ("SHELL", "SHELL")):
        value = os.environ.get(source) or {"HOME": user.pw_dir, "LOGNAME": user.pw_name,
                                          "SHELL": user.pw_shell}.get(var)
        if value:
            pbs_o[f"PBS_O_{var}"] = value
    pbs_o["PBS_O_WORKDIR"] = cwd
    pbs_o["PBS_O_SYSTEM"] = os.uname().sysname
    pbs_o["PBS_O_QUEUE"] = queue_name
    pbs_o["PBS_O_HOST"] = host
    user_vars = {}
    for item in variables:
        key, eq, value = item.partition("=")
        user_vars[key] = value if eq else os.environ.get(key, "")
    export_all = "V" in flags
    variable_list = dict(pbs_o)
    if export_all:
        variable_list.update({k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))})
    variable_list.update(user_vars)

    job_env = dict(pbs_o)
    job_env.update(user_vars)
    if not export_all:
        job_env.update({"HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name,
                        "SHELL": user.pw_shell or "/bin/sh",
                        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
        for key in ("LANG", "TZ"):
            if key in os.environ:
                job_env[key] = os.environ[key]
    sbatch_env = {k: v for k, v in os.environ.items()
                  if not k.startswith(("SLURM_", "SBATCH_")) or k == "SLURM_CONF"}
    sbatch_env.update(job_env)

    # The script copy and the wrapper that gives the job its PBS environment.
    token = uuid.uuid4().hex[:12]
    job_dir = os.path.join(state.root, "scripts", token)
    os.makedirs(job_dir)
    script_path = os.path.join(job_dir, "script")
    with open(script_path, "w") as handle:
        handle.write(script_text)
    os.chmod(script_path, 0o755)
    if "S" in opts:
        runner = f"{shlex.quote(opts['S'].split('@')[0])} {shlex.quote(script_path)}"
    elif script_text.startswith("#!"):
        runner = shlex.quote(script_path)
    else:
        runner = f"{shlex.quote(user.pw_shell or '/bin/sh')} {shlex.quote(script_path)}"
    start_dir = cwd if config.get("job_start_dir", "submit") == "submit" else user.pw_dir
    aux_dir = os.path.join(state.root, "aux")
    exit_dir = os.path.join(state.root, "exit")
    first_ncpus = int(chunks[0][1].get("ncpus", 1))
    wrapper = f"""#!/bin/bash
# pbs-emu: runs the PBS job script {script_path} with the environment a PBS MoM gives it.
export PBS_JOBID="${{SLURM_JOB_ID}}.{config['id_suffix']}"
export PBS_JOBNAME={shlex.quote(name)}
export PBS_QUEUE={shlex.quote(queue_name)}
export PBS_ENVIRONMENT=PBS_BATCH
export PBS_NODENUM=0 PBS_TASKNUM=1
export PBS_JOBDIR="$HOME"
export NCPUS={first_ncpus} OMP_NUM_THREADS={first_ncpus}
export PBS_NODEFILE={shlex.quote(aux_dir)}/"$PBS_JOBID"
export TMPDIR="/tmp/pbs.$PBS_JOBID"
mkdir -p "$TMPDIR"
for host in $(scontrol show hostnames "$SLURM_JOB_NODELIST" 2>/dev/null || hostname); do
  for _ in $(seq {mpiprocs}); do echo "$host"; done
done > "$PBS_NODEFILE"
cd {shlex.quote(start_dir)} 2>/dev/null || cd "$HOME"
{runner} </dev/null
rc=$?
printf '%s\\n' "$rc" > {shlex.quote(exit_dir)}/"$SLURM_JOB_ID".tmp && mv -f {shlex.quote(exit_dir)}/"$SLURM_JOB_ID".tmp {shlex.quote(exit_dir)}/"$SLURM_JOB_ID"
rm -rf "$TMPDIR"
exit $rc
"""
    wrapper_path = os.path.join(job_dir, "wrapper.sh")
    with open(wrapper_path, "w") as handle:
        handle.write(wrapper)

    # Output paths: PBS resolves them against qsub's cwd; default <name>.o<seq> there.
    join = opts.get("j", "n")
    output_path = resolve_path(opts.get("o"), cwd)
    error_path = resolve_path(opts.get("e"), cwd)

    def slurm_path(path: str | None, letter: str) -> tuple[str, str]:
        """(the path PBS shows, the Slurm pattern)."""
        if path is None:
            return os.path.join(cwd, f"{name}.{letter}%j"), os.path.join(cwd, f"{name}.{letter}%j")
        if os.path.isdir(path):
            return path + "/", os.path.join(path, f"{name}.{letter}%j")
        if not os.path.isdir(os.path.dirname(path) or "/"):
            # PBS cannot deliver it either: it ends up in the user's undelivered spool.
            return path, os.path.join(state.root, "undelivered", f"{name}.{letter}%j")
        return path, path.replace("%", "%%")

    shown_out, slurm_out = slurm_path(output_path, "o")
    shown_err, slurm_err = slurm_path(error_path, "e")
    argv = ["sbatch", "--parsable", f"--job-name={name}", f"--time={minutes}", f"--partition={partition}",
            f"--nodes={slurm_nodes}", "--ntasks-per-node=1", f"--cpus-per-task={slurm_cpus}",
            f"--chdir={start_dir}", "--export=ALL" if export_all else "--export=" + ",".join(sorted(job_env))]
    if join == "oe":
        argv.append(f"--output={slurm_out}")
    elif join == "eo":
        argv.append(f"--output={slurm_err}")
    else:
        argv += [f"--output={slurm_out}", f"--error={slurm_err}"]
    if "h" in flags:
        argv.append("--hold")
    if depend:
        argv.append(f"--dependency={depend}")
    argv.append(wrapper_path)
    sbatch = shutil.which("sbatch") or "sbatch"
    answer = subprocess.run([sbatch, *argv[1:]], capture_output=True, text=True, env=sbatch_env, cwd=cwd)
    if answer.returncode != 0:
        message = answer.stderr.strip()
        if any(p in message for p in SLURM_DOWN):
            raise ServerDown(message)
        raise PbsError(message.replace("sbatch: error: ", "") or "Job rejected by pbs-emu", 1)
    seq = answer.stdout.strip().splitlines()[-1].split(";")[0]
    now = time.time()

    def with_seq(path: str) -> str:
        return path.replace("%j", seq)

    return {
        "seq": seq, "pbs_id": full_id(seq, config), "name": name, "queue": queue_name,
        "owner": user.pw_name, "owner_host": host, "submit_time": now, "submit_dir": cwd,
        "script": script_path, "resources": resources, "walltime_s": walltime_s,
        "output_path": with_seq(shown_out), "error_path": with_seq(shown_err), "join": join,
        "keep": opts.get("k", "n"), "mail_points": opts.get("m", "a"), "mail_users": opts.get("M"),
        "account": opts.get("A"), "project": opts.get("P", "_pbs_project_default"),
        "rerunable": "False" if opts.get("r", "y") == "n" else "True", "priority": opts.get("p", "0"),
        "hold": "h" in flags, "depend": opts.get("W") if depend else None,
        "variable_list": variable_list, "submit_arguments": submit_arguments, "host": host,
        "slurm": {"partition": partition, "minutes": minutes, "nodes": slurm_nodes, "cpus": slurm_cpus},
        "final": None, "qdel_time": None,
    }


# --------------------------------------------------------------------------------------------
# the PBS view of a job


def visible_view(record: dict, slurm: dict | None, state: State, config: dict) -> dict | None:
    """job_view as qstat/qselect show it: without job history a finished job is simply unknown."""
    view = job_view(record, slurm, state)
    if view is not None and view["job_state"] in FINISHED_STATES and not config.get("job_history_enable", True):
        return None
    return view


def job_view(record: dict, slurm: dict | None, state: State, cache: bool = True) -> dict | None:
    """job_state, substate, Exit_status, comment and times of a job; None when neither Slurm nor
    the emulator's records can tell anything (PBS: the history is gone). Terminal views are cached
    in the record, since Slurm forgets finished jobs after MinJobAge."""
    if record.get("final"):
        return record["final"]
    if slurm is None:
        code = state.exit_code(record["seq"])
        if code is None:
            return None
        view = {"job_state": "F", "substate": 92, "exit_status": code, "ran": True,
                "comment": "Job finished (pbs-emu: outcome read from the job's exit file)",
                "start": None, "end": os.path.getmtime(os.path.join(state.root, "exit", record["seq"])),
                "used_s": 0, "hosts": [], "hold_types": "n"}
    else:
        view = view_from_slurm(record, slurm)
    if view["job_state"] in FINISHED_STATES and cache:
        with state.lock():
            fresh = state.load(record["seq"]) or record
            fresh["final"] = view
            state.save(fresh)
    return view


def view_from_slurm(record: dict, slurm: dict) -> dict:
    job_state = slurm.get("JobState", "PENDING").split()[0]
    reason = slurm.get("Reason", "None")
    start = slurm_time(slurm.get("StartTime"))
    end = slurm_time(slurm.get("EndTime"))
    hosts = expand_hostlist(slurm.get("NodeList", ""))
    ran = bool(hosts) and start is not None and job_state != "PENDING"
    ncpus = int(record["resources"].get("ncpus", 1))
    view = {"job_state": "Q", "substate": 10, "exit_status": None, "ran": ran, "comment": "",
            "start": start if ran else None, "end": end, "used_s": slurm_duration(slurm.get("RunTime")),
            "hosts": hosts, "hold_types": "n"}
    vnode = "+".join(f"{h}:ncpus={max(1, ncpus // max(1, len(hosts)))}" for h in hosts)
    ran_text = f"Job run at {run_at(start)} on ({vnode})" if ran and start else ""
    if job_state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"):
        if reason in ("JobHeldUser", "JobHeldAdmin") or job_state == "REQUEUE_HOLD":
            view.update(job_state="H", substate=20, hold_types="u" if reason == "JobHeldUser" else "o",
                        comment=f"Job held by {record['owner']} on {ctime(record['submit_time'])}")
        elif reason.startswith("Dependency"):
            view.update(job_state="H", substate=22, hold_types="s", comment="Job held, waiting on dependency")
        elif reason == "BeginTime":
            view.update(job_state="W", substate=30)
        else:
            view.update(comment="" if reason == "None" else f"Not Running: {reason}")
        view["ran"] = False
        view["start"] = None
    elif job_state in ("RUNNING", "CONFIGURING"):
        view.update(job_state="R", substate=42, comment=ran_text)
    elif job_state in ("SUSPENDED", "STOPPED"):
        view.update(job_state="S", substate=45, comment=ran_text)
    elif job_state in ("COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING"):
        view.update(job_state="E", substate=50, comment=ran_text)
    else:
        code_text, _, signal_text = slurm.get("ExitCode", "0:0").partition(":")
        code, signal = int(code_text or 0), int(signal_text or 0)
        status = code if not signal else 256 + signal
        substate, outcome = 92, "finished"     # a non-zero exit is still a normal finish for PBS
        if job_state == "TIMEOUT":
            status, substate, outcome = JOB_EXEC_KILL_WALLTIME, 93, "terminated (walltime exceeded)"
        elif job_state == "CANCELLED":
            status, substate, outcome = 256 + SIGTERM, 91, "terminated"
        elif job_state == "OUT_OF_MEMORY":
            status, substate, outcome = JOB_EXEC_KILL_MEM, 93, "terminated (mem exceeded)"
        elif job_state not in ("COMPLETED", "FAILED") or signal:
            substate, outcome = 93, "failed"
        if ran:
            view.update(job_state="F", substate=substate, exit_status=status, comment=f"{ran_text} and {outcome}")
        else:
            view.update(job_state="F", substate=91, exit_status=None, start=None,
                        comment="Job deleted before it ran" if job_state == "CANCELLED"
                        else f"Job could not run: Slurm {job_state} {reason}")
    return view


def job_attributes(record: dict, view: dict, config: dict) -> list[tuple[str, str | None, str]]:
    """The job's attributes as qstat -f lists them: (name, resource, value) in the server's order."""
    attrs: list[tuple[str, str | None, str]] = []
    ncpus = record["resources"].get("ncpus", "1")
    ran = view.get("ran")
    host_name = record.get("host", "localhost")
    now = time.time()
    add = attrs.append
    add(("Job_Name", None, record["name"]))
    add(("Job_Owner", None, f"{record['owner']}@{record['owner_host']}"))
    if ran:
        for key, value in (("cpupercent", "0"), ("cput", "00:00:00"), ("mem", "0kb"), ("ncpus", ncpus),
                           ("vmem", "0kb"), ("walltime", hms(view.get("used_s") or 0))):
            add(("resources_used", key, value))
    add(("job_state", None, view["job_state"]))
    add(("queue", None, record["queue"]))
    add(("server", None, config["server"]))
    if record.get("account"):
        add(("Account_Name", None, record["account"]))
    add(("Checkpoint", None, "u"))
    add(("ctime", None, ctime(record["submit_time"])))
    if record.get("depend"):
        add(("depend", None, record["depend"].split("depend=", 1)[-1]))
    add(("Error_Path", None, f"{host_name}:{record['error_path']}"))
    if ran and view.get("hosts"):
        per_host = max(1, int(ncpus) // len(view["hosts"]))
        add(("exec_host", None, "+".join(f"{h}/0*{per_host}" for h in view["hosts"])))
        add(("exec_vnode", None, "+".join(f"({h}:ncpus={per_host})" for h in view["hosts"])))
    add(("Hold_Types", None, view.get("hold_types", "n")))
    add(("Join_Path", None, record["join"]))
    add(("Keep_Files", None, record["keep"]))
    add(("Mail_Points", None, record["mail_points"]))
    if record.get("mail_users"):
        add(("Mail_Users", None, record["mail_users"]))
    changed = view.get("end") or view.get("start") or record["submit_time"]
    add(("mtime", None, ctime(changed if view["job_state"] != "R" else min(now, changed))))
    add(("Output_Path", None, f"{host_name}:{record['output_path']}"))
    add(("Priority", None, str(record["priority"])))
    add(("qtime", None, ctime(record["submit_time"])))
    add(("Rerunable", None, record["rerunable"]))
    for key in sorted(record["resources"]):
        add(("Resource_List", key, record["resources"][key]))
    if ran and view.get("start"):
        add(("stime", None, ctime(view["start"])))
        if view["job_state"] == "F" and view.get("end"):
            add(("obittime", None, ctime(view["end"])))
    add(("jobdir", None, pwd.getpwnam(record["owner"]).pw_dir if _user_exists(record["owner"]) else "/"))
    add(("substate", None, str(view["substate"])))
    add(("Variable_List", None, ",".join(f"{k}={escape_commas(v)}" for k, v in record["variable_list"].items())))
    if view.get("comment"):
        add(("comment", None, view["comment"]))
    add(("etime", None, ctime(record["submit_time"])))
    if ran:
        add(("run_count", None, "1"))
    if view["job_state"] == "F" and view.get("exit_status") is not None:
        add(("Exit_status", None, str(view["exit_status"])))
    add(("Submit_arguments", None, record["submit_arguments"]))
    if view["job_state"] == "F":
        add(("history_timestamp", None, str(int(view.get("end") or changed))))
    add(("project", None, record["project"]))
    add(("Submit_Host", None, record["owner_host"]))
    add(("server_instance_id", None, f"{config['server']}:15001"))
    return attrs


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def attributes_json(attrs: list[tuple[str, str | None, str]]) -> list:
    """(name, resource, value) triples as nested JSON items: resources grouped under their
    attribute, Variable_List split into its variables."""
    items: list = []
    for name, resource, value in attrs:
        if resource:
            if items and items[-1][0] == name and isinstance(items[-1][1], list):
                items[-1][1].append((resource, value))
            else:
                items.append((name, [(resource, value)]))
        elif name == "Variable_List":
            items.append((name, split_variable_list(value)))
        else:
            items.append((name, value))
    return items


# --------------------------------------------------------------------------------------------
# qstat


def queue_status(opts: dict, operands: list[str], config: dict) -> int:
    """`qstat -Q -f [queue...]` as OpenPBS prints it (qstat.c display_statque: 'Queue: NAME', then
    '    attribute = value' lines, a blank line after each queue); only the full form is emulated.
    Sample: MetaCentrum's docs (tests/data/scheduler/pbs/037-qstat-Qf-metacentrum.yaml)."""
    if "f" not in opts:
        sys.stderr.write("qstat: -Q without -f not supported by pbs-emu\n")
        return 2
    queues = config["queues"]
    wanted = [o.split("@")[0] for o in operands] or list(queues)
    failed = 0
    for name in wanted:
        spec = queues.get(name)
        if spec is None:
            sys.stderr.write(f"qstat: Unknown queue {name}\n")
            failed = PBSE_UNKQUE % 256
            continue
        lines = [f"Queue: {name}", "    queue_type = Execution", "    total_jobs = 0",
                 "    state_count = Transit:0 Queued:0 Held:0 Waiting:0 Running:0 Exiting:0 Begun\n\t:0 "]
        if spec.get("max_queued"):
            lines.append(f"    max_queued = [u:PBS_GENERIC={spec['max_queued']}]")
        if spec.get("max_walltime_min"):
            minutes = spec["max_walltime_min"]
            lines.append(f"    resources_max.walltime = {minutes // 60:02d}:{minutes % 60:02d}:00")
        enabled = "True" if spec.get("enabled", True) else "False"
        lines += [f"    enabled = {enabled}", "    started = True", ""]
        sys.stdout.write("\n".join(lines) + "\n")
    return failed


def qstat_main(argv: list[str]) -> int:
    import getopt

    config = load_config()
    if argv[:1] == ["--version"]:
        print(f"pbs_version = {PBS_VERSION}")
        return 0
    try:
        options, operands = getopt.gnu_getopt(argv, "ainpqrstwxu:fGHJMQEBW:T1F:D:")
    except getopt.GetoptError as error:
        sys.stderr.write(f"qstat: {error.msg}\n{QSTAT_USAGE}")
        return 2
    opts = {}
    for letter, value in options:
        opts[letter[1]] = value
    if "Q" in opts:
        return queue_status(opts, operands, config)
    unsupported = [f"-{k}" for k in opts if k in "npqstGJMEBWT1D"]
    if unsupported:
        sys.stderr.write(f"qstat: {' '.join(unsupported)} not supported by pbs-emu\n")
        return 2
    output_format = opts.get("F", "default").lower()
    full = "f" in opts
    errors = 0
    if output_format not in ("default", "json", "dsv"):
        errors += 1
    elif output_format == "dsv":
        sys.stderr.write("qstat: -F dsv not supported by pbs-emu\n")
        return 2
    alt = any(k in opts for k in "airuH")
    if output_format != "default" and not full:
        sys.stderr.write("qstat: conflicting options.\n")
        errors += 1
    if errors:
        sys.stderr.write(QSTAT_USAGE)
        return 2
    history = "x" in opts or "H" in opts
    if history and not config.get("job_history_enable", True):
        # The server refuses the whole request (PBSE_JOBHISTNOTSET); qstat.c exits 0 for it.
        for operand in operands or [""]:
            sys.stderr.write(f"qstat: PBS is not configured to maintain job history {shown_id(operand, config) if operand else ''}".rstrip() + "\n")
        if output_format == "json":
            sys.stdout.write(render_json([("timestamp", int(time.time())), ("pbs_version", PBS_VERSION),
                                          ("pbs_server", config["server"])]))
        return 0
    users = [u.split("@")[0] for u in opts["u"].split(",")] if "u" in opts else None
    state_filter = "EHQTW" if "i" in opts else "RS" if "r" in opts else "MFX" if "H" in opts else None

    out: list[str] = []
    any_failed = 0
    json_jobs: list | None = None
    header_printed = False
    contacted = False
    state = State()
    server_down = take_injected_fault()
    slurm: dict | None = None

    for operand in operands or [None]:
        if server_down:
            sys.stderr.write(connect_failure_text("qstat", config))
            any_failed = -1
            continue
        first_contact = not contacted
        contacted = True
        if slurm is None:
            try:
                slurm = slurm_jobs(None)
            except ServerDown:
                server_down = True
                sys.stderr.write(connect_failure_text("qstat", config))
                any_failed = -1
                continue
        shown: list[tuple[dict, dict]] = []
        if operand is not None and operand[:1].isdigit():
            seq = seq_of(operand, config)
            record = state.load(seq) if seq else None
            view = visible_view(record, slurm.get(seq), state, config) if record else None
            if view is None:
                sys.stderr.write(f"qstat: Unknown Job Id {shown_id(operand, config)}\n")
                any_failed = PBSE_UNKJOBID
                continue
            if view["job_state"] in FINISHED_STATES and not history:
                sys.stderr.write(f"qstat: {shown_id(operand, config)} Job has finished, use -x or -H to "
                                 "obtain historical job information\n")
                any_failed = PBSE_HISTJOBID
                continue
            shown.append((record, view))
        else:
            queue = None
            if operand is not None:
                queue = operand.split("@")[0] or None
                if queue is not None and queue not in config["queues"]:
                    sys.stderr.write(f"qstat: Unknown queue {operand}\n")
                    any_failed = PBSE_UNKQUE
                    continue
            for record in state.all():
                if queue is not None and record["queue"] != queue:
                    continue
                if users is not None and record["owner"] not in users:
                    continue
                view = visible_view(record, slurm.get(record["seq"]), state, config)
                if view is None:
                    continue
                if view["job_state"] in FINISHED_STATES and not history:
                    continue
                if state_filter and view["job_state"] not in state_filter:
                    continue
                shown.append((record, view))
        if not shown:
            continue
        with_header = first_contact
        if alt:
            out.append(alt_table(shown, config, with_header))
        elif full:
            for record, view in shown:
                attrs = job_attributes(record, view, config)
                if output_format == "json":
                    if json_jobs is None:
                        json_jobs = []
                    json_jobs.append((record["pbs_id"], attributes_json(attrs)))
                else:
                    lines = [f"Job Id: {record['pbs_id']}"] + [prt_attr(*a) for a in attrs]
                    out.append("\n".join(lines) + "\n\n")
        else:
            out.append(default_table(shown, with_header and not header_printed))
            header_printed = True

    if output_format == "json":
        items: list = [("timestamp", int(time.time())), ("pbs_version", PBS_VERSION),
                       ("pbs_server", config["server"])]
        if json_jobs is not None:
            items.append(("Jobs", json_jobs))
        out.append(render_json(items))
    sys.stdout.write("".join(out))
    return any_failed % 256


def _trunc(value: str, width: int) -> str:
    """trunc_value(): longer than width -> first width-1 characters and '*'."""
    return value[: width - 1] + "*" if len(value) > width else value


def default_table(shown: list[tuple[dict, dict]], header: bool) -> str:
    """display_statjob(): '%-17s %-16s %-16s  %8s %1s %-16s' with the id cut at its second dot."""
    lines = []
    if header:
        lines.append("Job id            Name             User              Time Use S Queue")
        lines.append("----------------  ---------------- ----------------  -------- - -----")
    for record, view in shown:
        job_id = _trunc(".".join(record["pbs_id"].split(".")[:2]), 17)
        name = record["name"] if len(record["name"]) < 16 else record["name"][:15] + "*"
        used = "00:00:00" if view.get("ran") else "0"
        lines.append(f"{job_id:<17} {name:<16} {_trunc(record['owner'], 16):<16}  {used:>8} "
                     f"{view['job_state']:>1} {_trunc(record['queue'], 16):<16}")
    return "".join(line + "\n" for line in lines)


def alt_table(shown: list[tuple[dict, dict]], config: dict, header: bool) -> str:
    lines = []
    if header:
        lines += ["", f"{config['server']}: ", " " * 60 + "Req'd  Req'd   Elap",
                  "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time",
                  "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----"]
    blank = " -- "
    for record, view in shown:
        resources = record["resources"]
        memory = blank
        elapsed = hms(view.get("used_s") or 0) if view.get("ran") else blank
        row = (f"{_trunc(record['pbs_id'], 15):<15.15} {_trunc(record['owner'], 8):<8.8} "
               f"{_trunc(record['queue'], 8):<8.8} {_trunc(record['name'], 10):<10.10} {blank:>6.6} "
               f"{_trunc(resources.get('nodect', blank), 3):>3.3} {_trunc(resources.get('ncpus', blank), 3):>3.3} "
               f"{memory:>6.6} {resources.get('walltime', blank):>5.5} {view['job_state']:1.1} {elapsed:>5.5}")
        lines.append(row)
    return "".join(line + "\n" for line in lines)


# --------------------------------------------------------------------------------------------
# qdel and qselect


def qdel_main(argv: list[str]) -> int:
    import getopt

    config = load_config()
    try:
        options, operands = getopt.getopt(argv, "W:x")
    except getopt.GetoptError:
        sys.stderr.write(QDEL_USAGE)
        return 2
    if not operands:
        sys.stderr.write(QDEL_USAGE)
        return 2
    delete_history = any(letter == "-x" for letter, _ in options)
    state = State()
    any_failed = 0
    to_cancel = []
    for operand in operands:
        seq = seq_of(operand, config)
        record = state.load(seq) if seq else None
        if record is None:
            sys.stderr.write(f"qdel: Unknown Job Id {shown_id(operand, config)}\n")
            any_failed = PBSE_UNKJOBID
            continue
        try:
            view = job_view(record, slurm_jobs([seq]).get(seq), state)
        except ServerDown:
            sys.stderr.write(f"Couldn't connect to cluster: {config['server']}\n")
            return PBSE_SYSTEM % 256
        if view is not None and view["job_state"] in FINISHED_STATES:
            if delete_history:
                state.delete(seq)
                continue
            sys.stderr.write(f"qdel: Job has finished {shown_id(operand, config)}\n")
            any_failed = PBSE_HISTJOBID
            continue
        with state.lock():
            fresh = state.load(seq) or record
            fresh["qdel_time"] = time.time()
            state.save(fresh)
        to_cancel.append(seq)
    if to_cancel:
        answer = run(["scancel", *to_cancel])
        if answer.returncode != 0 and any(p in answer.stderr for p in SLURM_DOWN):
            sys.stderr.write(f"Couldn't connect to cluster: {config['server']}\n")
            return PBSE_SYSTEM % 256
    return any_failed % 256


def qselect_main(argv: list[str]) -> int:
    """qselect [-u user] [-N name] [-q queue] [-s states] [-x]: matching job ids, one a line."""
    import getopt

    config = load_config()
    try:
        options, operands = getopt.getopt(argv, "u:N:q:s:x")
    except getopt.GetoptError as error:
        sys.stderr.write(f"qselect: {error.msg}\n")
        return 2
    opts = {letter[1]: value for letter, value in options}
    if take_injected_fault():
        sys.stderr.write(connect_failure_text("qselect", config))
        return 255
    state = State()
    try:
        slurm = slurm_jobs(None)
    except ServerDown:
        sys.stderr.write(connect_failure_text("qselect", config))
        return 255
    users = [u.split("@")[0] for u in opts["u"].split(",")] if "u" in opts else None
    states = opts.get("s") or ("QHWTRESBUFMX" if "x" in opts else "QHWTRESBU")
    queue = opts.get("q", "").split("@")[0] or None
    for record in state.all():
        if users is not None and record["owner"] not in users:
            continue
        if "N" in opts and record["name"] != opts["N"]:
            continue
        if queue and record["queue"] != queue:
            continue
        view = visible_view(record, slurm.get(record["seq"]), state, config)
        if view is None or view["job_state"] not in states:
            continue
        print(record["pbs_id"])
    return 0


def entry_point(command: str) -> None:
    main = {"qsub": qsub_main, "qstat": qstat_main, "qdel": qdel_main, "qselect": qselect_main}[command]
    sys.exit(main(sys.argv[1:]))
