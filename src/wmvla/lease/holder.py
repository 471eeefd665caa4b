"""Who holds a lease, or ends one, and whether it may still be writing: alive, ended, or unknown from here.

Why three answers: a lease is taken over only from a holder known to have ended. A holder this job cannot
judge — a process on another host, a Slurm job `squeue` cannot be asked about, another user's job that
`squeue` does not show (clusters with `PrivateData=jobs` hide other users' jobs: absent from the queue is
then no proof of an end), a job whose node stopped answering the controller (`NODE_FAIL`: it may run on
there) — is not guessed at: the job stops and says how to check it.
"""

import getpass
import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

# NODE_FAIL is not among them: the controller lost the node, whose processes may still write the shared disk
ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT",
         "SPECIAL_EXIT", "REVOKED"}  # fmt: skip
SQUEUE_TRIES = (0.0, 2.0, 8.0)  # seconds before each attempt: a busy controller may fail a call or two


def _stat_field(pid: int, field: int) -> str | None:
    """Field `field` (1-based, as proc(5) numbers them) of /proc/<pid>/stat; None if there is no such process.
    Read after the command name's closing parenthesis: a name may hold spaces and parentheses."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[field - 3]
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/<pid>/stat): tells a PID reused."""
    return _stat_field(pid, 22)


def process_runs(pid: int, started: str | None) -> bool:
    """Whether process `pid`, started at `started`, still runs on this host (not another with its PID, nor
    a zombie: a process that ended, not yet reaped by its parent, writes nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, someone else's
    if _stat_field(pid, 3) == "Z":  # its state
        return False
    return started is None or process_start(pid) == started


@dataclass(frozen=True)
class SlurmJob:
    """What `squeue` says of a job: its state, user, name and why it pends ("" state: not listed)."""

    state: str
    user: str = ""
    name: str = ""
    reason: str = ""

    @property
    def held(self) -> bool:
        return "HOLD" in self.state or "held" in self.reason.lower()


def slurm_job(job: str) -> SlurmJob | None:
    """The job as `squeue` lists it to this user; None if `squeue` cannot be asked (after `SQUEUE_TRIES`)."""
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
    """One acquisition of a lease (or one ending of it): who, where, and a nonce of its own, so that two
    acquisitions by one process are two leases (each ended once), and a job recognises its own files."""

    host: str
    pid: int
    started: str | None  # the process's start time (kernel ticks since boot)
    slurm_job: str | None = None
    slurm_restart: int = 0
    user: str | None = None
    slurm_name: str | None = None  # with the user, what tells this job from a later one given the same id
    nonce: str | None = None  # None: a lease written before nonces (it is judged all the same)

    @classmethod
    def me(cls) -> "Holder":
        """This process, for one acquisition (a fresh nonce each call)."""
        job = os.environ.get("SLURM_JOB_ID")
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            started=process_start(os.getpid()),
            slurm_job=job,
            slurm_restart=int(os.environ.get("SLURM_RESTART_COUNT", 0) or 0) if job else 0,
            user=getpass.getuser(),
            slurm_name=os.environ.get("SLURM_JOB_NAME") if job else None,
            nonce=uuid.uuid4().hex,
        )

    def well_formed(self) -> bool:
        """Whether every field has its type and the PID is a process's: a lease read from disk may say
        anything, and `os.kill` reads a PID of 0 or below as a process group."""
        typed = all(
            isinstance(value := getattr(self, f.name), f.type) and not isinstance(value, bool)
            for f in fields(self)
        )
        return typed and self.pid > 0 and self.slurm_restart >= 0

    def is_process(self, me: "Holder") -> bool:
        """Whether it is the process `me` (another acquisition in it: another thread, or one not released)."""
        return (self.host, self.pid, self.started) == (me.host, me.pid, me.started)

    def describe(self) -> str:
        where = f"Slurm job {self.slurm_job}" if self.slurm_job else f"process {self.pid}"
        return f"{where} on {self.host}" + (f" (user {self.user})" if self.user else "")

    def check(self, me: "Holder") -> str:
        """The command that shows whether it still runs (and, for a Slurm job, ends it)."""
        if self.is_process(me):
            return f"this very process (pid {self.pid}): another thread, or an acquisition not released"
        if not self.slurm_job:
            return f"ps -p {self.pid} on {self.host}"
        if self.user and self.user != me.user:
            job = self.slurm_job
            return f"ask {self.user} or an administrator: squeue --jobs {job}, sacct -j {job}"
        return f"squeue --jobs {self.slurm_job}; to end it: scancel {self.slurm_job}"


@dataclass(frozen=True)
class Liveness:
    alive: bool | None  # None: cannot be told from here
    why: str  # for the log or the error


def alive(holder: Holder, me: Holder) -> Liveness:
    """Whether the holder may still be writing: alive, ended, or unknown from here."""
    if holder.is_process(me):
        return Liveness(True, "it is this very process, in another acquisition")
    if holder.slurm_job:
        if holder.slurm_job == me.slurm_job and holder.slurm_restart < me.slurm_restart:
            return Liveness(False, "an earlier incarnation of this very job (requeued)")
        if holder.slurm_job == me.slurm_job and holder.host == me.host:
            return _local(holder)
        return _slurm(holder, me)
    if holder.host != me.host:
        return Liveness(None, f"its process runs on {holder.host}, not on {me.host}")
    return _local(holder)


def _slurm(holder: Holder, me: Holder) -> Liveness:
    job = slurm_job(holder.slurm_job)
    if job is None:
        return Liveness(None, f"squeue cannot be asked about job {holder.slurm_job} from {me.host}")
    if not job.state:
        if holder.user != me.user:  # not listed to us may be hidden from us (PrivateData=jobs)
            shown = f"squeue does not show job {holder.slurm_job} to user {me.user}"
            return Liveness(None, f"{shown}: it may be hidden from other users (PrivateData)")
        return Liveness(False, "its job has left the queue")
    if (holder.user and job.user and job.user != holder.user) or (
        holder.slurm_name and job.name and job.name != holder.slurm_name
    ):
        return Liveness(False, f"job id {holder.slurm_job} now belongs to another job (reused id)")
    if job.state == "NODE_FAIL":
        return Liveness(
            None, "its job is NODE_FAIL: its node stopped answering the controller, and may run it"
        )
    if job.state in ENDED:
        return Liveness(False, f"its job is {job.state}")
    if job.held:  # it resumes where it stopped once released: alive
        return Liveness(True, f"its job is {job.state}, held ({job.reason or job.state})")
    return Liveness(True, f"its job is {job.state}")


def _local(holder: Holder) -> Liveness:
    if not process_runs(holder.pid, None):
        return Liveness(False, "its process has ended")
    if not process_runs(holder.pid, holder.started):
        return Liveness(False, "its PID now belongs to another process")
    return Liveness(True, "its process runs")
