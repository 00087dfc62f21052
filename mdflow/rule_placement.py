"""Where each workflow rule runs. On a batch profile BATCH_RULES are submitted to the scheduler; the
LOCAL_RULES run on the host that runs mdflow (the Snakefile declares them `localrules` from here, and
`mdflow` checks the batch rules' resources against the site's queues before submitting)."""

BATCH_RULES = ("setup", "equilibrate", "simulate")
LOCAL_RULES = ("all", "push", "pull", "pull_stage", "converge", "analyze", "report")
