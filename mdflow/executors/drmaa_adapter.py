"""Grid Engine adapter through DRMAA (the `drmaa` Python package over the site's libdrmaa): `#$`
directives, submit/status/cancel through a helper process, `qacct` for finished jobs.

Why a helper: libdrmaa keeps one session per process, starts threads and an event client with the
qmaster, and on Debian 12 cannot even be loaded into a Python started normally (below); none of
that belongs in the long-running controller. So every scheduler call is one short process,
`python -m mdflow.executors.drmaa_adapter submit|status|cancel ...`, that opens a session, does one
thing, prints a parseable reply and exits. The executor runs it like sbatch or qstat, and parses
its reply with the pure functions here; job ids go to the ledger, so a killed controller is
re-attached the same way as for Slurm.

Status (one helper call per poll, for all jobs): `session.jobStatus(id)` answers for jobs the
qmaster still holds: queued_active, *_on_hold, running, *_suspended; `failed` for a job in an error
state (Eqw: it stays queued and never runs). Once a job has finished the qmaster forgets it, and
a session other than the one that submitted it gets InvalidJobException ("The job specified by the
'jobid' does not exist": SGE's japi.c, japi_sge_state_to_drmaa_state). Then the helper asks SGE's
accounting, `qacct -j ID`: `failed` (0, or the shepherd's failure code and text) and `exit_status`.
A job qacct does not know either (deleted before it ran: no accounting record) is GONE: the job's
own outcome record decides (executors/outcome.py), never "unknown = success".

The helper prints one JSON object per job:
    {"id": "12", "drmaa": "running"}
    {"id": "13", "drmaa": "invalid_job", "qacct": {"rc": 0, "out": "<qacct -j 13>", "err": ""}}
and exits 2 (nothing printed) when no session could be opened or the qmaster did not answer.

Environment (measured on Debian 12, gridengine 8.1.9+dfsg-10, python `drmaa` 0.7.9): the library
is /usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0 (not on the loader path: DRMAA_LIBRARY_PATH);
SGE_ROOT=/var/lib/gridengine, SGE_CELL=default are needed by libdrmaa and qacct; and dlopen of
libdrmaa fails with "libjemalloc.so.2: cannot allocate memory in static TLS block" (jemalloc uses
initial-exec TLS, glibc 2.36 leaves too little static TLS for a library loaded after start-up). The
helper fills in what is missing and, on that error, re-executes itself with
GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536 (and the library preloaded, for older glibc),
restoring the caller's values before it submits, so jobs do not inherit them.
"""

import json
import os
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from mdflow.executors.adapter import (
    FATAL, LIMIT, TRANSIENT,
    FAILED, GONE, QUEUED, RUNNING, SUCCESS, UNKNOWN,
    GarbledAnswer, JobRequest, JobStatus, QueryFailed, SchedulerAdapter, format_walltime,
)

NAME = "sge"
TEMPLATE = "sge.sh.j2"
JOB_ID_VAR = "JOB_ID"  # the job's own id, as Grid Engine sets it in the job's environment
COMMANDS = ("qacct", "qstat")  # on PATH for a real run, besides the drmaa package and libdrmaa
HELPER = "mdflow.executors.drmaa_adapter"
DEFAULT_PE = "smp"  # parallel environment for multi-slot jobs; a site names its own with `-pe NAME`

# drmaa.JobState values (drmaa/const.py; DRMAA 1.0 drmaa_job_ps states) onto ours.
QUEUED_STATES = {"queued_active": "queued", "system_on_hold": "held by the system (dependency or start time)",
                 "user_on_hold": "held by its user (qrls releases it)",
                 "user_system_on_hold": "held by its user and the system"}
RUNNING_STATES = {"running": "running", "system_suspended": "suspended by the system",
                  "user_suspended": "suspended by its user (qmod -usj resumes it)",
                  "user_system_suspended": "suspended by its user and the system"}

# DRMAA exceptions as the helper names them (drmaa/errors.py), and SGE's submit refusals.
TRANSIENT_PATTERNS = ("DrmCommunicationException", "TryLaterException", "unable to contact qmaster",
                      "unable to send message to qmaster", "got send error", "Connection refused",
                      "timed out", "Resource temporarily unavailable")
# max_u_jobs (sge_conf(5)): "job rejected: only N jobs are allowed per user (current job count: N)";
# max_jobs: "... jobs are allowed per cluster"; resource quotas do not refuse, they hold jobs queued.
LIMIT_PATTERNS = ("jobs are allowed per user", "jobs are allowed per cluster")

# The shepherd's failure codes (SGE source/common/execution_states.h), as qacct's `failed` field
# prints them ("37  : qmaster enforced h_rt, h_cpu, or h_vmem limit"), with what they mean for a user.
FAILURE_HINTS = {
    26: "could not open its output file: does the log directory exist on the execution host?",
    27: "could not start its shell or the job script (is the script there and executable on the execution host?)",
    28: "could not change into its working directory on the execution host",
    37: "killed at its walltime (h_rt) or another hard limit",
    100: "killed while running (qdel, or by the site)",
}

JOB_ID_RE = re.compile(r"\d+(?:\.\d+)?")  # array tasks: ID.TASK (DRMAA's form)
PATH_FORBIDDEN = re.compile(r"[\s:]")


# ---------------------------------------------------------------------------------- rendering


def job_name(name: str) -> str:
    """A name `-N` takes: no blanks, '/', ':', '@', '\\', '*', '?' (sge_types(5), 'name'), not
    starting with a digit (qsub would read it as a job id in -hold_jid)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    if not cleaned[:1].isalpha():
        cleaned = "j" + cleaned
    return cleaned


def log_path(request: JobRequest) -> str:
    """The -o path, absolute (SGE takes relative paths from the job's working directory, where a
    human's qsub might run elsewhere). SGE reads `host:path` and the native specification is split
    on blanks: paths with ':' or blanks are refused here, not mangled there."""
    path = request.log_path
    if not posixpath.isabs(path) and request.workdir not in ("", "."):
        path = posixpath.normpath(posixpath.join(request.workdir, path))
    if PATH_FORBIDDEN.search(path):
        raise ValueError(f"Grid Engine cannot take a path with ':' or blanks: {path!r}")
    return path


def slots(request: JobRequest) -> int:
    return max(1, request.tasks) * max(1, request.cpus_per_task)


def parallel_environment(request: JobRequest) -> str:
    """The PE a site names with a bare `-pe NAME` in its directives, else `smp`."""
    for item in request.extra:
        words = item.split()
        if len(words) == 2 and words[0] == "-pe":
            return words[1]
    return DEFAULT_PE


def directives(request: JobRequest) -> list[str]:
    """What follows '#$ ' in the batch script; the helper passes the same lines to DRMAA as the
    native specification. -V exports the submitting environment (as sbatch does by default);
    -S /bin/bash serves a human who qsubs the script by hand (DRMAA runs it directly, by its #!
    line). Multi-slot jobs ask for `-pe smp N` (or the PE the site names with `-pe NAME` in its
    directives). Memory and GPUs are site complexes (h_vmem, mem_free, gpu ... are per slot and
    differ between sites): a site adds them to `directives`. Other directive items go as given.
    `-l s_rt` (soft_walltime_s) warns the job before its walltime kill."""
    if request.workdir and PATH_FORBIDDEN.search(request.workdir):
        raise ValueError(f"Grid Engine cannot take a path with ':' or blanks: {request.workdir!r}")
    lines = [f"-N {job_name(request.name)}", "-S /bin/bash", "-V"]
    if request.workdir:
        lines.append(f"-wd {request.workdir}")
    lines += [f"-o {log_path(request)}", "-j y", f"-l h_rt={format_walltime(request.walltime_min)}",
              f"-l s_rt={soft_walltime_s(request.walltime_min)}"]
    if slots(request) > 1:
        lines.append(f"-pe {parallel_environment(request)} {slots(request)}")
    if request.queue:
        lines.append(f"-q {request.queue}")
    if request.account:
        lines.append(f"-A {request.account}")
    lines.extend(item for item in request.extra if not re.fullmatch(r"-pe\s+\S+", item.strip()))
    return lines


def soft_walltime_s(walltime_min: int) -> int:
    """Seconds to the soft limit s_rt, at which Grid Engine sends SIGUSR1 to every process of the job
    (at h_rt it sends SIGKILL, which nothing can answer): a running segment checkpoints and exits
    there, so the next attempt resumes from where it stopped. A tenth of the walltime before h_rt,
    10 s to 2 min: a checkpoint takes seconds."""
    seconds = walltime_min * 60
    return seconds - min(120, max(10, seconds // 10))


def native_specification(script_text: str) -> str:
    """The `#$` lines of a batch script, joined: DRMAA's native specification. (DRMAA submits
    scripts as binaries, `-b yes`, so SGE itself would not read them.)"""
    options = []
    for line in script_text.splitlines():
        if line.startswith("#$"):
            options.append(line[2:].strip())
    return " ".join(option for option in options if option)


# ---------------------------------------------------------------------------------- commands


def helper_argv(action: str, *args: str) -> list[str]:
    return [sys.executable, "-m", HELPER, action, *args]


def submit_argv(script: str) -> list[str]:
    return helper_argv("submit", script)


def status_argv(ids: list[str]) -> list[str]:
    return helper_argv("status", *ids)


def cancel_argv(ids: list[str]) -> list[str]:
    return helper_argv("cancel", *ids)


def count_user_jobs_argv(user: str, queue: str | None) -> list[str]:
    """All the user's pending, running and suspended jobs. A pending SGE job has no queue until it
    is scheduled, so the count is over all queues (conservative under a per-queue max_queued)."""
    return ["qstat", "-u", user, "-s", "prs", "-xml"]


def find_by_name_argv(name: str, user: str) -> list[str]:
    """The detailed record (owner, working directory) of every job of that name the qmaster holds."""
    return ["qstat", "-xml", "-j", job_name(name)]


# ---------------------------------------------------------------------------------- parsing


def parse_submit(stdout: str) -> str:
    """The helper prints the job id DRMAA returned, as its last line."""
    for line in reversed(stdout.strip().splitlines()):
        if JOB_ID_RE.fullmatch(line.strip()):
            return line.strip()
    raise GarbledAnswer(f"no job id in the DRMAA helper's output {stdout!r}")


def classify_submit_error(text: str) -> str:
    """LIMIT for max_u_jobs/max_jobs (TryLaterException), TRANSIENT for a qmaster that did not
    answer; DeniedByDrmException (unknown queue, PE or resource, 'no suitable queues' under the
    `-w e` DRMAA always sets) and anything else is FATAL."""
    if any(p in text for p in LIMIT_PATTERNS):
        return LIMIT
    if any(p in text for p in TRANSIENT_PATTERNS):
        return TRANSIENT
    return FATAL


def parse_qacct(text: str) -> list[dict]:
    """`qacct -j ID` records (each after a line of '='): {field: value}, values stripped; a job
    that ran more than once (rescheduled) has several, oldest first."""
    records, current = [], None
    for line in text.splitlines():
        if line.startswith("====="):
            current = {}
            records.append(current)
            continue
        if current is None or not line.strip():
            continue
        key, _, value = line.partition(" ")
        current[key] = value.strip()
    return [r for r in records if r]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def status_from_qacct(record: dict) -> JobStatus:
    """One accounting record -> SUCCESS only when the shepherd reported no failure (`failed 0`)
    AND the script exited 0: a job that never started has `failed 26/27/28` with exit_status 0."""
    failed_text = record.get("failed", "")
    exit_text = record.get("exit_status", "")
    failed_match = re.match(r"\s*(\d+)\s*(?::\s*(.*))?$", failed_text)
    exit_match = re.match(r"\s*(-?\d+)", exit_text)
    if not failed_match or not exit_match:
        return JobStatus(UNKNOWN, reason=f"garbled qacct record (failed {failed_text!r}, exit_status {exit_text!r})")
    failed, why = int(failed_match.group(1)), (failed_match.group(2) or "").strip()
    code = int(exit_match.group(1))
    where = f" on {record['hostname']}" if record.get("hostname") else ""
    if failed == 0 and code == 0:
        return JobStatus(SUCCESS, 0, reason=f"qacct: exit_status 0{where}")
    parts = [f"exit_status {code}"]
    if code > 128:
        parts[0] += f" (128 + {_signal_name(code - 128)})"
    if failed:
        parts.append(f"SGE failed {failed}: {why}" if why else f"SGE failed {failed}")
        if failed in FAILURE_HINTS:
            parts.append(FAILURE_HINTS[failed])
    return JobStatus(FAILED, code if code else None, reason="qacct: " + "; ".join(parts) + where)


def status_from_record(record: dict) -> JobStatus:
    """One line of the helper's status reply -> JobStatus (see the module docstring)."""
    state = record.get("drmaa", "")
    if record.get("error"):
        return JobStatus(UNKNOWN, reason=f"DRMAA: {record['error']}")
    if state in QUEUED_STATES:
        return JobStatus(QUEUED, reason=QUEUED_STATES[state])
    if state in RUNNING_STATES:
        return JobStatus(RUNNING, reason=RUNNING_STATES[state])
    if state == "undetermined":
        return JobStatus(UNKNOWN, reason="DRMAA cannot determine the job's state")
    if state not in ("done", "failed", "invalid_job"):
        return JobStatus(UNKNOWN, reason=f"unknown DRMAA state {state!r}")
    accounting = record.get("qacct") or {}
    records = parse_qacct(accounting.get("out", "")) if accounting.get("rc") == 0 else []
    if records:
        return status_from_qacct(records[-1])
    if state == "failed":  # still held by the qmaster, in an error state (Eqw): it will never run
        reason = error_reason(record.get("qstat_j", "")) or "in an error state (Eqw)"
        return JobStatus(QUEUED, reason=f"SGE: {reason}; fix the cause, then `qmod -cj ID` or rerun",
                         never_runs=True)
    not_found = "not found" in accounting.get("err", "") or (accounting.get("rc") == 1 and not accounting.get("err"))
    if accounting and not not_found:
        return JobStatus(UNKNOWN, reason=f"qacct exited {accounting.get('rc')}: {accounting.get('err', '').strip()[:200]}")
    if state == "done":
        return JobStatus(GONE, reason="DRMAA says done, but qacct has no record of its exit status")
    return JobStatus(GONE, reason="neither the qmaster nor qacct knows the job (deleted before it ran?)")


def error_reason(qstat_j: str) -> str:
    """The 'error reason N:' lines of `qstat -j ID` for a job in an error state."""
    reasons = [m.group(1).strip() for m in re.finditer(r"^error reason\s+\d+:\s*(.*)$", qstat_j, re.M)]
    return "; ".join(reasons)


def parse_status(returncode: int, stdout: str, stderr: str, ids: list[str]) -> dict[str, JobStatus]:
    """Statuses of `ids` from one helper `status` call. QueryFailed when the helper gave no usable
    answer (no session, qmaster unreachable): no job is judged on it. A garbled line makes nothing
    of itself; ids without a line stay undecided."""
    if returncode != 0:
        detail = (stderr.strip().splitlines() or stdout.strip().splitlines() or ["no output"])[-1]
        raise QueryFailed(f"DRMAA status helper exited {returncode}: {detail[:200]}")
    statuses = {}
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("id") in ids:
            statuses[record["id"]] = status_from_record(record)
    if ids and not statuses and stdout.strip():
        raise QueryFailed(f"DRMAA status helper printed no job record: {stdout.strip()[:120]!r}")
    return statuses


def _xml(text: str):
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise ValueError(f"qstat printed no XML ({error}): {text.strip()[:120]!r}") from None


def count_user_jobs(returncode: int, stdout: str, stderr: str) -> int:
    """Jobs in `qstat -u USER -s prs -xml` (each a <job_list>); a failed query raises."""
    if returncode != 0:
        raise QueryFailed(f"qstat exited {returncode}: {stderr.strip()[:200]}")
    try:
        return len(_xml(stdout).findall(".//job_list"))
    except ValueError as error:
        raise QueryFailed(str(error)) from None


def parse_find_by_name(stdout: str, workdir: str) -> list[str]:
    """Ids (oldest first) of the `find_by_name_argv` jobs whose working directory (-wd) is `workdir`;
    `<unknown_jobs>` (no job of that name) gives []. Garbage raises ValueError."""
    root = _xml(stdout)
    if root.tag == "unknown_jobs":
        return []
    ids = []
    for element in root.findall("./djob_info/element"):
        number, cwd = element.findtext("JB_job_number"), element.findtext("JB_cwd")
        if not number or not number.isdigit():
            raise ValueError(f"garbled qstat -j record (JB_job_number {number!r})")
        if cwd == workdir:
            ids.append(number)
    return sorted(ids, key=int)


# ---------------------------------------------------------------------------------- the contract


class SgeDrmaaAdapter(SchedulerAdapter):
    NAME, TEMPLATE, JOB_ID_VAR, COMMANDS = NAME, TEMPLATE, JOB_ID_VAR, COMMANDS
    DEFAULT_LAUNCHER = "local"

    directives = staticmethod(directives)
    submit_argv = staticmethod(submit_argv)
    parse_submit = staticmethod(parse_submit)
    classify_submit_error = staticmethod(classify_submit_error)
    cancel_argv = staticmethod(cancel_argv)
    count_user_jobs_argv = staticmethod(count_user_jobs_argv)
    count_user_jobs = staticmethod(count_user_jobs)
    find_by_name_argv = staticmethod(find_by_name_argv)
    parse_find_by_name = staticmethod(parse_find_by_name)

    def status_argv(self, ids):
        return status_argv(ids)

    def parse_status(self, returncode, stdout, stderr, ids):
        return parse_status(returncode, stdout, stderr, ids)


ADAPTER = SgeDrmaaAdapter


# ---------------------------------------------------------------------------------- the helper


LIBRARY_CANDIDATES = ("{root}/lib/{arch}/libdrmaa.so", "{root}/lib/{arch}/libdrmaa.so.1.0",
                      "/usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0", "/usr/lib/libdrmaa.so.1.0",
                      "/usr/lib/x86_64-linux-gnu/libdrmaa.so.1.0")
ROOT_CANDIDATES = ("/var/lib/gridengine", "/opt/sge", "/opt/gridengine", "/usr/share/gridengine")
STATIC_TLS = "glibc.rtld.optional_static_tls=65536"
SAVED = "MDFLOW_DRMAA_SAVED"  # the caller's values of what the re-exec changed (JSON)


def sge_environment(environ: dict, exists=os.path.exists) -> dict:
    """What libdrmaa and qacct need, filled in where the caller's environment lacks it: SGE_ROOT
    (Debian: /var/lib/gridengine), SGE_CELL (default) and DRMAA_LIBRARY_PATH."""
    env = dict(environ)
    if not env.get("SGE_ROOT"):
        env["SGE_ROOT"] = next((r for r in ROOT_CANDIDATES if exists(f"{r}/default/common/act_qmaster")),
                               ROOT_CANDIDATES[0])
    env.setdefault("SGE_CELL", "default")
    if not env.get("DRMAA_LIBRARY_PATH"):
        arch = env.get("SGE_ARCH") or "lx-amd64"
        for pattern in LIBRARY_CANDIDATES:
            candidate = pattern.format(root=env["SGE_ROOT"], arch=arch)
            if exists(candidate):
                env["DRMAA_LIBRARY_PATH"] = candidate
                break
    return env


def static_tls_fix(environ: dict, error: str) -> dict | None:
    """The environment to re-execute with after `dlopen` failed with 'cannot allocate memory in
    static TLS block' (None when there is nothing more to try): a larger optional static TLS
    (glibc >= 2.32), and the library named in the error preloaded (older glibc)."""
    if "static TLS" not in error or SAVED in environ:
        return None
    env = dict(environ)
    env[SAVED] = json.dumps({k: environ.get(k) for k in ("GLIBC_TUNABLES", "LD_PRELOAD")})
    tunables = [t for t in (environ.get("GLIBC_TUNABLES") or "").split(":") if t]
    env["GLIBC_TUNABLES"] = ":".join(tunables + [STATIC_TLS])
    match = re.search(r"(/\S+\.so[.\d]*): cannot allocate memory in static TLS block", error)
    if match:
        env["LD_PRELOAD"] = " ".join(x for x in (environ.get("LD_PRELOAD"), match.group(1)) if x)
    return env


def restore_caller_environment():
    """Undo what the re-exec added (jobs get the submitting environment with -V)."""
    saved = os.environ.pop(SAVED, None)
    if saved is None:
        return
    for key, value in json.loads(saved).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _load_drmaa(argv: list[str]):
    os.environ.update(sge_environment(os.environ))
    try:
        import drmaa
    except ImportError as error:
        raise SystemExit(_die(f"the drmaa Python package is not installed ({error}): pip install drmaa"))
    except (OSError, RuntimeError) as error:
        env = static_tls_fix(dict(os.environ), str(error))
        if env is not None:
            sys.stdout.flush()
            os.execve(sys.executable, [sys.executable, "-m", HELPER, *argv], env)
        raise SystemExit(_die(f"cannot load libdrmaa ({os.environ.get('DRMAA_LIBRARY_PATH') or 'DRMAA_LIBRARY_PATH unset'}): {error}"))
    restore_caller_environment()
    return drmaa


def _die(message: str, code: int = 2) -> int:
    print(f"mdflow drmaa helper: {message}", file=sys.stderr)
    return code


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _qacct(job_id: str) -> dict:
    sge_root = os.environ.get("SGE_ROOT", "")
    binary = shutil.which("qacct") or f"{sge_root}/bin/{os.environ.get('SGE_ARCH', 'lx-amd64')}/qacct"
    try:
        answer = subprocess.run([binary, "-j", job_id.split(".")[0]], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"rc": 127, "out": "", "err": str(error)}
    return {"rc": answer.returncode, "out": answer.stdout, "err": answer.stderr}


def _qstat_j(job_id: str) -> str:
    try:
        return subprocess.run(["qstat", "-j", job_id.split(".")[0]], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _submit(session, drmaa, script: str) -> int:
    path = os.path.abspath(script)
    with open(path) as handle:
        spec = native_specification(handle.read())
    template = session.createJobTemplate()
    try:
        template.remoteCommand = path
        template.nativeSpecification = spec
        job_id = session.runJob(template)
    finally:
        session.deleteJobTemplate(template)
    print(job_id)
    return 0


def _status(session, drmaa, ids: list[str]) -> int:
    lines = []
    for job_id in ids:
        record = {"id": job_id}
        try:
            record["drmaa"] = str(session.jobStatus(job_id))
        except drmaa.errors.InvalidJobException:
            record["drmaa"] = "invalid_job"
        except (drmaa.errors.DrmCommunicationException, drmaa.errors.NoActiveSessionException,
                drmaa.errors.DrmsExitException, drmaa.errors.InternalException) as error:
            return _die(f"no answer from the qmaster: {_describe(error)}")
        except drmaa.errors.DrmaaException as error:
            record["error"] = _describe(error)
        if record.get("drmaa") in ("done", "failed", "invalid_job"):
            record["qacct"] = _qacct(job_id)
            if record["drmaa"] == "failed":
                record["qstat_j"] = _qstat_j(job_id)
        lines.append(json.dumps(record))
    print("\n".join(lines))
    return 0


def _cancel(session, drmaa, ids: list[str]) -> int:
    status = 0
    for job_id in ids:
        try:
            session.control(job_id, drmaa.JobControlAction.TERMINATE)
            print(f"{job_id} terminated")
        except drmaa.errors.InvalidJobException:
            print(f"{job_id} already gone")
        except drmaa.errors.DrmaaException as error:
            print(f"{job_id} not cancelled: {_describe(error)}", file=sys.stderr)
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    actions = {"submit": _submit, "status": _status, "cancel": _cancel}
    if not argv or argv[0] not in actions or (argv[0] == "submit" and len(argv) != 2):
        print("usage: python -m mdflow.executors.drmaa_adapter submit SCRIPT | status ID... | cancel ID...",
              file=sys.stderr)
        return 64
    drmaa = _load_drmaa(argv)
    session = drmaa.Session()
    try:
        session.initialize()
    except drmaa.errors.DrmaaException as error:
        return _die(f"cannot open a DRMAA session: {_describe(error)}")
    try:
        action, args = actions[argv[0]], argv[1:]
        try:
            return action(session, drmaa, args[0] if argv[0] == "submit" else args)
        except (drmaa.errors.DrmaaException, OSError) as error:
            return _die(_describe(error), 1)
    finally:
        try:
            session.exit()
        except Exception:  # the reply is out; a session that cannot close is the qmaster's to drop
            pass


if __name__ == "__main__":
    sys.exit(main())
