"""The rates a gate observes on the cluster's own nodes: what the study's cost forecast is made of.

Why the gates: they run every kind of job (a few training steps, an evaluation, a latent cache read) on the
same nodes, with the same arguments, before the matrix — the pilot that tells what 192 trainings and 216
evaluations will cost. Each rate keeps its spread and the peak memory of the process that showed it.
"""

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

WARMUP_STEPS = 2  # the first training steps (compilation, allocator, data loader start) are not timed
STEP_TIMES = re.compile(r"\bupdt_s:([\d.]+)\s+data_s:([\d.]+)")  # lerobot-train's log line per step


@dataclass(frozen=True)
class Measured:
    """A finished command: its output, wall seconds and its own peak resident memory (MB)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float


def measured_run(command: list[str]) -> Measured:
    """Run `command` to its end; the peak memory is read from the kernel's accounting of that very child."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda name=name, stream=stream: output.update({name: stream.read()}))
        for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    for reader in readers:
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    return Measured(proc.returncode, output["stdout"], output["stderr"], seconds, usage.ru_maxrss / 1024)


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
        "p90": float(np.percentile(values, 90)),
        "n": len(values),
    }


def train_rates(run: Measured, steps: int) -> dict[str, Any] | None:
    """Seconds per training step after warm-up, and what a run costs besides its steps (start-up, loading,
    the final checkpoint), from a `lerobot-wm-train --log_freq=1` run; None if too short to time."""
    times = [float(a) + float(b) for a, b in STEP_TIMES.findall(run.stdout + run.stderr)]
    timed = times[WARMUP_STEPS:steps]
    if len(timed) < 3:
        return None
    return {
        "seconds_per_step": _spread(timed),
        "startup_s": round(max(0.0, run.seconds - sum(times)), 2),
        "steps_timed": len(timed),
        "max_rss_mb": round(run.max_rss_mb, 1),
    }


def eval_rates(run: Measured, result: dict[str, Any]) -> dict[str, Any] | None:
    """Env steps per second and episodes per hour of an evaluation, and its start-up (policy and env
    building), from its result's provenance; None if it ran no rollout."""
    rollout = (result.get("provenance") or {}).get("rollout") or {}
    if not rollout.get("seconds"):
        return None
    episodes = result["overall"]["n_episodes"]
    return {
        "env_steps_per_s": round(rollout["env_steps"] / rollout["seconds"], 3),
        "episodes_per_hour": round(3600 * episodes / rollout["seconds"], 2),
        "mean_episode_steps": round(float(np.mean([e["steps"] for e in result["episodes"]])), 1),
        "renders_per_env_step": round(rollout["renders"] / max(1, rollout["env_steps"]), 3),
        "startup_s": round(max(0.0, run.seconds - rollout["seconds"]), 2),
        "episodes": episodes,
        "max_rss_mb": round(run.max_rss_mb, 1),
    }


def cache_rates(provenance: dict[str, Any]) -> dict[str, Any] | None:
    """Clips encoded per second by a latent cache build (its provenance)."""
    clips, seconds = provenance.get("clips_encoded"), provenance.get("seconds")
    if not clips or not seconds:
        return None  # a build resumed from complete shards, or one made before rates were recorded
    rates = {"clips_per_s": round(clips / seconds, 2), "clips": clips}
    if "started_at" in provenance and "finished_at" in provenance:  # loading the encoder, writing shards
        started, finished = (datetime.fromisoformat(provenance[k]) for k in ("started_at", "finished_at"))
        rates["startup_s"] = round(max(0.0, (finished - started).total_seconds() - seconds), 2)
    return rates
