from mdflow.steps import run

run("report", snakemake)  # noqa: F821 (injected by Snakemake)
