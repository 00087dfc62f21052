#!/bin/bash
#$ -N simulate.villin.0.000
#$ -S /bin/bash
#$ -V
#$ -wd /home/me/project
#$ -o /home/me/project/logs/batch/ci/simulate.villin.0.000.a1.log
#$ -j y
#$ -l h_rt=01:30:00
#$ -l s_rt=5280
#$ -pe smp 4
#$ -q all.q

# mdflow job simulate.villin.0.000 (site sge, scheduler sge)

# The job records its own outcome (exit status, times, host): mdflow reads it before asking the
# scheduler, which may keep no history of finished jobs.
mdflow_outcome=/home/me/project/logs/batch/ci/simulate.villin.0.000.a1.outcome.json
mdflow_started=$(date +%s)
mdflow_record() {  # never changes the job's exit status, whatever happens here
  { mkdir -p "$(dirname "$mdflow_outcome")" &&
    printf '{"job_id": "%s", "exit_status": %d, "started": %s, "ended": %s, "host": "%s"}\n' \
      "${JOB_ID:-}" "$1" "$mdflow_started" "$(date +%s)" "$(hostname 2>/dev/null || uname -n)" \
      > "$mdflow_outcome.$$" && mv -f "$mdflow_outcome.$$" "$mdflow_outcome"; } 2>/dev/null || true
}
trap 'mdflow_record $?' EXIT
trap 'exit 143' TERM
trap 'exit 129' HUP

# SIGUSR1 at the soft walltime (s_rt) goes to every process of the job: ignored here and in Snakemake
# (inherited), answered by a running segment, which checkpoints and exits before SIGKILL at h_rt
trap '' USR1


set -eo pipefail

cd /home/me/project


python -m snakemake --target-jobs x


