"""A batch site on another host (issue 16): the project mirrored in the site's `remote_dir`.

The project on this host stays the one truth. Before a batch job is submitted, the files it reads
are copied to the same project-relative paths under the site's work directory (only those whose
sha256 differs there); its batch script is written there and submitted over SSH; when it has
ended, the files it wrote are copied back, each checked by sha256 and renamed into place, before
the executor reports it to Snakemake. So Snakemake plans on this host's files as for a local
site, and `push`/`pull` keep their manifests: a staged file that changed on the way is refused by
the next step as today.

Every command goes through one `Ssh` (one multiplexed connection). What the job's command line
names on this host (the Python, mdflow's Snakefile, the project, Snakemake's caches) is rewritten
to the site's (`remote_command`, pure).
"""

import os
import posixpath
import shlex
from pathlib import Path

from mdflow.errors import MdflowError
from mdflow.executors.ssh import Ssh, check_remote_side, target_of
from mdflow.io_atomic import sha256_file

SHELL_OPERATORS = {"&&", "||", ";", "|"}
PATHS_PER_COMMAND = 400   # keeps one remote command line far below ARG_MAX
CHECKSUMS = 'for f in "$@"; do if [ -f "$f" ]; then sha256sum < "$f" | cut -d" " -f1; else echo -; fi; done'


def remote_command(command: str, replacements: list, option_values: dict) -> str:
    """`command` (a shell command line of Snakemake's) with each word that is, or lies under, a
    local path of `replacements` [(local, remote)] (first match wins: list the specific ones
    first) given its remote path, and the value of each option in `option_values` replaced."""
    words, rewritten, replace_next = shlex.split(command), [], None
    for word in words:
        if replace_next is not None:
            rewritten.append(replace_next)
            replace_next = None
            continue
        if word in option_values:
            rewritten.append(word)
            replace_next = option_values[word]
            continue
        for local, remote in replacements:
            if word == local or word.startswith(local.rstrip("/") + "/"):
                word = remote + word[len(local):]
                break
        rewritten.append(word)
    return " ".join(w if w in SHELL_OPERATORS else shlex.quote(w) for w in rewritten)


def parse_checksums(text: str, paths: list) -> dict:
    """CHECKSUMS' answer (one line per path, in order: sha256 or '-') -> {path: sha256 | None}."""
    lines = text.split("\n")[:len(paths)]
    if len(lines) != len(paths) or any(not (line == "-" or len(line) == 64) for line in lines):
        raise RuntimeError(f"garbled checksum listing for {len(paths)} file(s): {text[:200]!r}")
    return {path: (None if line == "-" else line) for path, line in zip(paths, lines)}


class RemoteSite:
    """One remote site's files and commands; `prepare` once before anything is submitted."""

    def __init__(self, site: dict, project: Path):
        self.site, self.project = site, Path(project)
        self.ssh = Ssh(target_of(site))
        self.python = site.get("python") or "python3"
        self.directory_setting = site.get("remote_dir") or f"mdflow/{self.project.name}"
        self.side = None
        self.known = {}  # remote path -> sha256 it is known to have there (pushed or pulled by this run)

    @property
    def name(self) -> str:
        return self.ssh.target.site

    @property
    def directory(self) -> str:
        """The work directory on the site: as the site reported it once prepared; before that as the
        profile says (relative to the remote home, where every command starts)."""
        return self.side.directory if self.side else self.directory_setting

    @property
    def user(self) -> str:
        return self.side.user or self.ssh.target.user or os.environ.get("USER", "")

    def prepare(self, commands: list, files: list, directories: list) -> None:
        """Check the site (MdflowError, one line), create its work directory and `directories`
        (project-relative) there, and bring `files` (the campaign's definition) up to date."""
        self.side = check_remote_side(self.ssh, self.python, [*commands, "sha256sum", "rsync"],
                                      self.directory_setting)
        remote_dirs = [self.remote_path(d) for d in directories]
        if remote_dirs:
            self.ssh.check(["mkdir", "-p", "--", *remote_dirs], "creating the work directories")
        self.stage_in(files)

    def remote_path(self, local) -> str:
        """The site's path of a project file (absolute or project-relative); MdflowError for one
        outside the project: the site sees only the project's files."""
        path = Path(local)
        absolute = path if path.is_absolute() else self.project / path
        try:
            relative = absolute.resolve(strict=False).relative_to(self.project.resolve())
        except ValueError:
            raise MdflowError(f"site {self.name}: {local} lies outside the project {self.project}; a remote site "
                              f"gets only the project's files: move it into the project") from None
        return posixpath.join(self.directory, relative.as_posix()) if str(relative) != "." else self.directory

    def checksums(self, remote_paths: list) -> dict:
        """{remote path: sha256 | None (absent)} in one command per PATHS_PER_COMMAND paths;
        RuntimeError when the site gave no usable answer."""
        found = {}
        for start in range(0, len(remote_paths), PATHS_PER_COMMAND):
            chunk = remote_paths[start:start + PATHS_PER_COMMAND]
            answer = self.ssh.run(["sh", "-c", CHECKSUMS, "sh", *chunk])
            if answer.returncode != 0:
                raise RuntimeError(f"checksums on {self.ssh.target.host} failed: "
                                   f"{answer.stderr.strip()[-200:] or answer.returncode}")
            found.update(parse_checksums(answer.stdout, chunk))
        return found

    def relative(self, local) -> str:
        """A project file's path relative to the project (MdflowError outside it, as remote_path)."""
        return posixpath.relpath(self.remote_path(local), self.directory)

    def stage_in(self, files: list) -> int:
        """Copy the project `files` the site lacks or holds other bytes of (one checksum command,
        one rsync, one placing command for all); the number copied. MdflowError when the site
        cannot be reached (after ssh.py's retries)."""
        local = {str(f): sha256_file(self.project / f) for f in sorted({str(f) for f in files})
                 if (self.project / f).is_file()}
        unknown = [f for f, digest in local.items() if self.known.get(self.remote_path(f)) != digest]
        if not unknown:
            return 0
        try:
            there = self.checksums([self.remote_path(f) for f in unknown])
        except RuntimeError as error:
            raise MdflowError(f"site {self.name}: {error}") from None
        send = {self.relative(f): local[f] for f in unknown if there.get(self.remote_path(f)) != local[f]}
        if send:
            self.ssh.push_tree(self.project, send, self.directory)
        for f in unknown:
            self.known[self.remote_path(f)] = local[f]
        return len(send)

    def stage_out(self, files: list) -> list:
        """Copy back what the site wrote of the project `files` (one checksum command and one rsync
        for all; each file checked by sha256, renamed into place); returns those the site does not
        have. RuntimeError/MdflowError when the site cannot be reached: nothing half-copied is left."""
        files = sorted({str(f) for f in files})
        there = self.checksums([self.remote_path(f) for f in files])
        missing, fetch = [], {}
        for f in files:
            digest = there[self.remote_path(f)]
            if digest is None:
                missing.append(f)
                continue
            local = self.project / f
            if not (local.is_file() and sha256_file(local) == digest):
                fetch[self.relative(f)] = digest
            self.known[self.remote_path(f)] = digest
        if fetch:
            self.ssh.pull_tree(self.directory, fetch, self.project)
        return missing

    def write_script(self, local_script: Path) -> str:
        """The batch script (written on this host for the record) placed on the site; its remote path."""
        remote = self.remote_path(local_script)
        self.ssh.write_text(remote, Path(local_script).read_text())
        return remote

    def read_texts(self, local_paths: list) -> dict:
        """{local path: text | None} of small project files as the site has them (outcome records)."""
        remote = {self.remote_path(p): p for p in local_paths}
        return {remote[path]: text for path, text in self.ssh.read_texts(list(remote)).items()}

    def command(self, exec_job: str, local_python: str, local_snakefile: str, mdflow_snakefile: str) -> str:
        """Snakemake's job command line as the site runs it: its Python, its mdflow's Snakefile
        (when the job runs mdflow's workflow), its copy of the project, its own caches."""
        python_dir = posixpath.dirname(self.python) if "/" in self.python else ""
        replacements = [(local_python, self.python)]
        if Path(local_snakefile).resolve() == Path(mdflow_snakefile).resolve() and self.side.snakefile:
            replacements.append((local_snakefile, self.side.snakefile))
        replacements.append((str(self.project), self.directory))
        options = {"--runtime-source-cache-path": posixpath.join(self.directory, ".snakemake", "source-cache")}
        if python_dir:
            options["--scheduler-solver-path"] = python_dir
        return remote_command(exec_job, replacements, options)
