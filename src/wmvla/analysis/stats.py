"""The statistics the study reports, as a thin layer over statsmodels, scipy.stats and rliable.

Why a layer at all: each function names what the study needs (a paired comparison of success, the
smallest difference a comparison could have detected) and fixes the choices a reader must know — exact
McNemar on discordant pairs, Wilson intervals, Holm within a family, percentile bootstrap with a fixed
seed. The arithmetic is the libraries'.

The data are paired episodes: two arms evaluated on identical (suite, seed, task, init state). Pooled
comparisons respect that nesting by resampling episodes *within* strata (suite × seed × task) — the
stratified bootstrap rliable uses for RL benchmarks, done by scipy.stats.bootstrap over one sample per
stratum (samples are resampled independently). Seeds are strata, not a random factor: intervals speak
for these trained policies; spread across seeds is reported separately (mean ± sd, P(arm > baseline)).
"""

from collections.abc import Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a success rate (never outside [0, 1], sensible at 0 or n successes)."""
    from statsmodels.stats.proportion import proportion_confint

    if trials <= 0:
        raise ValueError(f"trials must be positive, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in [0, {trials}], got {successes}")
    low, high = proportion_confint(successes, trials, alpha=1 - level, method="wilson")
    return float(low), float(high)


def mcnemar_exact(only_arm: int, only_ref: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts (binomial test on them)."""
    from statsmodels.stats.contingency_tables import mcnemar

    if only_arm < 0 or only_ref < 0:
        raise ValueError(f"discordant counts must be non-negative, got {only_arm}, {only_ref}")
    if only_arm + only_ref == 0:
        return 1.0
    return float(mcnemar([[0, only_arm], [only_ref, 0]], exact=True).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values of one family of tests (controls the family-wise error rate)."""
    from statsmodels.stats.multitest import multipletests

    if len(pvalues) == 0:
        return []
    return [float(p) for p in multipletests(list(pvalues), method="holm")[1]]


def stratified_bootstrap_cis(
    strata: Sequence[np.ndarray],
    levels: Sequence[float] = (0.95,),
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[tuple[float, float]]:
    """Percentile intervals, one per level, of the pooled mean of paired differences, resampling within
    each stratum (scipy.stats.bootstrap resamples its samples independently: one sample per stratum).

    `strata`: one array of per-episode differences (arm − reference, in {-1, 0, 1}) per stratum. Several
    levels come from one bootstrap distribution (e.g. 95% and a multiplicity-adjusted level). A stratum
    whose differences are all equal cannot vary under resampling; it enters as a constant.
    """
    from scipy.stats import bootstrap

    strata = [np.asarray(s, dtype=float) for s in strata if len(s)]
    if not strata:
        raise ValueError("no paired differences to resample")
    total = sum(len(s) for s in strata)
    varying = [s for s in strata if np.ptp(s) > 0]
    fixed = sum(float(s.sum()) for s in strata if np.ptp(s) == 0)
    if not varying:
        return [(fixed / total, fixed / total) for _ in levels]

    def pooled_mean(*samples, axis=-1):
        return (fixed + sum(sample.sum(axis=axis) for sample in samples)) / total

    result = bootstrap(
        tuple(varying),
        pooled_mean,
        paired=False,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=levels[0],
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    distribution = result.bootstrap_distribution  # the percentile method's interval = its quantiles
    return [
        (float(np.quantile(distribution, (1 - level) / 2)), float(np.quantile(distribution, (1 + level) / 2)))
        for level in levels
    ]


def probability_of_improvement(arm_scores: np.ndarray, ref_scores: np.ndarray) -> float:
    """P(arm > reference): over tasks, the chance a run of the arm beats a run of the reference on the
    task (Mann-Whitney), averaged — rliable's `probability_of_improvement`. Scores: (runs, tasks)."""
    from rliable import metrics

    return float(metrics.probability_of_improvement(np.asarray(arm_scores), np.asarray(ref_scores)))


def tost_paired(arm: np.ndarray, ref: np.ndarray, margin: float) -> float:
    """p-value of the two one-sided tests that the mean paired difference lies within ±margin."""
    from statsmodels.stats.weightstats import ttost_paired

    arm, ref = np.asarray(arm, dtype=float), np.asarray(ref, dtype=float)
    if np.all(arm == ref):
        return 0.0  # identical outcomes on every pair: the difference is exactly 0
    return float(ttost_paired(arm, ref, -margin, margin)[0])


def minimal_detectable_difference(
    n_pairs: int, discordance: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest success-rate difference a paired comparison of `n_pairs` could detect (two-sided,
    `alpha`, `power`), given the observed share of discordant pairs.

    statsmodels solves the paired t-test's standardised effect size e = d / sd; with discordance ψ the
    per-pair difference has variance ψ − d², so d = e · sqrt(ψ / (1 + e²)). NaN without discordant pairs
    (no variance to scale by) or with fewer than two pairs.
    """
    from statsmodels.stats.power import TTestPower

    if n_pairs < 2 or discordance <= 0:
        return float("nan")
    effect = TTestPower().solve_power(nobs=n_pairs, alpha=alpha, power=power, alternative="two-sided")
    return float(effect * np.sqrt(discordance / (1 + effect**2)))
