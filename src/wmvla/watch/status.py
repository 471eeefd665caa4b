"""Where a study stands, read off its files: each run's training and evaluations, gates, lease holders.

Why from the files (and one `squeue`): they are what the jobs write as they go — a job's log (each attempt
between `=== attempt started` and `=== attempt ended …: exit status N`, wmvla.cluster.attempts), a training's
`progress.json` (wmvla.train.progress), an evaluation's episode log, the lease beside what a job writes
(wmvla.lease), and the outputs Snakemake declares. Any machine that mounts the study answers, while Snakemake
runs or after it died, and nothing here imports torch. A job is:
- `done`: its output exists;
- `running`: its lease's holder runs (or cannot be judged from here: said so), or an attempt just started;
- `failed`: its last attempt ended with a non-zero status (its log and error line are named);
- `interrupted`: an attempt or a partial run that nobody continues (the next run of the study resumes it);
- `waiting`: not started; for a training, the gates or input it waits for.
"""

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wmvla.errors import WmvlaError
from wmvla.gates.record import failure_line, read_gates
from wmvla.lease import holder_of, lease_path
from wmvla.lease.holder import Holder, process_runs
from wmvla.study.config import (
    experiment,
    experiment_encoder,
    perturbation_kinds,
    perturbed_arms,
    perturbed_suites,
    runs,
    uses_world,
)
from wmvla.study.paths import (
    GATE_CLEARED,
    GATE_SCENE,
    PERTURBATION_CLEARED,
    eval_result,
    fill,
    latent_cache_dir,
    log,
    perturbed_eval_result,
    study_root,
    train_dir,
)
from wmvla.study.resources import eval_tasks
from wmvla.study.targets import clearance_records
from wmvla.train.run import PROGRESS_FILE

ATTEMPT_ENDED = re.compile(r"^=== attempt ended .*: exit status (\S+)", re.M)
LOG_TAIL_BYTES = 65536  # what is read of a job's log: its last attempt's end and error line are there
STARTING_S = 600.0  # an open attempt with no lease yet, written to this recently: still starting


@dataclass
class Job:
    """One job of a run (its training, or one evaluation) as its files tell it."""

    name: str  # "train", "eval pred", "eval lan/pred"
    state: str  # waiting | running | interrupted | failed | done
    done: int | None = None  # steps or episodes done
    total: int | None = None
    detail: str = ""  # what it waits for, its error line, who holds it
    log: str | None = None

    @property
    def fraction(self) -> float:
        """Share of its work done (a job without a count: 0 until done)."""
        if self.state == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.done is not None and self.total else 0.0


@dataclass
class RunStatus:
    suite: str
    exp: str
    seed: int
    train: Job
    evals: list[Job] = field(default_factory=list)

    @property
    def stage(self) -> str:
        """The run in one word: failed, training, evaluating, interrupted, waiting, trained or done."""
        jobs = [self.train, *self.evals]
        if any(j.state == "failed" for j in jobs):
            return "failed"
        if self.train.state != "done":
            return {"running": "training"}.get(self.train.state, self.train.state)
        if any(j.state == "running" for j in self.evals):
            return "evaluating"
        if any(j.state == "interrupted" for j in self.evals):
            return "interrupted"
        return "done" if all(j.state == "done" for j in self.evals) else "trained"

    def row(self) -> dict:
        return {"suite": self.suite, "exp": self.exp, "seed": self.seed, "stage": self.stage,
                "train": asdict(self.train), "evals": [asdict(j) for j in self.evals]}  # fmt: skip


@dataclass(frozen=True)
class Lease:
    path: str
    holder: str
    alive: bool | None
    why: str


def slurm_queue() -> dict[str, str] | None:
    """Job id → state of this user's Slurm jobs, asked once; None without Slurm (or if it does not answer)."""
    if shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(["squeue", "--me", "--noheader", "--format=%i|%T"],
                             capture_output=True, text=True, timeout=20)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    return dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)


def judge(holder: Holder, queue: dict[str, str] | None) -> tuple[bool | None, str]:
    """Whether a lease's holder runs, without waiting on anything: its process on this host, its Slurm job
    in the one listing of the queue; anything else cannot be told from here."""
    if holder.slurm_job:
        if queue is None:
            return None, f"Slurm job {holder.slurm_job}: squeue cannot be asked from here"
        state = queue.get(holder.slurm_job)
        return (True, f"Slurm job {holder.slurm_job} {state}") if state else (
            False, f"Slurm job {holder.slurm_job} has left the queue")  # fmt: skip
    if holder.host != os.uname().nodename:
        return None, f"process {holder.pid} on {holder.host}, another host"
    if process_runs(holder.pid, holder.started):
        return True, f"process {holder.pid} runs"
    return False, f"process {holder.pid} has ended"


def last_attempt(path: Path) -> tuple[bool, str | None, str] | None:
    """(ended, exit status, text) of a job log's last attempt; None if there is no log."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    text = text[text.rfind("=== attempt started") :] if "=== attempt started" in text else text
    ended = ATTEMPT_ENDED.search(text)
    return (ended is not None, ended.group(1) if ended else None, text)


def job_state(name: str, output: Path, log_path: Path, queue: dict | None, leases: list[Lease]) -> Job:
    """A job's state from its output, its log's last attempt and its lease (see the module's docstring)."""
    if output.exists():
        return Job(name, "done", log=str(log_path))
    attempt, lease_file = last_attempt(log_path), lease_path(output)
    holder = holder_of(lease_file)
    if holder is not None:
        alive, why = judge(holder, queue)
        leases.append(Lease(str(lease_file), holder.describe(), alive, why))
        if alive is not False:
            return Job(name, "running", detail=why if alive else f"{why}: not verified", log=str(log_path))
    if attempt is not None and attempt[0] and attempt[1] != "0":
        body = "\n".join(line for line in attempt[2].splitlines() if not line.startswith("==="))
        return Job(name, "failed", detail=failure_line(body), log=str(log_path))
    starting = attempt is not None and not attempt[0] and holder is None
    if starting and time.time() - log_path.stat().st_mtime < STARTING_S:
        return Job(name, "running", detail="starting", log=str(log_path))
    if attempt is not None or holder is not None:
        return Job(name, "interrupted", detail="no job continues it: the study's next run resumes it",
                   log=str(log_path))  # fmt: skip
    return Job(name, "waiting")


def _train(config: dict, suite: str, exp: str, seed: int, queue, leases, waits: dict) -> Job:
    out = train_dir(config, suite, exp, seed)
    job = job_state(
        "train", out, Path(fill(log("train"), config, suite=suite, exp=exp, seed=seed)), queue, leases
    )
    progress = out.with_name(out.name + ".partial") / PROGRESS_FILE
    if job.state != "done" and progress.is_file():
        try:
            record = json.loads(progress.read_text())
            job.done, job.total = record["step"], record["steps"]
        except (OSError, ValueError, KeyError):
            pass
        if job.state == "waiting":
            job.state, job.detail = (
                "interrupted",
                "a partial run nobody continues: the study's next run resumes it",
            )
    if job.state == "waiting":
        job.detail = waits[exp]
    return job


def _eval(name: str, result: Path, log_path: Path, episodes: int, queue, leases) -> Job:
    job = job_state(name, result, log_path, queue, leases)
    job.total = episodes
    if job.state == "done":
        job.done = episodes
    elif (log_file := result.with_suffix(".episodes.jsonl")).is_file():
        with open(log_file, "rb") as f:
            job.done = max(0, sum(1 for line in f if line.strip()) - 1)  # the first line names the evaluation
    if job.state == "waiting":
        job.detail = "waits for its training"
    return job


def episodes(config: dict, suite: str) -> int:
    """Episodes of one evaluation of `suite` (its tasks × the config's episodes per task)."""
    return eval_tasks(config, suite) * config["eval"]["n_episodes"]


def _failed_gates(record: Path) -> list[str]:
    try:
        return [g.line for g in read_gates(record) if g.passed is False]
    except WmvlaError:
        return [f"{record} is no gate record"]


def clearance(config: dict, cleared: Path, records: list[str]) -> tuple[str, str]:
    """(state, detail) of a clearance — every gate some jobs wait for: cleared, failed (an enforced gate
    failed: the study stops there) or pending (the records it waits for)."""
    if cleared.exists():
        return "cleared", ""
    failed = [line for r in records if Path(r).exists() for line in _failed_gates(Path(r))]
    if failed and config["gates"]["enforce"]:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return "failed", failed[0] + more
    root = study_root(config)
    missing = [Path(r).relative_to(root).as_posix() for r in records if not Path(r).exists()]
    return "pending", ("waits for " + ", ".join(missing)) if missing else "its clearance job has not run"


def gate_states(config: dict) -> dict[str, tuple[str, str]]:
    """Each experiment's clearance and each perturbed suite's (its scene check)."""
    states = {
        f"experiment {exp}": clearance(
            config, Path(fill(GATE_CLEARED, config, exp=exp)), clearance_records(config, exp)
        )
        for exp in config["experiments"]
    }
    for suite in perturbed_suites(config):
        scene = [fill(GATE_SCENE, config, suite=suite)]
        states[f"perturbed suite {suite}"] = clearance(
            config, Path(fill(PERTURBATION_CLEARED, config, suite=suite)), scene
        )
    return states


def waiting_for(config: dict, exp: str, gates: dict[str, tuple[str, str]]) -> str:
    """What an experiment's trainings wait for: its gates, else its latent cache; else a free slot."""
    state, detail = gates[f"experiment {exp}"]
    if state == "failed":
        return f"stopped by a failed gate: {detail}"
    if state == "pending":
        return detail
    cache = latent_cache_dir(config, experiment_encoder(config, exp))
    if uses_world(config, exp) and not (cache / "meta.json").is_file():
        return f"waits for its latent cache {cache.relative_to(study_root(config)).as_posix()}"
    return "ready: waits for a free slot"


def _evaluations(config: dict, suite: str, exp: str, seed: int, queue, leases: list[Lease]) -> list[Job]:
    """A run's evaluations: one per rollout mode, and one per perturbation if its arm is perturbed."""
    where, total = {"suite": suite, "exp": exp, "seed": seed}, episodes(config, suite)
    jobs = []
    for mode in experiment(config, exp)["eval_modes"]:
        log_path = Path(fill(log("eval"), config, **where, mode=mode))
        jobs.append(
            _eval(f"eval {mode}", eval_result(config, **where, mode=mode), log_path, total, queue, leases)
        )
    for kind in perturbation_kinds(config) if exp in perturbed_arms(config) else []:
        result = perturbed_eval_result(config, **where, kind=kind, mode="pred")
        log_path = Path(fill(log("eval_perturbed"), config, **where, perturbation=kind, mode="pred"))
        jobs.append(_eval(f"eval {kind}/pred", result, log_path, total, queue, leases))
    return jobs


def study_status(
    config: dict, queue: dict[str, str] | None, gates: dict[str, tuple[str, str]]
) -> tuple[list[RunStatus], list[Lease]]:
    """Every run of the study, with its training and evaluations, and the leases they found."""
    leases: list[Lease] = []
    waits = {exp: waiting_for(config, exp, gates) for exp in config["experiments"]}
    out = []
    for suite, exp, seed in runs(config):
        train = _train(config, suite, exp, seed, queue, leases, waits)
        out.append(RunStatus(suite, exp, seed, train, _evaluations(config, suite, exp, seed, queue, leases)))
    return out, leases
