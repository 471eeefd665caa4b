"""What the Slurm executor needs of a cluster, checked where Snakemake starts, before the first submission.

Why: the executor (snakemake-executor-plugin-slurm 2.6–2.8) learns that a job ended only from a status
command, and waits forever, silently, on a job it cannot see end — the study hangs instead of failing:
- with `sacct`, a cancelled job's state reads "CANCELLED by <uid>", which the executor does not take for an
  end (seen on Slurm 22.05); and without Slurm accounting `sacct` fails, so no job is ever seen to end;
- with `squeue` (the project's profiles), a finished job stays visible only for MinJobAge seconds, and the
  executor checks states up to 180 s apart — below MinJobAge = 300 s a job can end unseen (and below 120 s
  the executor falls back to `sacct`);
- a job preempted with PreemptMode=CANCEL ends as PREEMPTED, which the executor leaves to Slurm for good;
  with PreemptMode=REQUEUE (or preemption off) Slurm requeues it and the training resumes.
Each problem is one line saying what to set. And a study restarted after its Snakemake process died (an
ssh session dropped, a login node rebooted) must not submit again the jobs that process left running.
"""

import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wmvla.errors import WmvlaError

MIN_JOB_AGE = 300  # seconds: above the executor's longest interval between status checks (180 s)
STATUS_COMMANDS = ("squeue", "sacct")


class SlurmSetupError(WmvlaError, RuntimeError):
    """The cluster (or the executor's settings) would make the study hang; one line per problem."""


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return subprocess.CompletedProcess(argv, 1, "", str(err))


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")


def config_value(show_config: str, key: str) -> str | None:
    """A value of `scontrol show config` (`Key = value`)."""
    match = re.search(rf"^{key}\s*=\s*(.*)$", show_config, re.MULTILINE)
    return match[1].strip() if match else None


def seconds(value: str | None) -> int | None:
    """`300 sec`, `5 min`, `1h` or `300` in seconds."""
    match = re.match(r"^(\d+)\s*([a-z]*)", (value or "").lower())
    if not match:
        return None
    scale = {"": 1, "s": 1, "sec": 1, "secs": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600, "hours": 3600}
    return int(match[1]) * scale.get(match[2], 1)


def check_status_command(status_command: str, show_config: str) -> list[str]:
    """Whether the executor will see every job end with this status command on this cluster."""
    problems = []
    age = seconds(config_value(show_config, "MinJobAge"))
    if status_command not in STATUS_COMMANDS:
        problems.append(f"slurm-status-command={status_command!r}: use squeue (profiles/mi300x sets it)")
    if status_command == "sacct":
        problems.append(
            "slurm-status-command=sacct: the executor does not take sacct's 'CANCELLED by <uid>' for a job's "
            "end, so a cancelled job hangs the study; set `slurm-status-command: squeue` (as profiles/mi300x)"
        )
    if status_command == "squeue" and (age is None or age < MIN_JOB_AGE):
        problems.append(
            f"MinJobAge={config_value(show_config, 'MinJobAge')}: squeue forgets a finished job after it, "
            "and the executor checks job states up to 180 s apart, so a job can end unseen; ask the "
            f"cluster's admins for MinJobAge >= {MIN_JOB_AGE} (slurm.conf)"
        )
    uses_sacct = status_command == "sacct" or (age is not None and age < 120)
    if uses_sacct:
        out = _run(["sacct", "-X", "-n", "-S", "now-1hours", "--format=JobIdRaw"])
        if out.returncode:
            problems.append(
                "the executor would poll Slurm accounting, which this cluster cannot read "
                f"(sacct: {_first_line(out.stderr)}); set `slurm-status-command: squeue` and "
                f"MinJobAge >= {MIN_JOB_AGE}"
            )
    return problems


def check_preemption(partitions: Iterable[str | None], show_config: str) -> list[str]:
    """A preempted job must come back (requeued) for the study to go on: no PreemptMode=CANCEL."""
    problems = []
    cluster_mode = (config_value(show_config, "PreemptMode") or "OFF").upper()
    for partition in dict.fromkeys(partitions):
        mode = cluster_mode
        if partition:
            out = _run(["scontrol", "show", "partition", partition, "--oneliner"])
            if out.returncode:
                problems.append(f"partition {partition!r}: {_first_line(out.stderr)} (set slurm_partition)")
                continue
            mode = (re.search(r"\bPreemptMode=(\S+)", out.stdout) or [None, cluster_mode])[1].upper()
        if "CANCEL" in mode:
            where = f"partition {partition!r}" if partition else "the default partition"
            problems.append(
                f"{where} preempts with PreemptMode=CANCEL: a preempted job ends PREEMPTED, which the "
                "executor never takes for an end, so the study would hang; submit to a partition with "
                "PreemptMode=REQUEUE or OFF (set slurm_partition)"
            )
    return problems


def slurm_problems(status_command: str, partitions: Iterable[str | None]) -> list[str]:
    """Every reason the Slurm executor would hang or fail on this cluster (one line each)."""
    if shutil.which("scontrol") is None:
        return ["Slurm's commands (scontrol, sbatch, squeue) are not on PATH on the host that runs Snakemake"]
    out = _run(["scontrol", "show", "config"])
    if out.returncode:
        return [f"cannot reach slurmctld (scontrol show config: {_first_line(out.stderr)})"]
    return [*check_status_command(status_command, out.stdout), *check_preemption(partitions, out.stdout)]


@dataclass(frozen=True)
class QueuedJob:
    """A Slurm job as squeue lists it: id, state, and the executor's comment (`rule_<rule>_wildcards_<…>`)."""

    job_id: str
    state: str
    comment: str


def queued_jobs(workdir: Path) -> list[QueuedJob]:
    """My queued or running Slurm jobs that the executor submitted from `workdir` (its `sbatch -D`)."""
    out = _run(["squeue", "--me", "--noheader", "--format=%i|%T|%k|%Z"])
    if out.returncode:
        raise SlurmSetupError(f"cannot list this study's Slurm jobs (squeue: {_first_line(out.stderr)})")
    jobs = []
    for line in out.stdout.splitlines():
        job_id, state, comment, directory = [*line.split("|", 3), "", "", ""][:4]
        if comment.startswith("rule_") and directory and Path(directory).resolve() == workdir.resolve():
            jobs.append(QueuedJob(job_id.strip(), state.strip(), comment.strip()))
    return jobs


def orphaned_jobs(workdir: Path, planned: Mapping[str, str]) -> list[str]:
    """Why this Snakemake must not start: jobs an earlier Snakemake process left on Slurm that this one
    would submit again (`planned`: the executor's comment of every job it will run → a readable name).

    Why stop rather than wait: this process has already planned those jobs, and Snakemake removes a planned
    job's outputs before it runs it, so it could not take what the earlier job finishes. Once they end, the
    same command plans only what is left (one line, [] when there is nothing to say)."""
    try:
        orphans = [job for job in queued_jobs(workdir) if job.comment in planned]
    except SlurmSetupError as err:
        return [str(err)]
    if not orphans:
        return []
    ids = " ".join(job.job_id for job in orphans)
    listed = ", ".join(f"{planned[job.comment]} (Slurm job {job.job_id}, {job.state})" for job in orphans)
    return [
        f"{len(orphans)} job(s) an earlier Snakemake process submitted are still on Slurm and would run "
        f"twice: {listed}. Wait until `squeue --jobs={ids.replace(' ', ',')}` lists none of them, then run "
        f"the same command again (what they finish is kept), or cancel them: scancel {ids}"
    ]
