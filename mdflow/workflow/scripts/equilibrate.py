from mdflow.steps import run

run("equilibrate", snakemake)  # noqa: F821 (injected by Snakemake)
