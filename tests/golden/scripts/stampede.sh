#!/bin/bash
#SBATCH --job-name=simulate.villin.0.001
#SBATCH --time=00:45:00
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --output=logs/batch/simulate.villin.0.001.a1.log
#SBATCH --chdir=/project
#SBATCH --partition=skx
#SBATCH --account=PROJ123

# mdflow job simulate.villin.0.001 (site stampede, scheduler slurm)

# The job records its own outcome (exit status, times, host): mdflow reads it before asking the
# scheduler, which may keep no history of finished jobs.
mdflow_outcome=/project/logs/batch/simulate.villin.0.001.a1.outcome.json
mdflow_started=$(date +%s)
mdflow_record() {  # never changes the job's exit status, whatever happens here
  { mkdir -p "$(dirname "$mdflow_outcome")" &&
    printf '{"job_id": "%s", "exit_status": %d, "started": %s, "ended": %s, "host": "%s"}\n' \
      "${SLURM_JOB_ID:-}" "$1" "$mdflow_started" "$(date +%s)" "$(hostname 2>/dev/null || uname -n)" \
      > "$mdflow_outcome.$$" && mv -f "$mdflow_outcome.$$" "$mdflow_outcome"; } 2>/dev/null || true
}
trap 'mdflow_record $?' EXIT
trap 'exit 143' TERM
trap 'exit 129' HUP


set -eo pipefail
module load python/3.11 || true

cd /project


/venv/bin/python3 -m snakemake --snakefile '/mdflow/workflow/Snakefile' --target-jobs 'simulate:system=villin,replica=0,segment=001' --mode 'remote'


