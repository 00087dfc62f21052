#!/usr/bin/env bash
# Start a real single-host Son of Grid Engine 8.1.9 (Debian's gridengine-master/-exec/-client and
# gridengine-drmaa1.0) for mdflow's tests; idempotent, no systemd. This host is master, exec and
# submit host; queue all.q has $MDFLOW_TEST_SGE_SLOTS slots (default 8) and the parallel
# environment `smp` ($pe_slots: all slots of a job on one host) for multi-core jobs.
# Installs the packages when missing (needs root and apt-get).
# Prints "sge ready" and exits 0 once a job can be scheduled (all.q on this host reports load);
# exits 1 with the reason otherwise.
#
# What a stock Debian install lacks, and this script sets:
# - act_qmaster is empty when debconf asked no master host name (noninteractive install): the
#   host name goes there.
# - This host's name resolves to 127.0.0.1, whose reverse name is `localhost`: commlib then
#   refuses every client ("access denied (client IP resolved to host name "localhost". This is not
#   identical to clients host name ...)"). $SGE_ROOT/$SGE_CELL/common/host_aliases maps
#   localhost to the host name (sge_host_aliases(5)).
# - min_uid/min_gid 1000 in the global configuration: jobs of root (the CI user) would never run.
# - schedule_interval 0:0:15 and accounting flushed every 15 s: jobs would start only every 15 s
#   and qacct would not know a finished job for up to 15 s. The scheduler runs on every submit and
#   finish (flush_submit_sec/flush_finish_sec 1) and accounting is written at once.
# - load_thresholds np_load_avg=1.75: a busy 2-core CI box puts the queue in alarm state (no jobs).
set -euo pipefail

SLOTS=${MDFLOW_TEST_SGE_SLOTS:-8}
export SGE_ROOT=${SGE_ROOT:-/var/lib/gridengine} SGE_CELL=${SGE_CELL:-default}
export PATH="/usr/bin:/usr/sbin:$PATH"
if [ "$(id -u)" != 0 ]; then echo "cannot start SGE: not root" >&2; exit 1; fi
if ! [ -x /usr/sbin/sge_qmaster ] || ! [ -x /usr/sbin/sge_execd ] || ! command -v qconf >/dev/null \
   || ! [ -e /usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0 ]; then
  command -v apt-get >/dev/null || { echo "cannot install Grid Engine: no apt-get" >&2; exit 1; }
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
     gridengine-master gridengine-exec gridengine-client gridengine-drmaa1.0) >/dev/null 2>&1 \
    || { echo "cannot install gridengine-master/-exec/-client/-drmaa1.0 with apt-get (Debian/Ubuntu only)" >&2; exit 1; }
fi
common="$SGE_ROOT/$SGE_CELL/common"
if ! [ -f "$common/bootstrap" ]; then
  echo "no SGE cell at $common (the gridengine-master package did not create one)" >&2; exit 1
fi

host=$(hostname)
admin=$(awk '$1 == "admin_user" {print $2}' "$common/bootstrap")
mkdir -p /var/run/gridengine /var/spool/gridengine/execd
chown "${admin:-sgeadmin}" /var/run/gridengine /var/spool/gridengine/execd 2>/dev/null || true

# the host's name as SGE resolves it (its own resolver: gethostbyaddr of the address)
address=$(getent hosts "$host" | awk '{print $1; exit}')
if [ -z "$address" ]; then echo "cannot start SGE: host name $host does not resolve (add it to /etc/hosts)" >&2; exit 1; fi
reverse=$(getent hosts "$address" | awk '{print $2; exit}')
if [ -n "$reverse" ] && [ "$reverse" != "$host" ] && ! grep -qsw "$reverse" "$common/host_aliases"; then
  echo "$host $reverse" >> "$common/host_aliases"
fi
if [ "$(cat "$common/act_qmaster" 2>/dev/null)" != "$host" ]; then
  pkill -x sge_qmaster 2>/dev/null || true
  echo "$host" > "$common/act_qmaster"
fi

ready() {  # all.q on this host takes jobs: known, reporting load, not in an error/alarm/disabled state
  local line
  line=$(qstat -f -q all.q 2>/dev/null | awk -v h="all.q@$host" '$1 == h') || return 1
  [ -n "$line" ] && ! echo "$line" | awk '{print (NF >= 6 ? $6 : "")}' | grep -qE '[uaEdAC]'
}
if pgrep -x sge_qmaster >/dev/null && pgrep -x sge_execd >/dev/null && ready \
   && [ "$(qconf -sq all.q 2>/dev/null | awk '$1 == "slots" {print $2}')" = "$SLOTS" ]; then
  echo "sge ready"; exit 0
fi

# (a qmaster that is shutting down still shows in pgrep for a few seconds: start it once it is gone)
for _ in $(seq 1 60); do
  qconf -sh >/dev/null 2>&1 && break
  pgrep -x sge_qmaster >/dev/null || SGE_MASTER_PIDFILE=/var/run/gridengine/qmaster.pid /usr/sbin/sge_qmaster
  sleep 0.5
done
if ! qconf -sh >/dev/null 2>&1; then
  echo "sge_qmaster did not answer: $(qconf -sh 2>&1 | head -1); see /var/spool/gridengine/qmaster/messages" >&2; exit 1
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# global configuration: root may run jobs, accounting written at once
# (continuation lines, ending in a backslash, joined first)
qconf -sconf global | awk '{ if (sub(/\\$/, "")) { buf = buf $0; next } print buf $0; buf = "" }' \
  | sed -e 's/^min_uid .*/min_uid 0/' -e 's/^min_gid .*/min_gid 0/' \
        -e 's/^reporting_params .*/reporting_params accounting=true reporting=false flush_time=00:00:15 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00/' \
  > "$work/global"
qconf -Mconf "$work/global" >/dev/null
# scheduler: dispatch on submit and on finish, not every 15 s
qconf -ssconf | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
  -e 's/^flush_submit_sec .*/flush_submit_sec 1/' -e 's/^flush_finish_sec .*/flush_finish_sec 1/' \
  -e 's/^job_load_adjustments .*/job_load_adjustments NONE/' -e 's/^load_adjustment_decay_time .*/load_adjustment_decay_time 0:0:0/' \
  > "$work/sched"
qconf -Msconf "$work/sched" >/dev/null
qconf -sh 2>/dev/null | grep -qx "$host" || qconf -ah "$host" >/dev/null
qconf -ss 2>/dev/null | grep -qx "$host" || qconf -as "$host" >/dev/null
if ! qconf -sel 2>/dev/null | grep -qx "$host"; then
  printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' \
    "$host" > "$work/exechost"
  qconf -Ae "$work/exechost" >/dev/null
fi
cat > "$work/smp" <<PE
pe_name            smp
slots              9999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
PE
if qconf -spl 2>/dev/null | grep -qx smp; then qconf -Mp "$work/smp" >/dev/null; else qconf -Ap "$work/smp" >/dev/null; fi
cat > "$work/all.q" <<QUEUE
qname                 all.q
hostlist              $host
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               smp
rerun                 FALSE
slots                 $SLOTS
tmpdir                /tmp
shell                 /bin/bash
prolog                NONE
epilog                NONE
shell_start_mode      posix_compliant
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
QUEUE
if qconf -sql 2>/dev/null | grep -qx all.q; then qconf -Mq "$work/all.q" >/dev/null; else qconf -Aq "$work/all.q" >/dev/null; fi

for _ in $(seq 1 120); do
  pgrep -x sge_execd >/dev/null || /usr/sbin/sge_execd
  if ready; then echo "sge ready"; exit 0; fi
  qmod -c "all.q@$host" >/dev/null 2>&1 || true  # clears an error state left by an earlier run
  sleep 0.5
done
echo "SGE did not come up: all.q@$host is not ready; see /var/spool/gridengine/qmaster/messages and /var/spool/gridengine/execd/$host/messages" >&2
qstat -f >&2 || true
exit 1
