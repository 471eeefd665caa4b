"""DAG-time code: the study config, its checks, every results path, job command and target.

Imported while Snakemake builds the DAG, so it imports neither torch, pandas nor lerobot (import-linter
checks it): the full dry run of the study has a budget of a few seconds.
"""
