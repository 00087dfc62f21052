"""A remote site reached over SSH (issue 16): its commands, its files, its checks.

OpenSSH's own client, not a Python SSH library: it reads the user's ~/.ssh/config, agent, keys and
known_hosts as every other tool of theirs does (ProxyJump, Kerberos/GSSAPI and hardware keys
included, which clusters' login nodes often require), rsync runs over it, and its ControlMaster
multiplexes every command and transfer of a run over ONE connection per site (`ControlPersist`
keeps it between polls), so a poll costs a channel, not a login. No password is ever asked for or
stored (BatchMode=yes); host keys are always checked: options that would turn the check off are
refused.

Every remote command is an argv list, joined with POSIX shell quoting for the remote login shell
(which must be a POSIX shell: sh, bash, zsh, dash). Host, user and options are checked before they
reach ssh's command line, so none of them can be taken for an option.
"""

import dataclasses
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from mdflow.errors import MdflowError
from mdflow.project_files import INCOMING_PREFIX, STATE_DIR
from mdflow.executors.commands import run_command
from mdflow.io_atomic import sha256_file

HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*")
USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
OPTION_RE = re.compile(r"([A-Za-z][A-Za-z0-9]*)=([^\x00-\x1f\x7f'\"]+)")
# options that would let a run go on without checking whose host it talks to, or that mdflow sets
UNSAFE_OPTIONS = {"stricthostkeychecking": ("no", "off", "accept-new"), "userknownhostsfile": ("/dev/null",),
                  "globalknownhostsfile": ("/dev/null",)}
MANAGED_OPTIONS = {"batchmode", "controlmaster", "controlpath", "controlpersist"}
CONNECTION_FAILED = 255   # ssh's own exit status: no connection, lost connection, refused key
TRANSFER_TRIES = 4
HOST_KEY_MESSAGES = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
                     "No matching host key", "host key for", "have requested strict checking")


# Placing files on a site: checked by sha256, renamed into place. Run again after a dropped
# connection, the first run may have placed them already: then the file in place is checked
# instead, so both commands can be retried.
PLACE_FILE = (  # $1 the copied file, $2 its sha256, $3 where it goes
    'if [ ! -e "$1" ] && [ -f "$3" ]; then h=$(sha256sum < "$3" | cut -d" " -f1); '
    '[ "$h" = "$2" ] && exit 0; echo "checksum mismatch: got $h" >&2; exit 65; fi; '
    'h=$(sha256sum < "$1" | cut -d" " -f1); if [ "$h" != "$2" ]; then rm -f -- "$1"; '
    'echo "checksum mismatch: got $h" >&2; exit 65; fi; mv -f -- "$1" "$3"')
PLACE_TREE = (  # $1 root, $2 the directory rsync filled, then pairs of relative path and sha256
    'root=$1; in=$2; shift 2; bad=0; while [ $# -gt 0 ]; do f=$1; h=$2; shift 2; '
    'if [ ! -e "$in/$f" ] && [ -f "$root/$f" ]; then '  # placed by a run cut off before it answered
    'got=$(sha256sum < "$root/$f" | cut -d" " -f1); [ "$got" = "$h" ] && continue; '
    'echo "checksum mismatch: $f" >&2; bad=1; continue; fi; '
    'got=$(sha256sum < "$in/$f" | cut -d" " -f1); if [ "$got" != "$h" ]; then echo "checksum mismatch: $f" >&2; '
    'bad=1; continue; fi; mkdir -p -- "$(dirname -- "$root/$f")" && mv -f -- "$in/$f" "$root/$f" || bad=1; '
    'done; rm -rf -- "$in"; exit $((bad ? 65 : 0))')


@dataclasses.dataclass(frozen=True)
class SshTarget:
    """Where a site's commands go: `host` (and `user`, `port`, `ssh_options`) of its mdflow.yaml."""

    site: str
    host: str
    user: str | None = None
    port: int | None = None
    options: tuple = ()      # "Key=Value" items, passed as `-o Key=Value`
    login_env: tuple = ()    # shell lines run before each command (`module load slurm`), the site's own

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def target_of(site: dict) -> SshTarget | None:
    """The site's SSH target, or None for a site mdflow runs on; MdflowError (one line) for a host,
    user, port or option that cannot be used safely."""
    host = site.get("host")
    if not host:
        return None
    name = site.get("name", "this site")
    where = f"site {name}"
    if not isinstance(host, str) or not HOST_RE.fullmatch(host) or host.startswith("-"):
        raise MdflowError(f"{where}: host {host!r} is not a host name or address (letters, digits, . _ - ; "
                          f"an IPv6 address)")
    user = site.get("user")
    if user is not None and (not isinstance(user, str) or not USER_RE.fullmatch(user)):
        raise MdflowError(f"{where}: user {user!r} is not a user name (letters, digits, . _ -, not starting with -)")
    port = site.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise MdflowError(f"{where}: port {port!r} is not a port number (1-65535)")
    options = []
    for item in site.get("ssh_options") or []:
        match = OPTION_RE.fullmatch(str(item))
        if not match:
            raise MdflowError(f"{where}: ssh_options item {item!r} is not one `Key=Value` option "
                              f"(no quotes or line breaks)")
        key, value = match.group(1).lower(), match.group(2).strip().lower()
        if value in UNSAFE_OPTIONS.get(key, ()):
            raise MdflowError(f"{where}: ssh_options {item!r} would stop checking the host's key; add the key to "
                              f"known_hosts instead (connect once with ssh)")
        if key in MANAGED_OPTIONS:
            raise MdflowError(f"{where}: ssh_options {item!r} is set by mdflow (one shared connection, no prompts)")
        options.append(str(item))
    login_env = site.get("login_env") or []
    if not isinstance(login_env, list) or not all(isinstance(line, str) for line in login_env):
        raise MdflowError(f"{where}: login_env must be a list of shell lines (e.g. `module load slurm`)")
    return SshTarget(name, host, user, port, tuple(options), tuple(login_env))


def control_dir() -> Path:
    """Where the per-site ControlMaster sockets live: short (a socket path has ~100 characters),
    private to this user."""
    path = Path(tempfile.gettempdir()) / f"mdflow-ssh-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_uid != os.getuid() or path.stat().st_mode & 0o077:
        raise MdflowError(f"{path}: not a private directory of this user; remove it")
    return path


class Ssh:
    """Commands and files of one remote site, over one multiplexed connection."""

    def __init__(self, target: SshTarget, persist_s: int = 600, connect_timeout_s: int = 20):
        self.target = target
        self.persist_s, self.connect_timeout_s = persist_s, connect_timeout_s
        self.socket_dir = control_dir()

    # -- command lines ------------------------------------------------------------------------
    def ssh_options(self) -> list[str]:
        """ssh's options for this site (no destination): the user's, then the connection sharing."""
        argv = []
        for option in self.target.options:
            argv += ["-o", option]
        argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout_s}",
                 "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
                 "-o", "ControlMaster=auto", "-o", f"ControlPath={self.socket_dir}/%C",
                 "-o", f"ControlPersist={self.persist_s}"]
        if self.target.port:
            argv += ["-p", str(self.target.port)]
        return argv

    def argv(self, remote_argv: list) -> list[str]:
        """The local argv that runs `remote_argv` on the site, each word quoted for its shell."""
        command = shlex.join(str(a) for a in remote_argv)
        if self.target.login_env:  # the site's own setup lines (trusted like `env:`), then the quoted command
            command = "\n".join([*self.target.login_env, command])
        return ["ssh", *self.ssh_options(), "--", self.target.destination, command]

    # -- running ------------------------------------------------------------------------------
    def run(self, remote_argv: list, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
        """Run `remote_argv` on the site, as commands.run_command runs one here: a hang, a lost
        connection or a missing ssh is a failed answer (exit 124, 255, 127), not an exception.
        Refused host keys raise MdflowError: no retry can fix them."""
        argv = self.argv(remote_argv)
        try:
            answer = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                                    stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", f"{remote_argv[0]} on {self.target.host} timed out "
                                                              f"after {timeout} s")
        except FileNotFoundError:
            return subprocess.CompletedProcess(argv, 127, "", "ssh: command not found")
        if answer.returncode == CONNECTION_FAILED:
            self.refuse_host_key(answer.stderr)
        return answer

    def __call__(self, remote_argv: list, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run(remote_argv, timeout=timeout)

    def refuse_host_key(self, stderr: str) -> None:
        if any(message in stderr for message in HOST_KEY_MESSAGES):
            raise MdflowError(f"site {self.target.site}: the host key of {self.target.host} is not known or has "
                              f"changed; check it and add it to known_hosts (`ssh {self.target.destination}` once), "
                              f"mdflow does not accept unknown keys")

    def check(self, remote_argv: list, what: str, timeout: float = 120) -> str:
        """Run and return stdout; MdflowError (one line) naming `what` when it fails."""
        answer = self.run(remote_argv, timeout=timeout)
        if answer.returncode != 0:
            last = (answer.stderr.strip().splitlines() or [f"exit status {answer.returncode}"])[-1]
            raise MdflowError(f"site {self.target.site} ({self.target.host}): {what} failed: {last}")
        return answer.stdout

    def close(self) -> None:
        """End the shared connection (ControlPersist would end it after persist_s idle seconds)."""
        subprocess.run(["ssh", *self.ssh_options(), "-O", "exit", "--", self.target.destination],
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)

    def connected(self) -> bool:
        """Whether the shared connection is up (`ssh -O check`)."""
        return subprocess.run(["ssh", *self.ssh_options(), "-O", "check", "--", self.target.destination],
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL).returncode == 0

    # -- files --------------------------------------------------------------------------------
    def rsync_shell(self) -> str:
        """rsync's -e: ssh with this site's options, quoted as rsync splits it (single quotes; the
        options hold none: target_of refuses them)."""
        return shlex.join(["ssh", *self.ssh_options()])

    def push_file(self, local: Path, remote_path: str, tries: int = TRANSFER_TRIES) -> str:
        """Copy `local` to `remote_path` on the site: into a temporary name beside it, checked by
        sha256 there, then renamed; a dropped connection is retried. Returns the sha256."""
        digest = sha256_file(local)
        part = f"{remote_path}.part-{os.getpid()}"
        self.retry(lambda: self.copy_up(Path(local), part), f"copying {local} to {remote_path}", tries)
        self.retry(lambda: self.run(["sh", "-c", PLACE_FILE, "sh", part, digest, remote_path]),
                   f"placing {remote_path}", tries)
        return digest

    def copy_up(self, local: Path, remote_path: str) -> subprocess.CompletedProcess:
        argv = ["rsync", "--protect-args", "--times", "-e", self.rsync_shell(), "--", str(local),
                f"{self.target.destination}:{remote_path}"]
        self.mkdir(posix_parent(remote_path))
        return run_command(argv, timeout=3600)

    def pull_file(self, remote_path: str, local: Path, expected_sha256: str | None = None,
                  tries: int = TRANSFER_TRIES) -> str:
        """Copy `remote_path` to `local`: to a temporary name beside it, checked against
        `expected_sha256` (else the site's own sha256sum of the file), then renamed. A half-copied
        file never appears under `local`; a dropped connection is retried. Returns the sha256."""
        local = Path(local)
        if expected_sha256 is None:
            out = self.check(["sh", "-c", 'sha256sum < "$1"', "sh", remote_path], f"checksumming {remote_path}")
            expected_sha256 = out.split()[0]
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(f".{local.name}.part-{os.getpid()}")
        argv = ["rsync", "--protect-args", "--times", "-e", self.rsync_shell(), "--",
                f"{self.target.destination}:{glob_escaped(remote_path)}", str(part)]
        try:
            for attempt in range(tries):
                self.retry(lambda: run_command(argv, timeout=3600), f"copying {remote_path} from the site", tries)
                got = sha256_file(part)
                if got == expected_sha256:
                    os.replace(part, local)
                    return got
                part.unlink()
            raise MdflowError(f"site {self.target.site}: {remote_path} arrived with sha256 {got}, expected "
                              f"{expected_sha256}, {tries} times; it was not placed at {local}")
        finally:
            part.unlink(missing_ok=True)

    def pull_tree(self, remote_root: str, expected: dict, local_root: Path, tries: int = TRANSFER_TRIES) -> None:
        """Copy many files at once: `expected` {relative path: sha256} from under `remote_root` to the
        same paths under `local_root`, with ONE rsync (--files-from) into a private directory beside
        them, each checked by sha256 and then renamed into place; a file that arrived altered is
        copied again (up to `tries` rounds), then MdflowError. Nothing half-copied is ever placed."""
        local_root = Path(local_root)
        (local_root / STATE_DIR).mkdir(exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=f"{INCOMING_PREFIX}{os.getpid()}-", dir=local_root / STATE_DIR))
        wanted = dict(expected)
        try:
            for _ in range(tries):
                listing = incoming.with_suffix(".list")
                listing.write_bytes(b"\0".join(name.encode() for name in sorted(wanted)) + b"\0")
                argv = ["rsync", "--protect-args", "--times", "--from0", f"--files-from={listing}",
                        "-e", self.rsync_shell(), "--", f"{self.target.destination}:{remote_root.rstrip('/')}/",
                        f"{incoming}/"]
                self.retry(lambda: run_command(argv, timeout=3600), f"copying {len(wanted)} file(s) from the site",
                           tries)
                for name, digest in list(wanted.items()):
                    arrived = incoming / name
                    if arrived.is_file() and sha256_file(arrived) == digest:
                        (local_root / name).parent.mkdir(parents=True, exist_ok=True)
                        os.replace(arrived, local_root / name)
                        del wanted[name]
                if not wanted:
                    return
            raise MdflowError(f"site {self.target.site}: {', '.join(sorted(wanted)[:3])} arrived with other sha256 "
                              f"than the site's {tries} times; not placed")
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
            incoming.with_suffix(".list").unlink(missing_ok=True)

    def push_tree(self, local_root: Path, digests: dict, remote_root: str, tries: int = TRANSFER_TRIES) -> None:
        """Copy many files at once: `digests` {relative path: sha256} from under `local_root` to the same
        paths under `remote_root`, with ONE rsync into a private directory there and ONE command that
        checks each file's sha256 and renames it into place (MdflowError naming any that differ)."""
        incoming = f"{remote_root.rstrip('/')}/.mdflow/incoming-{os.getpid()}-{time.monotonic_ns()}"
        with tempfile.NamedTemporaryFile("wb", suffix=".list", delete=False) as listing:
            listing.write(b"\0".join(name.encode() for name in sorted(digests)) + b"\0")
        argv = ["rsync", "--protect-args", "--times", "--from0", f"--files-from={listing.name}", "-e",
                self.rsync_shell(), "--", f"{Path(local_root)}/", f"{self.target.destination}:{incoming}/"]
        pairs = [item for name in sorted(digests) for item in (name, digests[name])]
        try:
            self.mkdir(incoming)
            self.retry(lambda: run_command(argv, timeout=3600), f"copying {len(digests)} file(s) to the site", tries)
            self.retry(lambda: self.run(["sh", "-c", PLACE_TREE, "sh", remote_root, incoming, *pairs]),
                       f"placing {len(digests)} file(s) on the site", tries)
        finally:
            os.unlink(listing.name)

    def mkdir(self, remote_dir: str) -> None:
        self.retry(lambda: self.run(["mkdir", "-p", "--", remote_dir]), f"creating {remote_dir}")

    def write_text(self, remote_path: str, text: str) -> None:
        """`text` as the file `remote_path` (a batch script): sent on stdin, renamed into place."""
        part = f"{remote_path}.part-{os.getpid()}"
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$2" && chmod +x "$2" && mv -f -- "$2" "$1"'
        self.retry(lambda: self.run(["sh", "-c", script, "sh", remote_path, part], input=text),
                   f"writing {remote_path}")

    def read_texts(self, remote_paths: list) -> dict:
        """{path: text or None when absent} of several small files, in one command."""
        if not remote_paths:
            return {}
        marker = "mdflow-" + hashlib.sha256(os.urandom(16)).hexdigest()[:16]
        script = ('m=$1; shift; for f in "$@"; do if [ -f "$f" ]; then printf "%s present %s\\n" "$m" "$f"; cat -- "$f"; '
                  'printf "\\n"; else printf "%s absent %s\\n" "$m" "$f"; fi; done')
        answer = self.run(["sh", "-c", script, "sh", marker, *remote_paths])
        if answer.returncode != 0:
            raise RuntimeError(f"reading {len(remote_paths)} file(s) on {self.target.host}: "
                               f"{answer.stderr.strip() or answer.returncode}")
        return parse_file_listing(answer.stdout, marker, remote_paths)

    def retry(self, attempt, what: str, tries: int = TRANSFER_TRIES) -> subprocess.CompletedProcess:
        """Run `attempt()` until it succeeds; a lost connection (255) or rsync's connection/IO
        failures (10-14, 23, 30, 35) are retried with backoff; anything else is MdflowError."""
        delay = 1.0
        for number in range(1, tries + 1):
            answer = attempt()
            if answer.returncode == 0:
                return answer
            if answer.returncode == CONNECTION_FAILED:
                self.refuse_host_key(answer.stderr)
            passing = answer.returncode in (CONNECTION_FAILED, 124, 10, 11, 12, 13, 14, 23, 30, 35)
            if not passing or number == tries:
                last = (answer.stderr.strip().splitlines() or [f"exit status {answer.returncode}"])[-1]
                raise MdflowError(f"site {self.target.site} ({self.target.host}): {what} failed: {last}")
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")


def parse_file_listing(text: str, marker: str, paths: list) -> dict:
    """Ssh.read_texts' answer -> {path: text | None}: each present file is its marker line, its
    content, then one newline."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    found, current, body = {}, None, []
    for line in lines + [f"{marker} end -"]:
        if not line.startswith(marker + " "):
            body.append(line)
            continue
        if current is not None:
            found[current] = "\n".join(body)
        _, state, path = line.split(" ", 2)
        current, body = (path if state == "present" else None), []
    return {path: found.get(path) for path in paths}


def glob_escaped(path: str) -> str:
    """A remote source path as rsync's receiver takes it literally: it expands wildcards in source
    paths itself, --protect-args or not."""
    return re.sub(r"([\\*?\[])", r"\\\1", path)


def posix_parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path.strip("/") else ("/" if path.startswith("/") else ".")


@dataclasses.dataclass(frozen=True)
class RemoteSide:
    """What `check_remote_side` found on a site: its work directory (absolute), the user commands
    run as, and the site's own mdflow workflow (the Snakefile its batch jobs run)."""

    directory: str
    user: str
    snakefile: str


REMOTE_CHECK = ('py=$1; dir=$2; shift 2; for c in "$@"; do command -v "$c" >/dev/null 2>&1 || echo "lacks command $c"; done; '
                '"$py" -c "import mdflow, snakemake" >/dev/null 2>&1 || echo "lacks python $py with mdflow and snakemake"; '
                'mkdir -p -- "$dir" && cd -- "$dir" && echo "dir $(pwd -P)"; echo "user $(id -un)"; '
                '"$py" -c "import mdflow.paths as p; print(\'snakefile\', p.SNAKEFILE)" 2>/dev/null || true')


def parse_remote_check(text: str) -> tuple[list, dict]:
    """REMOTE_CHECK's answer -> (what the site lacks, {'dir', 'user', 'snakefile'})."""
    lacks, found = [], {}
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "lacks":
            lacks.append(rest)
        elif word in ("dir", "user", "snakefile") and rest:
            found[word] = rest
    return lacks, found


def check_remote_side(ssh: Ssh, python: str, commands: list, directory: str = ".") -> RemoteSide:
    """Before submitting anything: the site has the scheduler's commands and a Python with mdflow
    and Snakemake (`python:` of the site); its work `directory` is created. MdflowError, one line
    naming what is missing."""
    answer = ssh.run(["sh", "-c", REMOTE_CHECK, "sh", python, directory, *commands], timeout=60)
    if answer.returncode != 0:
        last = (answer.stderr.strip().splitlines() or [f"exit status {answer.returncode}"])[-1]
        raise MdflowError(f"site {ssh.target.site}: cannot reach {ssh.target.destination}: {last}")
    lacks, found = parse_remote_check(answer.stdout)
    if "dir" not in found:
        lacks.append(f"a writable directory {directory}")
    if lacks:
        raise MdflowError(f"site {ssh.target.site} ({ssh.target.host}) lacks: {'; '.join(lacks)} "
                          f"(set `python:`, `login_env:` or `remote_dir:` in its mdflow.yaml)")
    return RemoteSide(found["dir"], found.get("user", ""), found.get("snakefile", ""))
