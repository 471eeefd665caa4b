"""A lease on a resumable directory: never two writers on one run.

Why: a training's `.partial` run, an evaluation's episode log and a latent cache build are resumed by whoever
runs the job next. If the Snakemake process that submitted a job dies while the job keeps running on Slurm,
a restarted Snakemake may submit the same job again: two writers would resume the same run, prune each
other's checkpoints and append to the same log. So the job that writes such a directory first holds a lease
on it — a small file beside it naming the holder (its Slurm job id and restart count, or its PID off Slurm,
with host and process start time) — and a second job waits while the holder lives. A lease whose holder has
ended (a cancelled, requeued, timed-out or killed job) is taken over at once.

Liveness: a Slurm holder is alive while `squeue` lists its job in a state that is not an end (a requeued
incarnation of the same job takes over its predecessor's lease); a local holder while its PID runs with the
same start time on this host. A holder whose liveness cannot be read here (another host, no squeue) is not
guessed at: the job stops in one line saying how to check and release it.
"""

import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from wmvla.errors import WmvlaError

log = logging.getLogger(__name__)

ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
         "PREEMPTED", "TIMEOUT", "SPECIAL_EXIT", "REVOKED"}  # fmt: skip


def lease_path(guarded: Path) -> Path:
    """The lease file of a directory or file that a job writes resumably: `<name>.lease` beside it."""
    guarded = Path(guarded)
    return guarded.with_name(guarded.name + ".lease")


class LeaseError(WmvlaError, RuntimeError):
    """Another job holds the lease and whether it still runs cannot be told from here."""


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/<pid>/stat): tells a PID reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str | None  # the process's start time (kernel ticks since boot)
    slurm_job: str | None = None
    slurm_restart: int = 0

    @classmethod
    def me(cls) -> "Holder":
        job = os.environ.get("SLURM_JOB_ID")
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            started=_process_start(os.getpid()),
            slurm_job=job,
            slurm_restart=int(os.environ.get("SLURM_RESTART_COUNT", 0) or 0) if job else 0,
        )

    def describe(self) -> str:
        where = f"Slurm job {self.slurm_job}" if self.slurm_job else f"process {self.pid}"
        return f"{where} on {self.host}"


def _slurm_state(job: str) -> str | None:
    """The job's state as squeue lists it ("" once it left the queue); None if squeue cannot be asked."""
    try:
        out = subprocess.run(
            ["squeue", "--noheader", "--jobs", job, "--format=%T"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return "" if "Invalid job id" in out.stderr else None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""


def alive(holder: Holder, me: Holder | None = None) -> bool | None:
    """Whether the holder still runs: True, False, or None (cannot be told from here)."""
    me = me or Holder.me()
    if holder.slurm_job:
        if holder.slurm_job == me.slurm_job and holder.slurm_restart < me.slurm_restart:
            return False  # an earlier incarnation of this very job (requeued): it has ended
        if holder.slurm_job == me.slurm_job and holder.host == me.host:
            return _local_alive(holder)
        state = _slurm_state(holder.slurm_job)
        return None if state is None else bool(state) and state.split()[0] not in ENDED
    if holder.host != me.host:
        return None
    return _local_alive(holder)


def _local_alive(holder: Holder) -> bool:
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, someone else's
    return holder.started is None or _process_start(holder.pid) == holder.started


def _read(path: Path) -> Holder | None:
    try:
        return Holder(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _create(path: Path, me: Holder) -> bool:
    """Write the lease only if none exists (O_EXCL: atomic, also on NFS v3+)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(me), f)
    return True


def _take_over(path: Path, stale: Holder) -> None:
    """Set a dead holder's lease aside (one rename: of two takers only one succeeds)."""
    aside = path.with_name(f"{path.name}.ended-{os.getpid()}")
    try:
        path.rename(aside)
    except FileNotFoundError:
        return
    log.warning("%s: taking over the lease of %s, which has ended", path, stale.describe())
    aside.unlink(missing_ok=True)


@dataclass(frozen=True)
class Held:
    """The lease, held: by whom, and how long another live writer made us wait for it (0: nobody)."""

    holder: Holder
    waited_s: float


@contextmanager
def lease(path: Path, what: str, poll_s: float = 30.0) -> Iterator[Held]:
    """Hold the lease `path` (a file beside the directory it guards) while the block writes `what`; wait
    while another live job holds it, take it over from one that has ended. A caller that waited checks
    whether the other writer already finished the work before doing it again."""
    path, me = Path(path), Holder.me()
    path.parent.mkdir(parents=True, exist_ok=True)
    waited_since = None
    while not _create(path, me):
        holder = _read(path)
        if holder is None:  # being written this very moment, or garbage: look again shortly
            time.sleep(0.2)
            if _read(path) is None and path.exists():
                _take_over(path, Holder("?", -1, None))
            continue
        state = alive(holder, me)
        if state is False or holder == me:
            _take_over(path, holder)
            continue
        if state is None:
            raise LeaseError(
                f"{what}: {path} is held by {holder.describe()}, whose state cannot be read from {me.host}; "
                f"if it has ended, remove {path} and run the job again"
            )
        if waited_since is None:
            waited_since = time.monotonic()
            log.warning("%s: %s is writing it; waiting until it ends (%s)", what, holder.describe(), path)
        time.sleep(poll_s)
    waited_s = 0.0 if waited_since is None else time.monotonic() - waited_since
    if waited_since is not None:
        log.warning("%s: the lease is ours after %.0f s of waiting", what, waited_s)
    try:
        yield Held(me, waited_s)
    finally:
        if _read(path) == me:
            path.unlink(missing_ok=True)
