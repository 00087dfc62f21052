#!/usr/bin/env bash
# Per-job status command for Snakemake's cluster-generic executor (the baseline of status_load.py):
# prints running / success / failed for ONE Slurm job id, the way such scripts are usually written.
id="$1"
state=$(squeue --noheader --format=%T --jobs="$id" 2>/dev/null | head -n 1)
if [ -z "$state" ] || [ "$state" = COMPLETED ] || [ "$state" = FAILED ] || [ "$state" = CANCELLED ] || [ "$state" = TIMEOUT ]; then
  line=$(scontrol --oneliner show job "$id" 2>/dev/null)
  state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$line")
fi
case "$state" in
  COMPLETED) echo success ;;
  FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE) echo failed ;;
  *) echo running ;;
esac
