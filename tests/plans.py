"""Read Snakemake's dry-run plan: jobs per rule from its 'Job stats' table."""

import re


def job_counts(stdout: str) -> dict[str, int]:
    """Rule → number of planned jobs (the table's `total` row left out)."""
    if "Job stats:" not in stdout:
        return {}  # "Nothing to be done"
    table = stdout.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}
