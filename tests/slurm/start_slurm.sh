#!/usr/bin/env bash
# Start a real single-host Slurm (Debian's slurm-wlm + munge) for mdflow's tests; idempotent.
# Installs the packages when missing (needs root and apt-get). Advertises 16 CPUs on this host
# ($MDFLOW_TEST_SLURM_CPUS to change: benchmarks/ensembles.py is run with 64, a realistic node)
# (SlurmdParameters=config_overrides) so ensembles and throttling have room to show.
# Prints "slurm ready" and exits 0 when `sinfo` shows the node idle; exits 1 with a reason otherwise.
set -euo pipefail

CPUS=${MDFLOW_TEST_SLURM_CPUS:-16}
if [ "$(id -u)" != 0 ]; then echo "cannot start Slurm: not root" >&2; exit 1; fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || { echo "cannot install Slurm: no apt-get" >&2; exit 1; }
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >/dev/null 2>&1 \
    || { echo "cannot install slurm-wlm/munge with apt-get" >&2; exit 1; }
fi

host=$(hostname -s)
conf_dir=/etc/slurm
mkdir -p "$conf_dir" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge /etc/munge
# Already up with the CPU count asked for: nothing to do (another count: reconfigure and restart).
if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)' && [ "$(sinfo -h -o %c 2>/dev/null | head -1)" = "$CPUS" ]; then
  echo "slurm ready"; exit 0
fi

cat > "$conf_dir/slurm.conf" <<CONF
ClusterName=mdflowtest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=600
KillWait=5
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$CPUS RealMemory=64000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=30 State=UP
PartitionName=long Nodes=ALL MaxTime=2880 State=UP
CONF

if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged 2>/dev/null || munged --force

pkill -x slurmctld 2>/dev/null || true
pkill -x slurmd 2>/dev/null || true
sleep 0.5
slurmctld -i
slurmd

for _ in $(seq 1 60); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then echo "slurm ready"; exit 0; fi
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 0.5
done
echo "Slurm did not come up; see /var/log/slurm/*.log" >&2
sinfo >&2 || true
exit 1
