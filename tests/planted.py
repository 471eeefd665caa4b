"""Planted studies: evaluation results in the project's own format (`<suite>/<exp>/seed<s>/eval/<mode>.json`)
whose truth is known, with the variance real studies have between training runs.

How an episode's success is drawn (logit scale): the suite's level (SmolVLA's published LIBERO success
rates, or with one suite near the ceiling), plus the task's difficulty (sd 0.8) and the init state's (sd 1.0;
shared by every arm, as LIBERO's fixed init states are), plus the training run's own offset (sd `run_sd`) and
the run's offset per task (sd 2 · `run_sd`) — what a different training seed gives — plus the planted effect
of the arm in that suite. The rollout modes of one arm share its runs (they evaluate the same checkpoints): an
effect planted on E2 `pred` alone is memory worth that much (E2 zero/random stay at E0's level)."""

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit

SUITE_LEVELS = {"libero_spatial": 0.90, "libero_object": 0.96, "libero_goal": 0.92, "libero_10": 0.71}
CEILING_LEVELS = {**SUITE_LEVELS, "libero_object": 0.99}  # one suite near the ceiling
ARMS = {"E0": ("pred",), "E1": ("pred",), "E2": ("pred", "zero", "random")}


def everywhere(difference: float) -> dict[str, float]:
    """An effect of `difference` (success rate) in every suite."""
    return dict.fromkeys(SUITE_LEVELS, difference)


@dataclass(frozen=True)
class PlantedStudy:
    run_sd: float = 0.1  # logit sd of a training run's offset (and 2x per run and task)
    effect: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)  # (exp, mode) → suite → +SR
    levels: dict[str, float] = field(default_factory=lambda: dict(SUITE_LEVELS))
    seeds: int = 3
    tasks: int = 10
    init_states: int = 50
    task_sd: float = 0.8
    init_sd: float = 1.0

    def write(self, root: Path, rng: np.random.Generator) -> list[Path]:
        """Every evaluation file of the study under `root`; returns their paths."""
        files = []
        for suite, level in self.levels.items():
            base = logit(level) + rng.normal(0, self.task_sd, (self.tasks, 1))
            base = base + rng.normal(0, self.init_sd, (self.tasks, self.init_states))  # (tasks, init states)
            for exp, modes in ARMS.items():
                for seed in range(self.seeds):
                    run = rng.normal(0, self.run_sd) + rng.normal(0, 2 * self.run_sd, (self.tasks, 1))
                    for mode in modes:
                        shift = _logit_shift(base, self.effect.get((exp, mode), {}).get(suite, 0.0))
                        success = rng.random(base.shape) < expit(base + run + shift)
                        files.append(_write_eval(root, suite, exp, seed, mode, success))
        return files


def _logit_shift(base: np.ndarray, effect: float) -> float:
    """The logit shift that raises the suite's expected success rate by `effect`."""
    if effect == 0:
        return 0.0
    start = expit(base).mean()
    return float(brentq(lambda x: expit(base + x).mean() - start - effect, -10, 10))


def _write_eval(root: Path, suite: str, exp: str, seed: int, mode: str, success: np.ndarray) -> Path:
    tasks, inits = success.shape
    result = {
        "suite": suite,
        "mode": mode,
        "seed": seed,
        "checkpoint_step": 1000,
        "tasks": [{"task_id": t, "task": f"{suite} task {t}"} for t in range(tasks)],
        "episodes": [
            {"task_id": t, "init_state_id": i, "success": bool(success[t, i]), "steps": 100}
            for t in range(tasks)
            for i in range(inits)
        ],
    }
    path = root / suite / exp / f"seed{seed}" / "eval" / f"{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return path


def study_verdicts(study: PlantedStudy, root: Path, seed: int) -> dict[str, tuple[str, str]]:
    """One planted study written under `root` and run through the project's tables and verdicts:
    verdict id → (verdict, reason)."""
    from wmvla.analysis.report import build_tables
    from wmvla.analysis.verdicts import verdicts
    from wmvla.design import Design

    design = Design(baseline="E0", capacity="E1", world="E2")
    files = study.write(root, np.random.default_rng(seed))
    frame = verdicts(build_tables(files, [], [], design), design)
    return {row.id: (row.verdict, row.reason) for row in frame.itertuples()}


def study_pool() -> ProcessPoolExecutor:
    """Every core: fresh processes (spawned: the test session's process holds torch and its threads)."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context)


def many_verdicts(
    pool: ProcessPoolExecutor, study: PlantedStudy, root: Path, studies: int, seed: int
) -> list[dict[str, tuple[str, str]]]:
    """The verdicts of `studies` independent draws of the planted study (draw i from seed (seed, i))."""
    draws = [pool.submit(study_verdicts, study, Path(root) / f"study{i}", [seed, i]) for i in range(studies)]
    return [draw.result() for draw in draws]
