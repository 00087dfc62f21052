from mdflow.steps import run

run("analyze", snakemake)  # noqa: F821 (injected by Snakemake)
