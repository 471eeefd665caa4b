"""A lease on a resumable directory: never two writers on one run.

Why: a training's `.partial` run, an evaluation's episode log and a latent cache build are resumed by whoever
runs the job next. If the Snakemake process that submitted a job dies while the job keeps running on Slurm,
a restarted Snakemake may submit the same job again: two writers would resume the same run, prune each
other's checkpoints and append to the same log. So the job that writes such a directory first holds a lease
on it — a small file beside it, `<name>.lease`, naming the holder: its Slurm job (id, restart count, user and
job name: a job id alone is reused once Slurm's ids wrap or a cluster is reinstalled, and its submit time
changes whenever the job is requeued; the executor names each job by the run that submitted it), or its PID
off Slurm, with host and process start time.

One writer under any interleaving of takers, releasers and slow liveness checks:
- a lease is published whole: written to a private file, then linked into place (`os.link`, atomic, and
  refused if a lease is there), so nobody ever reads a half-written one;
- a lease is ended exactly once: whoever ends it — its holder releasing it, or a job that judged its holder
  dead — first creates its tombstone, `<name>.lease.ended-<holder key>` (O_EXCL: of several, exactly one
  succeeds), and only that one may replace or remove it. A lease published since has another holder, hence
  another tombstone: a taker replaces only the lease it judged dead, a holder removes only its own.

A job that finds a live holder does not wait — waiting would hold its GPU for the holder's whole life — it
stops at once, naming the holder, its state and how to check it; Snakemake's retries, or the next run of the
study, find the holder ended (then its lease is taken over and the work resumed) or the work done. A held
holder (`scontrol hold`, `REQUEUE_HOLD`) counts as alive: it resumes when released. A holder whose state
cannot be read here (another host; `squeue` failing after retries) is not guessed at: the job stops in one
line saying how to check and release it.
"""

import getpass
import hashlib
import json
import logging
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from wmvla.errors import WmvlaError

log = logging.getLogger(__name__)

ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
         "PREEMPTED", "TIMEOUT", "SPECIAL_EXIT", "REVOKED"}  # fmt: skip
SQUEUE_TRIES = (0.0, 2.0, 8.0)  # seconds before each attempt: a busy controller may fail a call or two
ROUNDS = 10  # acquisition rounds (each publishes, takes over, or sees the lease change under it)


def lease_path(guarded: Path) -> Path:
    """The lease file of a directory or file that a job writes resumably: `<name>.lease` beside it."""
    guarded = Path(guarded)
    return guarded.with_name(guarded.name + ".lease")


class LeaseError(WmvlaError, RuntimeError):
    """Another job holds the lease, or may: this one must not write (the message says who, how to check)."""


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/<pid>/stat): tells a PID reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class SlurmJob:
    """What `squeue` says of a job: its state, user, name and why it pends ("" state: not queued)."""

    state: str
    user: str = ""
    name: str = ""
    reason: str = ""

    @property
    def held(self) -> bool:
        return "HOLD" in self.state or "held" in self.reason.lower()


def slurm_job(job: str) -> SlurmJob | None:
    """The job as `squeue` lists it; None if `squeue` cannot be asked (after `SQUEUE_TRIES` attempts)."""
    for pause in SQUEUE_TRIES:
        time.sleep(pause)
        try:
            out = subprocess.run(
                ["squeue", "--noheader", "--jobs", job, "--format=%T|%u|%j|%r"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        except FileNotFoundError:
            return None  # no Slurm client here: asking again will not help
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            line = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
            state, user, name, reason = ([*line.split("|"), "", "", ""])[:4]
            return SlurmJob(state.split()[0] if state else "", user, name, reason.strip())
        if "Invalid job id" in out.stderr:
            return SlurmJob("")
    return None


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str | None  # the process's start time (kernel ticks since boot)
    slurm_job: str | None = None
    slurm_restart: int = 0
    user: str | None = None
    slurm_name: str | None = None  # with the user, what tells this job from a later one given the same id

    @classmethod
    def me(cls) -> "Holder":
        job = os.environ.get("SLURM_JOB_ID")
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            started=_process_start(os.getpid()),
            slurm_job=job,
            slurm_restart=int(os.environ.get("SLURM_RESTART_COUNT", 0) or 0) if job else 0,
            user=getpass.getuser(),
            slurm_name=os.environ.get("SLURM_JOB_NAME") if job else None,
        )

    def describe(self) -> str:
        where = f"Slurm job {self.slurm_job}" if self.slurm_job else f"process {self.pid}"
        return f"{where} on {self.host}" + (f" (user {self.user})" if self.user else "")


@dataclass(frozen=True)
class Liveness:
    alive: bool | None  # None: cannot be told from here
    why: str  # for the log or the error


def alive(holder: Holder, me: Holder | None = None) -> Liveness:
    """Whether the holder may still be writing: alive, ended, or unknown from here."""
    me = me or Holder.me()
    if holder.slurm_job:
        if holder.slurm_job == me.slurm_job and holder.slurm_restart < me.slurm_restart:
            return Liveness(False, "an earlier incarnation of this very job (requeued)")
        if holder.slurm_job == me.slurm_job and holder.host == me.host:
            return _local(holder)
        job = slurm_job(holder.slurm_job)
        if job is None:
            return Liveness(None, f"squeue cannot be asked about job {holder.slurm_job} from {me.host}")
        if not job.state:
            return Liveness(False, "its job has left the queue")
        if (holder.user and job.user and job.user != holder.user) or (
            holder.slurm_name and job.name and job.name != holder.slurm_name
        ):
            return Liveness(False, f"job id {holder.slurm_job} now belongs to another job (reused id)")
        if job.state in ENDED:
            return Liveness(False, f"its job is {job.state}")
        if job.held:  # it resumes where it stopped once released: alive
            return Liveness(True, f"its job is {job.state}, held ({job.reason or job.state})")
        return Liveness(True, f"its job is {job.state}")
    if holder.host != me.host:
        return Liveness(None, f"its process runs on {holder.host}, not on {me.host}")
    return _local(holder)


def _local(holder: Holder) -> Liveness:
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return Liveness(False, "its process has ended")
    except PermissionError:
        pass  # exists, someone else's
    if holder.started is not None and _process_start(holder.pid) != holder.started:
        return Liveness(False, "its PID now belongs to another process")
    return Liveness(True, "its process runs")


def _key(text: str) -> str:
    """What names a lease's tombstone: its holder's identity (the lease's whole text)."""
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _parse(text: str) -> Holder | None:
    try:
        return Holder(**json.loads(text))
    except (json.JSONDecodeError, TypeError):
        return None


def _private(path: Path, text: str) -> Path:
    """`text` in a file of this process's own, beside the lease (the same filesystem: links work)."""
    tmp = path.with_name(f"{path.name}.new-{uuid.uuid4().hex}")
    tmp.write_text(text)
    return tmp


def _publish(path: Path, text: str) -> bool:
    """Put a whole lease in place if none is there (one atomic link)."""
    tmp = _private(path, text)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _end(path: Path, text: str) -> bool:
    """Claim the end of the lease whose text is `text` (its tombstone, O_EXCL); True if this process did, and
    the lease is still that one (only a tombstone's owner replaces or removes a lease)."""
    tombstone = path.with_name(f"{path.name}.ended-{_key(text)}")
    try:
        os.close(os.open(tombstone, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return False
    return _read(path) == text


@contextmanager
def lease(path: Path, what: str) -> Iterator[Holder]:
    """Hold the lease `path` (a file beside what it guards) while the block writes `what`; take it over from a
    holder that has ended; stop at once if one may still be writing. The caller checks whether the work is
    already done (a holder that ended may have finished it)."""
    path, me = Path(path), Holder.me()
    mine = json.dumps(asdict(me), sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    _acquire(path, me, mine, what)
    try:
        yield me
    finally:
        if _end(path, mine):
            path.unlink(missing_ok=True)
        else:
            log.warning("%s: %s is no longer ours (taken over); left as it is", what, path)


def _acquire(path: Path, me: Holder, mine: str, what: str) -> None:
    for _ in range(ROUNDS):
        if _publish(path, mine):
            return
        text = _read(path)
        if text is None:  # released meanwhile
            continue
        holder = _parse(text)
        state = Liveness(False, "its lease is unreadable") if holder is None else alive(holder, me)
        if state.alive is False:
            if _end(path, text):
                os.replace(_private(path, mine), path)
                log.warning("%s: took over %s from %s (%s)", what, path, holder or "nobody", state.why)
                return
            continue  # another job ended it first: look again
        raise LeaseError(_refusal(what, path, holder, state, me))
    raise LeaseError(
        f"{what}: {path} changed hands {ROUNDS} times while this job tried to take it; run it again"
    )


def _refusal(what: str, path: Path, holder: Holder, state: Liveness, me: Holder) -> str:
    """One line: who holds the lease, why it may still write, and what to do."""
    if state.alive is None:
        return (
            f"{what}: {path} is held by {holder.describe()}, whose state cannot be read ({state.why}); if it "
            f"has ended, remove {path} and run the job again"
        )
    check = (
        f"squeue --jobs {holder.slurm_job}; to end it: scancel {holder.slurm_job}"
        + (f" (or let it resume: scontrol release {holder.slurm_job})" if "held" in state.why else "")
        if holder.slurm_job
        else f"ps -p {holder.pid} on {holder.host}"
    )
    return (
        f"{what}: {path} is held by {holder.describe()} ({state.why}), which may still be writing it; this "
        f"job stops rather than wait on its GPU; a later run of the study resumes or finds the work done. "
        f"Check: {check}"
    )
