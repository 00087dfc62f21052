"""Pure parts of the SSH site (issue 16): the remote command line and the several-files answer."""

import hashlib
import shlex
import subprocess

from mdflow.executors.ssh import PLACE_FILE, PLACE_TREE, Ssh, SshTarget, parse_file_listing, posix_parent

M = "mdflow-0123456789abcdef"


def test_file_listing_keeps_each_file_exactly():
    text = (f"{M} present /a\nmdsitea\n\n{M} absent /b\n{M} present /c\nno newline\n{M} present /d\n\n"
            f"{M} present /e\nx\n\nmore\n\n")
    assert parse_file_listing(text, M, ["/a", "/b", "/c", "/d", "/e", "/f"]) == {
        "/a": "mdsitea\n", "/b": None, "/c": "no newline", "/d": "", "/e": "x\n\nmore\n", "/f": None}


def test_file_listing_paths_with_spaces():
    assert parse_file_listing(f"{M} present /x y/z w\n1\n\n", M, ["/x y/z w"]) == {"/x y/z w": "1\n"}


def test_remote_argv_is_one_quoted_word_after_the_destination(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    ssh = Ssh(SshTarget("s", "login1", "me", 2222, ("IdentityFile=/k",)))
    argv = ssh.argv(["cat", "--", "/p/$(x) y'z"])
    assert argv[:3] == ["ssh", "-o", "IdentityFile=/k"] and argv[-3:-1] == ["--", "me@login1"]
    assert shlex.split(argv[-1]) == ["cat", "--", "/p/$(x) y'z"]
    assert "BatchMode=yes" in argv and ["-p", "2222"] == argv[argv.index("-p"):argv.index("-p") + 2]


def test_posix_parent():
    assert [posix_parent(p) for p in ["/a/b", "a/b/c", "b", "/b"]] == ["/a", "a/b", ".", "/"]
from mdflow.executors.ssh import glob_escaped


def test_rsync_source_paths_are_taken_literally():
    assert glob_escaped(r"/a/*b?[c]\d") == r"/a/\*b\?\[c]\\d"


def _sh(script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script, "sh", *map(str, args)], capture_output=True, text=True)


def test_placing_again_after_a_cut_connection_finds_the_files_already_placed(tmp_path):
    """A dropped connection can end ssh after the site ran the placing command: the retry must accept
    what that run placed (seen in CI: 'checksum mismatch: resources/villin.pdb' ended a run)."""
    root, incoming = tmp_path / "root", tmp_path / "root/.mdflow/incoming-1"
    (incoming / "resources").mkdir(parents=True)
    (incoming / "resources/a.pdb").write_text("atoms\n")
    digest = hashlib.sha256(b"atoms\n").hexdigest()
    assert _sh(PLACE_TREE, root, incoming, "resources/a.pdb", digest).returncode == 0
    assert (root / "resources/a.pdb").read_text() == "atoms\n" and not incoming.exists()
    assert _sh(PLACE_TREE, root, incoming, "resources/a.pdb", digest).returncode == 0  # the retry
    changed = _sh(PLACE_TREE, root, incoming, "resources/a.pdb", "0" * 64)
    assert changed.returncode == 65 and "checksum mismatch: resources/a.pdb" in changed.stderr

    part, final = tmp_path / "f.part-1", tmp_path / "f"
    part.write_text("atoms\n")
    assert _sh(PLACE_FILE, part, digest, final).returncode == 0 and final.read_text() == "atoms\n"
    assert _sh(PLACE_FILE, part, digest, final).returncode == 0  # the retry
    assert _sh(PLACE_FILE, part, "0" * 64, final).returncode == 65
