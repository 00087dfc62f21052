from mdflow.steps import run

run("pull", snakemake)  # noqa: F821 (injected by Snakemake)
