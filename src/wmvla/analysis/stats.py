"""The statistics the study reports beside its run-level model (`wmvla.analysis.effects`), as a thin layer
over statsmodels, scipy.stats and numpy: each function names what the study needs and fixes the choices a
reader must know; the arithmetic is the libraries'.

Episode-level numbers are description of *these checkpoints*: Wilson intervals of pooled success rates, the
exact McNemar test of pooled discordant pairs. Multiplicity: Holm's step-down with weights, over every test of
one family.
"""

import math
import warnings
from collections.abc import Sequence

import numpy as np


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a success rate (never outside [0, 1], sensible at 0 or n successes)."""
    low, high = wilson_intervals(np.array([successes]), np.array([trials]), level)
    return float(low[0]), float(high[0])


def wilson_intervals(
    successes: np.ndarray, trials: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score intervals of many success rates at once (statsmodels, vectorised)."""
    from statsmodels.stats.proportion import proportion_confint

    successes, trials = np.asarray(successes), np.asarray(trials)
    if (trials <= 0).any():
        raise ValueError(f"trials must be positive, got {trials[trials <= 0][:3]}")
    if ((successes < 0) | (successes > trials)).any():
        raise ValueError("successes must lie in [0, trials]")
    low, high = proportion_confint(successes, trials, alpha=1 - level, method="wilson")
    return np.asarray(low, float), np.asarray(high, float)


def mcnemar_exact(only_arm: int, only_ref: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts (binomial test on them)."""
    from statsmodels.stats.contingency_tables import mcnemar

    if only_arm < 0 or only_ref < 0:
        raise ValueError(f"discordant counts must be non-negative, got {only_arm}, {only_ref}")
    if only_arm + only_ref == 0:
        return 1.0
    return float(mcnemar([[0, only_arm], [only_ref, 0]], exact=True).pvalue)


def weighted_holm(pvalues: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Holm's step-down with weights (Holm 1979, §4), as adjusted p-values: a test is rejected at family-wise
    level α exactly when its adjusted p is ≤ α. Tests are taken in order of p / weight; each is compared with
    α times its weight over the weights of the tests not yet rejected. Equal weights: Holm's procedure. A NaN
    p-value (a comparison that could not be tested) stays NaN and takes no part in the family."""
    p, w = np.asarray(pvalues, dtype=float), np.asarray(weights, dtype=float)
    if p.shape != w.shape or (w[~np.isnan(p)] <= 0).any():
        raise ValueError(f"need one positive weight per p-value, got {w.tolist()} for {p.tolist()}")
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested] / w[tested], kind="stable")]
    remaining = np.cumsum(w[order][::-1])[::-1]  # the weights of the tests not yet rejected, at each step
    adjusted[order] = np.maximum.accumulate(np.minimum(1.0, p[order] * remaining / w[order]))
    return [float(x) for x in adjusted]


def paired_difference_variance(only_arm: int, only_ref: int, n_pairs: int) -> float:
    """Sampling variance of a mean paired difference of successes over `n_pairs` episodes, with half a
    discordant pair added each way (so a run pair with no discordant episode still has a finite weight)."""
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be positive, got {n_pairs}")
    n, b, c = n_pairs + 1, only_arm + 0.5, only_ref + 0.5
    return ((b + c) / n - ((b - c) / n) ** 2) / n


def rate_variance(successes: int, trials: int) -> float:
    """Sampling variance of one run's success rate, with half a success and half a failure added."""
    p = (successes + 0.5) / (trials + 1)
    return p * (1 - p) / (trials + 1)


def _combine(effects: np.ndarray, variances: np.ndarray):
    from statsmodels.stats.meta_analysis import combine_effects

    with warnings.catch_warnings():  # the Paule–Mandel iteration divides by τ² = 0, a valid estimate
        warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
        return combine_effects(effects, variances, method_re="iterated", use_t=True)


def between_run_sd(rates: Sequence[float], variances: Sequence[float]) -> float:
    """The between-run standard deviation τ of one arm's success rate in one suite (Paule–Mandel,
    statsmodels), beyond what the runs' episodes explain; NaN with fewer than two runs. A description of the
    arm, not a test."""
    if len(rates) < 2:
        return float("nan")
    return float(math.sqrt(max(0.0, _combine(np.asarray(rates, float), np.asarray(variances, float)).tau2)))


def improvement_per_task(arm_scores: np.ndarray, ref_scores: np.ndarray) -> np.ndarray:
    """Per task, the chance a run of the arm beats a run of the reference on it (Mann–Whitney U / (runs ×
    runs), ties counting half), for every task in one vectorised scipy.stats call. Scores: (runs, tasks)."""
    from scipy.stats import mannwhitneyu

    x, y = np.asarray(arm_scores, float), np.asarray(ref_scores, float)
    if x.shape[1] != y.shape[1] or x.size == 0 or y.size == 0:
        raise ValueError(f"need (runs, tasks) scores with the same tasks, got {x.shape} and {y.shape}")
    return np.atleast_1d(mannwhitneyu(x, y, alternative="greater", axis=0).statistic) / (len(x) * len(y))


def probability_of_improvement(arm_scores: np.ndarray, ref_scores: np.ndarray) -> float:
    """P(arm > reference): `improvement_per_task` averaged over tasks — rliable's "probability of
    improvement"."""
    return float(np.mean(improvement_per_task(arm_scores, ref_scores)))
