"""A remote site over SSH (issue 16), against a real OpenSSH server on this host (tests/ssh/start_sshd.sh):
one shared connection, quoted remote commands, checked host keys, checked and atomic transfers that
survive a dropped connection, and the real Slurm driven through it as another user."""

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mdflow.errors import MdflowError
from mdflow.executors import adapters
from mdflow.executors.adapter import JobState
from mdflow.executors.ssh import Ssh, check_remote_side, target_of
from mdflow.io_atomic import sha256_file

HOSTILE_NAMES = ["a b.txt", "it's.txt", 'quote".txt', "$(touch PWNED).txt", "`touch PWNED`.txt", "x;touch PWNED",
                 "-rf", "*", "new\nline.txt", "ü-ñ.txt"]


def site_ssh(sshd, user="mdsitea", **extra) -> Ssh:
    site = {"name": f"site-{user}", "host": "127.0.0.1", "port": sshd["port"], "user": user,
            "ssh_options": sshd["options"], **extra}
    return Ssh(target_of(site), persist_s=60)


def logins(sshd, user) -> int:
    return (sshd["state"] / "sshd.log").read_text().count(f"Accepted publickey for {user} ")


@pytest.fixture
def remote(sshd):
    ssh = site_ssh(sshd)
    scratch = f"/home/mdsitea/scratch-{os.getpid()}-{time.monotonic_ns()}"
    ssh.check(["mkdir", "-p", scratch], "making scratch")
    yield ssh, scratch
    ssh.run(["rm", "-rf", "--", scratch])
    ssh.close()


def test_every_command_of_a_site_shares_one_connection(remote, sshd):
    ssh, scratch = remote
    ssh.check(["true"], "first command")
    before = logins(sshd, "mdsitea")
    for number in range(20):
        assert ssh.check(["echo", number], "echo").strip() == str(number)
    assert logins(sshd, "mdsitea") == before and ssh.connected()
    ssh.close()
    assert not ssh.connected()


def test_hostile_remote_paths_are_words_not_shell(remote, tmp_path):
    ssh, scratch = remote
    for name in HOSTILE_NAMES:
        local = tmp_path / "src" / name.replace("/", "_")
        local.parent.mkdir(exist_ok=True)
        local.write_text(f"content of {name}\n")
        digest = ssh.push_file(local, f"{scratch}/dir with space/{name}")
        assert ssh.check(["cat", "--", f"{scratch}/dir with space/{name}"], "cat") == f"content of {name}\n"
        back = tmp_path / "back" / f"{len(name)}-{abs(hash(name))}"
        assert ssh.pull_file(f"{scratch}/dir with space/{name}", back) == digest == sha256_file(back)
    listing = ssh.check(["ls", "-A", "--", f"{scratch}/dir with space"], "ls")
    assert "PWNED" not in ssh.check(["ls", "-A", "/home/mdsitea"], "ls").split("\n") and ".part-" not in listing
    ssh.write_text(f"{scratch}/$(touch PWNED)/job's script.sh", "#!/bin/sh\necho ran\n")
    assert ssh.check([f"{scratch}/$(touch PWNED)/job's script.sh"], "run script") == "ran\n"
    for directory in ("/home/mdsitea", scratch, f"{scratch}/dir with space"):  # no command ran: no file PWNED
        assert "PWNED" not in ssh.check(["ls", "-A", directory], "ls").split("\n")


@pytest.mark.parametrize("key, value, message", [
    ("host", "-oProxyCommand=touch /tmp/x", "is not a host name"),
    ("host", "login1;touch x", "is not a host name"),
    ("host", "two words", "is not a host name"),
    ("user", "-lroot", "is not a user name"),
    ("user", "me@there", "is not a user name"),
    ("port", "22; rm", "is not a port number"),
    ("port", 0, "is not a port number"),
    ("ssh_options", ["StrictHostKeyChecking=no"], "would stop checking the host's key"),
    ("ssh_options", ["UserKnownHostsFile=/dev/null"], "would stop checking the host's key"),
    ("ssh_options", ["ControlPath=/tmp/x"], "is set by mdflow"),
    ("ssh_options", ["ProxyCommand=sh -c 'touch x'"], "is not one `Key=Value` option"),
    ("ssh_options", ["-oProxyCommand=x"], "is not one `Key=Value` option"),
])
def test_site_values_that_ssh_could_take_for_options_are_refused_in_one_line(key, value, message):
    site = {"name": "far", "host": "login.example.org", key: value}
    with pytest.raises(MdflowError, match=f"^site far: .*{message}") as error:
        target_of(site)
    assert "\n" not in str(error.value)


def test_an_unknown_host_key_is_refused_with_one_line(sshd, tmp_path):
    (tmp_path / "known_hosts").write_text("")
    options = [o for o in sshd["options"] if not o.startswith("UserKnownHostsFile")]
    ssh = site_ssh(sshd, ssh_options=options + [f"UserKnownHostsFile={tmp_path}/known_hosts",
                                                 "GlobalKnownHostsFile=/nonexistent"])
    with pytest.raises(MdflowError, match=r"^site site-mdsitea: the host key of 127.0.0.1 is not known") as error:
        ssh.run(["true"])
    assert "\n" not in str(error.value) and (tmp_path / "known_hosts").read_text() == ""  # nothing accepted


def drop_connections_when(condition, user: str, stop: threading.Event) -> list:
    """Kill `user`'s sshd session processes (a dropped connection, as a network failure gives)
    the first time `condition()` holds; returns [True] once done."""
    dropped = []

    def watch():
        while not stop.is_set() and not dropped:
            if condition():
                subprocess.run(["pkill", "-KILL", "-u", user, "sshd"], capture_output=True)
                dropped.append(True)
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
    return dropped


def test_a_connection_dropped_mid_transfer_is_retried_and_no_half_file_is_used(remote, tmp_path, sshd):
    ssh, scratch = remote
    big = tmp_path / "trajectory.dcd"
    with open(big, "wb") as out:
        out.write(os.urandom(64 * 1024 * 1024))
    home = Path("/home/mdsitea")
    stop = threading.Event()
    dropped = drop_connections_when(lambda: any(home.glob(f"{scratch.split('/')[-1]}/*part*")) or
                                    any(home.glob(f"{scratch.split('/')[-1]}/.*part*")), "mdsitea", stop)
    try:
        digest = ssh.push_file(big, f"{scratch}/trajectory.dcd")
    finally:
        stop.set()
    assert dropped, "the transfer ended before the connection could be dropped"
    assert digest == sha256_file(big)
    assert ssh.check(["sha256sum", "--", f"{scratch}/trajectory.dcd"], "sha").split()[0] == digest

    stop = threading.Event()
    local = tmp_path / "pulled/trajectory.dcd"
    dropped = drop_connections_when(lambda: any(local.parent.glob(".*part*")), "mdsitea", stop)
    try:
        assert ssh.pull_file(f"{scratch}/trajectory.dcd", local) == digest
    finally:
        stop.set()
    assert dropped and sha256_file(local) == digest
    assert [p.name for p in local.parent.iterdir()] == ["trajectory.dcd"]  # no partial file left


def test_remote_side_is_checked_before_anything_is_submitted(remote, sshd):
    ssh, _ = remote
    check_remote_side(ssh, sshd["python"], ["sbatch", "squeue"])
    with pytest.raises(MdflowError, match=r"^site site-mdsitea \(127.0.0.1\) lacks: command bsub; "
                                          r"python /usr/bin/nothing with mdflow and snakemake"):
        check_remote_side(ssh, "/usr/bin/nothing", ["sbatch", "bsub"])


def test_the_real_slurm_driven_through_ssh_as_the_sites_user(remote, slurm):
    ssh, scratch = remote
    adapter = adapters.get("slurm")
    script = f"{scratch}/jobs/hello job.sh"
    ssh.write_text(script, f"#!/bin/bash\n#SBATCH --partition={slurm}\n#SBATCH --time=00:01:00\n"
                           f"#SBATCH --output={scratch}/jobs/hello.log\n"
                           f"sleep 2; id -un > '{scratch}/jobs/who'\n")
    answer = ssh.run(adapter.submit_argv(script))
    assert answer.returncode == 0, answer.stderr
    job_id = adapter.parse_submit(answer.stdout)
    seen, deadline = [], time.time() + 90
    while time.time() < deadline:
        status = adapter.poll([job_id], ssh, {job_id: {}})[job_id]  # squeue through the shared connection
        seen.append(status.state)
        if status.state in (JobState.SUCCESS, JobState.FAILED, JobState.GONE):
            break
        time.sleep(0.5)
    assert JobState.SUCCESS in seen or JobState.GONE in seen, seen
    assert ssh.read_texts([f"{scratch}/jobs/who", f"{scratch}/none"]) == {f"{scratch}/jobs/who": "mdsitea\n",
                                                                            f"{scratch}/none": None}
