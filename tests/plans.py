"""Run the checkout's workflow with Snakemake and read its dry-run plan (jobs per rule)."""

import re
import subprocess
from pathlib import Path


def snakemake(snakemake_bin: str, repo: Path, *args: str, cwd: Path | None = None, timeout: int = 120):
    """`snakemake --snakefile <repo>/Snakefile *args` (add `-n` for a plan), output captured as text."""
    cmd = [snakemake_bin, "--snakefile", str(repo / "Snakefile"), *args]
    return subprocess.run(cmd, cwd=cwd or repo, capture_output=True, text=True, timeout=timeout)


def job_counts(stdout: str) -> dict[str, int]:
    """Rule → number of planned jobs (the table's `total` row left out)."""
    if "Job stats:" not in stdout:
        return {}  # "Nothing to be done"
    table = stdout.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


WORKFLOW_FILES = ("Snakefile", "rules", "config", "report", "dvc.yaml", ".dvcignore", ".dvc/config")


def copy_workflow(repo: Path, root: Path) -> Path:
    """The workflow files of the checkout, copied to `root` (a study directory of its own)."""
    import shutil

    for name in WORKFLOW_FILES:
        source, target = repo / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return root
