from mdflow.steps import run

run("converge", snakemake)  # noqa: F821 (injected by Snakemake)
