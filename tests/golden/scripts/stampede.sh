#!/bin/bash
#SBATCH --job-name=simulate.villin.0.001
#SBATCH --time=00:45:00
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --output=logs/batch/simulate.villin.0.001.a1.log
#SBATCH --chdir=/project
#SBATCH --partition=skx
#SBATCH --account=PROJ123
#SBATCH --mem=2000M

# mdflow job simulate.villin.0.001 (site stampede, scheduler slurm)

set -eo pipefail
module load python/3.11 || true

cd /project


/venv/bin/python3 -m snakemake --snakefile '/mdflow/workflow/Snakefile' --target-jobs 'simulate:system=villin,replica=0,segment=001' --mode 'remote'


