#!/bin/bash
#PBS -N simulate.villin.0.001
#PBS -l select=1:ncpus=2:mem=2000mb
#PBS -l walltime=00:45:00
#PBS -A PROJ123
#PBS -o /project/logs/batch/simulate.villin.0.001.a1.log
#PBS -j oe

# mdflow job simulate.villin.0.001 (site pbs, scheduler pbs)

set -eo pipefail

cd /project


/venv/bin/python3 -m snakemake --snakefile '/mdflow/workflow/Snakefile' --target-jobs 'simulate:system=villin,replica=0,segment=001' --mode 'remote'


