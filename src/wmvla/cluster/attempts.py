"""Every attempt of a job appends to the job's log, under a header that says which attempt it is.

Why: Snakemake restarts a failed, cancelled or timed-out job (`restart-times`) and Slurm requeues a
preempted one with the same log path; a log opened with `>` keeps only the last attempt, so the error of
the attempt that failed — the one worth reading — is lost. Each attempt starts with a header (time, host,
Slurm job and restart count) and ends with its exit status and duration.
"""

import os
import platform
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

SLURM_FIELDS = ("SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def attempt_header(command: list[str], env: dict[str, str] | os._Environ = os.environ) -> str:
    slurm = " ".join(f"{k.removeprefix('SLURM_').lower()}={env[k]}" for k in SLURM_FIELDS if env.get(k))
    where = f"on {platform.node()}" + (f" (slurm {slurm})" if slurm else "")
    return f"=== attempt started {_now()} {where}: {shlex.join(command)}\n"


@contextmanager
def attempt_log(path: Path | str, command: list[str]) -> Iterator[tuple[IO[Any], dict[str, Any]]]:
    """Open the log for appending with this attempt's header; the body sets `outcome["status"]`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, Any] = {"status": None}
    started = time.monotonic()
    with path.open("a", buffering=1) as log:
        log.write(("\n" if path.stat().st_size else "") + attempt_header(command))
        try:
            yield log, outcome
        finally:
            seconds = time.monotonic() - started
            status = outcome["status"]
            log.write(f"=== attempt ended {_now()}: exit status {status} after {seconds:.0f} s\n")
