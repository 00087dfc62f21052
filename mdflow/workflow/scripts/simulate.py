from mdflow.steps import run

run("simulate", snakemake)  # noqa: F821 (injected by Snakemake)
