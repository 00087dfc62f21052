#!/bin/bash
#PBS -N simulate.villin.0.001
#PBS -l select=1:system=polaris
#PBS -l walltime=00:45:00
#PBS -q debug
#PBS -A PROJ123
#PBS -o /project/logs/batch/simulate.villin.0.001.a1.log
#PBS -j oe
#PBS -l place=scatter
#PBS -l filesystems=home:eagle

# mdflow job simulate.villin.0.001 (site polaris, scheduler pbs)

# The job records its own outcome (exit status, times, host): mdflow reads it before asking the
# scheduler, which may keep no history of finished jobs.
mdflow_outcome=/project/logs/batch/simulate.villin.0.001.a1.outcome.json
mdflow_started=$(date +%s)
mdflow_record() {  # never changes the job's exit status, whatever happens here
  { mkdir -p "$(dirname "$mdflow_outcome")" &&
    printf '{"job_id": "%s", "exit_status": %d, "started": %s, "ended": %s, "host": "%s"}\n' \
      "${PBS_JOBID:-}" "$1" "$mdflow_started" "$(date +%s)" "$(hostname 2>/dev/null || uname -n)" \
      > "$mdflow_outcome.$$" && mv -f "$mdflow_outcome.$$" "$mdflow_outcome"; } 2>/dev/null || true
}
trap 'mdflow_record $?' EXIT
trap 'exit 143' TERM
trap 'exit 129' HUP


set -eo pipefail
module use /soft/modulefiles || true
module load conda || true

cd /project


/venv/bin/python3 -m snakemake --snakefile '/mdflow/workflow/Snakefile' --target-jobs 'simulate:system=villin,replica=0,segment=001' --mode 'remote'


