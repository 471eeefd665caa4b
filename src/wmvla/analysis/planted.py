"""Planted studies: evaluated episodes whose truth is known, in the format the analysis reads
(`collect.episodes_frame`), to check what the verdicts promise and what a design can find.

How an episode's success is drawn, on the logit scale: the suite's level (SmolVLA's published LIBERO
success rates, or a suite near the ceiling), plus the task's difficulty (sd 0.8) and the init state's (sd
1.0; shared by every arm, as LIBERO's fixed init states are), plus the training run's own offset (sd σ) and
the run's offset per task (sd 2σ) — what another training seed gives; seeds move tasks, not only suites —
plus the planted effect of the arm and rollout mode in that suite. σ may differ by suite (long-horizon runs
vary more) and by arm within a suite (an unstable arm). The rollout modes of one arm (the first is the trained
one) evaluate the same checkpoints on the same seeded episodes: they share the run's offsets and most
episodes' draws — another memory sends a share of episodes another way (`mode_redraw`) and moves each run by
its own offset (`mode_run_sd`) — so a rollout effect is precise but not exact, and an effect planted on E2
`pred` alone is memory worth that much (E2 zero/random stay at E0's level). Under a perturbation (LIBERO-PRO's
variants) a suite has its own level and the variant's own task and init-state difficulties; each run keeps its
plain offsets and adds its own under that perturbation (how robust a run is varies by run); the planted effect
there is the arm's own (an effect under perturbation alone is an interaction).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

from wmvla.sim.perturbations import PLAIN

SUITE_LEVELS = {"libero_spatial": 0.90, "libero_object": 0.96, "libero_goal": 0.92, "libero_10": 0.71}
CEILING_LEVELS = {**SUITE_LEVELS, "libero_object": 0.99}  # one suite near the ceiling


def everywhere(difference: float, levels: dict[str, float] = SUITE_LEVELS) -> dict[str, float]:
    """An effect of `difference` (success rate) in every suite."""
    return dict.fromkeys(levels, difference)


@dataclass(frozen=True)
class PlantedStudy:
    """A study's design (arms and their rollout modes, suites at their levels, seeds, episodes), its truth."""

    arms: dict[str, tuple[str, ...]]  # exp → rollout modes evaluated ("pred" first)
    levels: dict[str, float] = field(default_factory=lambda: dict(SUITE_LEVELS))
    run_sd: float = 0.1  # logit sd of a training run's offset (and 2x per run and task)
    suite_run_sd: dict[str, float] = field(default_factory=dict)  # suite → its own σ
    arm_run_sd: dict[tuple[str, str], float] = field(
        default_factory=dict
    )  # (exp, suite) → that arm's σ there
    effect: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)  # (exp, mode) → suite → +SR
    seeds: int = 3
    tasks: int = 10
    suite_tasks: dict[str, int] = field(default_factory=dict)  # suite → its own task count (eval.task_ids)
    init_states: int = 50
    task_sd: float = 0.8
    init_sd: float = 1.0
    mode_redraw: float = 0.2  # share of episodes another rollout mode of the checkpoint draws anew
    mode_run_sd: float = 0.1  # logit sd of a mode's own offset per run (its effect varies between runs)
    # The perturbation axis: kind → suite → the success rate there (of an arm with no planted effect); the
    # arms evaluated under it (as trained); (exp, kind) → suite → +SR; a run's own logit offset under a
    # perturbation (its robustness varies by run), beside the offsets it keeps from its plain evaluation.
    perturbed: dict[str, dict[str, float]] = field(default_factory=dict)
    perturbed_arms: tuple[str, ...] = ()
    perturbed_effect: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    robustness_sd: float = 0.1

    def sigma(self, exp: str, suite: str) -> float:
        return self.arm_run_sd.get((exp, suite), self.suite_run_sd.get(suite, self.run_sd))

    def n_tasks(self, suite: str) -> int:
        return self.suite_tasks.get(suite, self.tasks)

    def episodes(self, rng: np.random.Generator) -> pd.DataFrame:
        """One draw of every evaluated episode: one row per suite × arm × mode × seed × task × init state, and
        per perturbation × suite × perturbed arm × seed × task × init state (`perturbation` names it)."""
        parts, offsets = [], {}
        for suite, level in self.levels.items():
            tasks = self.n_tasks(suite)
            shape = (tasks, self.init_states)
            base = logit(level) + rng.normal(0, self.task_sd, (tasks, 1))
            base = base + rng.normal(0, self.init_sd, shape)
            for exp, modes in self.arms.items():
                sigma = self.sigma(exp, suite)
                for seed in range(self.seeds):
                    run = rng.normal(0, sigma) + rng.normal(0, 2 * sigma, (tasks, 1))
                    offsets[(suite, exp, seed)] = run
                    draw = rng.random(shape)  # one checkpoint, seeded episodes: its modes share the draw
                    for mode in modes:
                        shift = _logit_shift(base, self.effect.get((exp, mode), {}).get(suite, 0.0))
                        if mode != modes[0]:  # another memory: some episodes go another way, by run too
                            again = rng.random(shape) < self.mode_redraw
                            draw = np.where(again, rng.random(shape), draw)
                            shift += rng.normal(0, self.mode_run_sd)
                        success = draw < expit(base + run + shift)
                        parts.append((suite, exp, seed, mode, PLAIN, success))
        parts += self._perturbed(rng, offsets)
        return self._frame(parts)

    def _perturbed(self, rng: np.random.Generator, offsets: dict) -> list[tuple]:
        """The perturbed evaluations: the variant's own tasks' and init states' difficulties, the run's plain
        offsets plus its own offset under this perturbation, and the planted effect there."""
        parts = []
        for kind, levels in self.perturbed.items():
            for suite, level in levels.items():
                shape = (self.n_tasks(suite), self.init_states)
                with np.errstate(divide="ignore"):  # a suite at the floor or ceiling: logit ±inf
                    base = logit(level) + rng.normal(0, self.task_sd, (shape[0], 1))
                base = base + rng.normal(0, self.init_sd, shape)
                for exp in self.perturbed_arms:
                    effect = self.perturbed_effect.get((exp, kind), {}).get(suite, 0.0)
                    shift = _logit_shift(base, effect) if np.isfinite(base).all() else 0.0
                    for seed in range(self.seeds):
                        own = rng.normal(0, self.robustness_sd)
                        success = rng.random(shape) < expit(base + offsets[(suite, exp, seed)] + own + shift)
                        parts.append((suite, exp, seed, "pred", kind, success))
        return parts

    def _frame(self, parts: list[tuple]) -> pd.DataFrame:
        """One row per episode of every part (suite, exp, seed, mode, perturbation, success[task, init]). Each
        name is one string object repeated, not a copy per row: the analysis groups on them, and one object
        hashes once and compares by identity (5x faster to build, the tables 10% faster)."""
        sizes = [p[5].size for p in parts]
        ids = {shape: np.indices(shape) for shape in {p[5].shape for p in parts}}
        names = {
            p[0]: np.array([f"{p[0]} task {t}" for t in range(p[5].shape[0])], dtype=object) for p in parts
        }

        def column(i: int) -> np.ndarray:
            return np.repeat(np.array([p[i] for p in parts], dtype=object), sizes)

        return pd.DataFrame(
            {
                "suite": column(0),
                "exp": column(1),
                "seed": np.repeat([p[2] for p in parts], sizes),
                "mode": column(3),
                "perturbation": column(4),
                "checkpoint_step": 1000,
                "task_id": np.concatenate([ids[p[5].shape][0].ravel() for p in parts]),
                "init_state_id": np.concatenate([ids[p[5].shape][1].ravel() for p in parts]),
                "success": np.concatenate([p[5].ravel() for p in parts]),
                "steps": 100,
                "task": np.concatenate(
                    [np.repeat(names[p[0]][: p[5].shape[0]], p[5].shape[1]) for p in parts]
                ),
            }
        )


def _logit_shift(base: np.ndarray, effect: float) -> float:
    """The logit shift that raises the suite's expected success rate by `effect`."""
    if effect == 0:
        return 0.0
    start = expit(base).mean()
    if not 0 < start + effect < 1:
        raise ValueError(f"an effect of {effect:+.3f} moves a success rate of {start:.3f} out of [0, 1]")
    return float(brentq(lambda x: expit(base + x).mean() - start - effect, -30, 30))
