from mdflow.steps import run

run("setup", snakemake)  # noqa: F821 (injected by Snakemake)
