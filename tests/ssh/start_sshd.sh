#!/usr/bin/env bash
# Start a real OpenSSH server (Debian's openssh-server) on 127.0.0.1:$MDFLOW_TEST_SSH_PORT (2222) for
# the remote-site tests (issue 16); idempotent. Two local accounts play two sites, each with its own
# home (and so its own scratch): mdsitea and mdsiteb. A key pair for the test client and the
# server's host key are generated here, in $STATE (/tmp/mdflow-sshd): the tests point ssh at them
# with `ssh_options` (IdentityFile, UserKnownHostsFile), as a user's ~/.ssh would; host keys stay
# checked. Prints "sshd ready" and exits 0 when a login works; exits 1 with a reason otherwise.
set -euo pipefail

PORT=${MDFLOW_TEST_SSH_PORT:-2222}
STATE=${MDFLOW_TEST_SSH_STATE:-/tmp/mdflow-sshd}
USERS="mdsitea mdsiteb"
if [ "$(id -u)" != 0 ]; then echo "cannot start sshd: not root" >&2; exit 1; fi
if ! command -v /usr/sbin/sshd >/dev/null || ! command -v rsync >/dev/null; then
  command -v apt-get >/dev/null || { echo "cannot install openssh-server: no apt-get" >&2; exit 1; }
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server rsync) >/dev/null 2>&1 \
    || { echo "cannot install openssh-server/rsync with apt-get" >&2; exit 1; }
fi

mkdir -p "$STATE" /run/sshd
chmod 755 "$STATE"
[ -f "$STATE/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE/host_ed25519"
[ -f "$STATE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE/id_ed25519" -C mdflow-test-client
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$STATE/host_ed25519.pub")" > "$STATE/known_hosts"

for user in $USERS; do
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  usermod -p "*" "$user"  # no password, but not "locked" (sshd without PAM refuses locked accounts)
  home=$(getent passwd "$user" | cut -d: -f6)
  install -d -m 700 -o "$user" -g "$user" "$home/.ssh"
  install -m 600 -o "$user" -g "$user" "$STATE/id_ed25519.pub" "$home/.ssh/authorized_keys"
done

cat > "$STATE/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $STATE/host_ed25519
PidFile $STATE/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $USERS
UsePAM no
MaxSessions 50
MaxStartups 50:30:100
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
CONF

# The sites' own Python: Debian's python3 (readable by the site accounts, unlike a root-owned build)
# in a venv that sees the packages of the repository's .venv (same minor version: same ABI).
VENV=${MDFLOW_TEST_VENV:-$(cd "$(dirname "$0")/../.." && pwd)/.venv}
if [ -x "$VENV/bin/python" ] && [ -x /usr/bin/python3 ] && [ ! -x "$STATE/site-python/bin/python" ]; then
  packages=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  /usr/bin/python3 -m venv --without-pip "$STATE/site-python"
  site_dir=$("$STATE/site-python/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; site.addsitedir('$packages')" > "$site_dir/mdflow-test-venv.pth"
fi

if ! { [ -f "$STATE/sshd.pid" ] && kill -0 "$(cat "$STATE/sshd.pid")" 2>/dev/null; }; then
  /usr/sbin/sshd -f "$STATE/sshd_config" -E "$STATE/sshd.log"
fi
for _ in $(seq 50); do
  if ssh -o BatchMode=yes -o IdentityFile="$STATE/id_ed25519" -o UserKnownHostsFile="$STATE/known_hosts" \
       -o IdentitiesOnly=yes -p "$PORT" mdsitea@127.0.0.1 true 2>/dev/null; then
    echo "sshd ready"; exit 0
  fi
  sleep 0.2
done
echo "sshd did not accept a login on 127.0.0.1:$PORT (see $STATE/sshd.log)" >&2
exit 1
