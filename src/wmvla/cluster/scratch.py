"""A job's scratch: the library caches that belong to one job, removed when it ends.

Why: LeRobot reads a dataset through `datasets.Dataset.from_parquet(..., filters=episodes)`, which writes an
Arrow copy of the selected rows into `HF_DATASETS_CACHE` (by default `~/.cache/huggingface/datasets`) — one
per distinct episode selection, up to a suite's share of the 70 GB dataset per job. In the home directory
of a cluster that is tens to hundreds of GB, written by many jobs at once and never cleaned. In the job's
scratch (under `$TMPDIR`, node-local on most clusters) each job writes its copy once, reads it alone, and
it is gone when the job ends, however it ends short of a SIGKILL. The preflight checks the scratch holds
the largest copy (`wmvla.gates.preflight`).
"""

import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

JOB_CACHES = {  # variable → its directory in the job's scratch
    "HF_DATASETS_CACHE": "datasets",
    # ROCm's kernel database: its locks are not safe for many writers on a network filesystem
    "MIOPEN_USER_DB_PATH": "miopen",
    "MIOPEN_CUSTOM_CACHE_DIR": "miopen",
}


def scratch_parent(env: MutableMapping[str, str]) -> Path:
    """Where jobs make their scratch: `$TMPDIR` (Snakemake and Slurm set it per job), else the system's."""
    return Path(env.get("TMPDIR") or tempfile.gettempdir())


@contextmanager
def job_scratch(env: MutableMapping[str, str]) -> Iterator[Path]:
    """A fresh scratch directory for one job, its caches pointed into it by `env`, removed afterwards."""
    parent = scratch_parent(env)
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="wmvla-job-", dir=parent))
    for name, folder in JOB_CACHES.items():
        env[name] = str(root / folder)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
