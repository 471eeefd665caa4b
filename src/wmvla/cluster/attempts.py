"""Every attempt of a job is logged, and the attempts before it are kept.

Why: Snakemake restarts a failed, cancelled or timed-out job (`restart-times`), and Slurm requeues a
preempted one; Snakemake deletes a job's declared log before each attempt, so the error of the attempt that
failed — the one worth reading — would be lost. Each attempt writes the declared log (`train.log`: this
attempt) and appends the same lines to a history beside it (`train.attempts.log`: every attempt, each
under a header with time, host, Slurm job and restart count, and its exit status and duration at the end).
"""

import os
import platform
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SLURM_FIELDS = ("SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def history_path(log: Path | str) -> Path:
    """`logs/…/train.log` → `logs/…/train.attempts.log`."""
    log = Path(log)
    return log.with_name(log.stem + ".attempts" + log.suffix)


def attempt_header(command: list[str], env: dict[str, str] | os._Environ = os.environ) -> str:
    slurm = " ".join(f"{k.removeprefix('SLURM_').lower()}={env[k]}" for k in SLURM_FIELDS if env.get(k))
    where = f"on {platform.node()}" + (f" (slurm {slurm})" if slurm else "")
    return f"=== attempt started {_now()} {where}: {shlex.join(command)}\n"


class AttemptLog:
    """The two files of an attempt: what is written goes to both, at once (a killed job keeps its lines)."""

    def __init__(self, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.files = [log.open("ab", buffering=0), history_path(log).open("ab", buffering=0)]

    def write(self, data: bytes | str) -> None:
        data = data.encode() if isinstance(data, str) else data
        for f in self.files:
            f.write(data)

    def close(self) -> None:
        for f in self.files:
            f.close()


@contextmanager
def attempt_log(path: Path | str, command: list[str]) -> Iterator[tuple[AttemptLog, dict[str, Any]]]:
    """The attempt's log, opened with its header; the body sets `outcome["status"]`."""
    log = AttemptLog(Path(path))
    outcome: dict[str, Any] = {"status": None}
    started = time.monotonic()
    log.write(attempt_header(command))
    try:
        yield log, outcome
    finally:
        seconds = time.monotonic() - started
        log.write(f"=== attempt ended {_now()}: exit status {outcome['status']} after {seconds:.0f} s\n")
        log.close()
