from mdflow.steps import run

run("push", snakemake)  # noqa: F821 (injected by Snakemake)
