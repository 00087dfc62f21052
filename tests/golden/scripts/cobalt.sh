#!/bin/bash
#COBALT -n 1
#COBALT -t 45
#COBALT -A PROJ123
#COBALT --cwd /project
#COBALT -O logs/batch/simulate.villin.0.001.a1
#COBALT --jobname simulate.villin.0.001

# mdflow job simulate.villin.0.001 (site cobalt, scheduler cobalt)

set -eo pipefail

cd /project


/venv/bin/python3 -m snakemake --snakefile '/mdflow/workflow/Snakefile' --target-jobs 'simulate:system=villin,replica=0,segment=001' --mode 'remote'


