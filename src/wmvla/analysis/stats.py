"""The statistics the study reports, as a thin layer over statsmodels and scipy.stats.

Why a layer at all: each function names what the study needs and fixes the choices a reader must know. The
arithmetic is the libraries'.

**The training run is the unit of replication, and suites are strata.** The study's claims are about a method
(fine-tuning SmolVLA with a world branch), and two training runs of one arm differ in success rate by about a
point per suite. An arm and its reference are evaluated on identical episodes (suite, seed, task, LIBERO init
state), so each (suite, seed) gives one paired difference of success rates — one number per pair of training
runs, with its own sampling variance from its episodes. LIBERO's suites ask different questions and sit at
different success levels (three near the ceiling, `libero_10` with headroom), so the differences are modelled
per suite: one mean per suite, and for each run pair the sampling variance of its episodes plus a between-run
variance. A training seed shifts the logits of success, so the between-run variance is one number on the logit
scale, common to the suites, and maps to each suite's success level p as τ² · (p(1 − p))² (the delta method):
little near the ceiling, most where there is headroom. τ² is estimated as Paule–Mandel does (scipy's root
finding: the weighted residuals' mean square equals 1), the suite means by statsmodels WLS with those
variances, and every interval uses a t distribution on runs − suites degrees of freedom, never narrower than
the episodes alone allow. Each suite gets its own estimate and interval; the overall estimate is the
precision-weighted mean of the suites (a suite whose runs agree closely weighs more). Equivalence (TOST), the
smallest detectable difference and the seeds a difference would need follow from the same standard errors. A
design with one run per suite and arm cannot estimate the between-run variance: no run-level inference.

Episode-level numbers stay as description of *these checkpoints*: Wilson intervals of pooled success rates,
the exact McNemar test of the pooled discordant pairs.
"""

import functools
import gc
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RUN_UNIT = "training run (suite × seed)"
RUN_METHOD = (
    "suite-stratified weighted least squares of the per-run paired differences (statsmodels WLS, one mean "
    "per suite; each run's variance its episodes' sampling variance plus a between-run variance common to "
    "the suites on the logit scale, Paule–Mandel, mapped to the suite's success level); per suite a t "
    "interval, overall the precision-weighted mean of the suites; t on runs − suites degrees of freedom"
)


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


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values of one family of tests (controls the family-wise error rate). A NaN p-value (a
    comparison that could not be tested) stays NaN and does not count in the family."""
    from statsmodels.stats.multitest import multipletests

    values = np.asarray(pvalues, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    tested = ~np.isnan(values)
    if tested.any():
        # statsmodels' Holm branch ends in a full `gc.collect()`, which walks the whole heap (0.1–0.5 s a call
        # in a report or a test session): the heap is frozen out of the collector for the call, then put back
        gc.freeze()
        try:
            adjusted[tested] = multipletests(values[tested], method="holm")[1]
        finally:
            gc.unfreeze()
    return [float(p) for p in adjusted]


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

    with warnings.catch_warnings():  # the Paule–Mandel iteration warns when τ² is 0, a valid estimate
        warnings.simplefilter("ignore")
        return combine_effects(effects, variances, method_re="iterated", use_t=True)


def between_run_sd(rates: Sequence[float], variances: Sequence[float]) -> float:
    """The between-run standard deviation τ of one arm's success rate in one suite (Paule–Mandel,
    statsmodels), beyond what the runs' episodes explain; NaN with fewer than two runs. A description of the
    arm, not a test."""
    if len(rates) < 2:
        return float("nan")
    return float(math.sqrt(max(0.0, _combine(np.asarray(rates, float), np.asarray(variances, float)).tau2)))


@dataclass(frozen=True)
class RunLevelEffect:
    """A difference between two arms with the training run as the unit (NaN fields: not estimable)."""

    n_runs: int
    estimate: float
    se: float
    df: int  # runs − suites of the comparison
    between_run_sd: float  # sd of one run pair's difference beyond its episodes' sampling noise

    @property
    def estimable(self) -> bool:
        return self.df >= 1 and math.isfinite(self.se) and self.se > 0

    @property
    def run_sd(self) -> float:
        """The spread of one run pair's difference that the standard error implies (se · √runs)."""
        return self.se * math.sqrt(self.n_runs)

    def p_value(self) -> float:
        """Two-sided t-test of "no difference"."""
        from scipy.stats import t

        if not self.estimable:
            return float("nan")
        return float(2 * t.sf(abs(self.estimate) / self.se, self.df))

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        from scipy.stats import t

        if not self.estimable:
            return float("nan"), float("nan")
        half = t.ppf((1 + level) / 2, self.df) * self.se
        return self.estimate - half, self.estimate + half

    def p_equivalent(self, margin: float) -> float:
        """TOST: the larger of the two one-sided p-values that the difference lies above −margin and below
        +margin (small: equivalent within ±margin)."""
        from scipy.stats import t

        if not self.estimable:
            return float("nan")
        above = t.sf((self.estimate + margin) / self.se, self.df)
        below = t.cdf((self.estimate - margin) / self.se, self.df)
        return float(max(above, below))

    def detectable_difference(self, alpha: float, power: float) -> float:
        """The smallest |difference| these runs detect with `power` at two-sided `alpha` (statsmodels'
        t-test power, at the observed spread of a run pair's difference)."""
        if not self.estimable:
            return float("nan")
        return _detectable_effect(self.n_runs, alpha, power) * self.run_sd

    def seeds_needed(
        self, difference: float, suites: int, alpha: float, power: float, most: int = 100
    ) -> float:
        """Seeds per suite (over `suites` suites) that detect `difference` with `power` at two-sided `alpha`,
        at the observed spread of a run pair's difference (statsmodels' t-test power); NaN beyond `most`."""
        if not self.estimable or difference <= 0:
            return float("nan")
        effect = difference / self.run_sd

        def enough(seeds: int) -> bool:
            return _detectable_effect(seeds * suites, alpha, power) <= effect

        if not enough(most):
            return float("nan")
        low, high = 1, most  # power grows with the seeds: the first that is enough, by bisection
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if enough(middle) else (middle, high)
        return float(max(2, high))


@functools.cache
def _detectable_effect(nobs: int, alpha: float, power: float) -> float:
    """The standardised effect a two-sided one-sample t-test on `nobs` detects with `power` (statsmodels);
    it depends on nothing else, so a report that asks for it hundreds of times solves it once per design."""
    from statsmodels.stats.power import TTestPower

    if nobs < 2:
        return float("inf")
    effect = TTestPower().solve_power(nobs=nobs, alpha=alpha, power=power, alternative="two-sided")
    return float(np.asarray(effect).item())


@dataclass(frozen=True)
class StratifiedEffect:
    """One comparison of two arms: overall, and in each suite."""

    overall: RunLevelEffect
    suites: dict[str, RunLevelEffect]
    weights: dict[str, float]  # each suite's weight in the overall estimate (sum 1)
    tau2: float = float("nan")  # the between-run variance on the logit scale (Paule–Mandel)


def stratified_effect(
    differences: Sequence[float], variances: Sequence[float], suites: Sequence[str], levels: Sequence[float]
) -> StratifiedEffect:
    """Per-run paired differences (their sampling variances, their suites, and the mean success rate of the
    two runs) → the effect overall and per suite.

    Each run's variance is its sampling variance plus τ² · (p_s(1 − p_s))², p_s its suite's mean success rate:
    a between-run variance common to the suites on the logit scale. τ² solves Paule–Mandel's equation (the
    weighted residual mean square of statsmodels' WLS on one indicator per suite is 1; scipy's brentq), 0 if
    the runs vary no more than their episodes explain. Not estimable (NaN standard errors) unless every suite
    has two runs: a suite's runs must show their own spread.
    """
    import statsmodels.api as sm
    from scipy.optimize import brentq

    d, v, labels = np.asarray(differences, float), np.asarray(variances, float), np.asarray(suites)
    rate = np.asarray(levels, float)
    if not (len(d) == len(v) == len(labels) == len(rate)) or len(d) == 0:
        raise ValueError(
            f"need a variance, suite and level per difference, got {len(d)}, {len(v)}, {len(labels)}"
        )
    names = sorted(set(labels.tolist()))
    design = (labels[:, None] == np.array(names)[None, :]).astype(float)  # (runs, suites)
    counts = design.sum(axis=0)
    if counts.min() < 2:
        return _not_estimable(d, labels, names, counts)
    suite_rate = (design * rate[:, None]).sum(axis=0) / counts
    slope = design @ (suite_rate * (1 - suite_rate))  # d SR / d logit at each run's suite level

    def fit(tau2: float):
        return sm.WLS(d, design, weights=1 / (v + tau2 * slope**2)).fit()

    tau2 = 0.0
    if fit(0.0).scale > 1.0 and slope.any():  # the runs vary more than their episodes explain
        upper = 1.0
        while fit(upper).scale > 1.0 and upper < 1e6:
            upper *= 10
        tau2 = brentq(lambda t: fit(t).scale - 1.0, 0.0, upper) if fit(upper).scale <= 1.0 else upper
    result = fit(tau2)
    cov = np.asarray(result.normalized_cov_params) * max(1.0, result.scale)  # known variances, never narrower
    precision = 1 / np.diag(cov)
    weights = precision / precision.sum()
    spread = np.sqrt(tau2) * (suite_rate * (1 - suite_rate))  # between-run sd of a difference, per suite
    df = len(d) - len(names)
    overall = RunLevelEffect(
        n_runs=len(d),
        estimate=float(weights @ result.params),
        se=float(np.sqrt(weights @ cov @ weights)),
        df=df,
        between_run_sd=float(weights @ spread),
    )
    per_suite = {
        name: RunLevelEffect(
            int(counts[i]), float(result.params[i]), float(np.sqrt(cov[i, i])), df, float(spread[i])
        )
        for i, name in enumerate(names)
    }
    return StratifiedEffect(
        overall, per_suite, dict(zip(names, map(float, weights), strict=True)), float(tau2)
    )


def _not_estimable(
    d: np.ndarray, labels: np.ndarray, names: list[str], counts: np.ndarray
) -> StratifiedEffect:
    """The differences described (suite means, run-weighted overall), nothing inferred."""
    nan = float("nan")
    means = {name: float(d[labels == name].mean()) for name in names}
    weights = {name: float(c / counts.sum()) for name, c in zip(names, counts, strict=True)}
    suites = {
        name: RunLevelEffect(int(c), means[name], nan, 0, nan) for name, c in zip(names, counts, strict=True)
    }
    overall = RunLevelEffect(len(d), float(sum(weights[n] * means[n] for n in names)), nan, 0, nan)
    return StratifiedEffect(overall, suites, weights)


def probability_of_improvement(arm_scores: np.ndarray, ref_scores: np.ndarray) -> float:
    """P(arm > reference): over tasks, the chance a run of the arm beats a run of the reference on the task
    (Mann–Whitney U / (runs × runs), ties counting half), averaged — rliable's "probability of improvement",
    computed for every task in one vectorised scipy.stats call. Scores: (runs, tasks)."""
    from scipy.stats import mannwhitneyu

    x, y = np.asarray(arm_scores, float), np.asarray(ref_scores, float)
    if x.shape[1] != y.shape[1] or x.size == 0 or y.size == 0:
        raise ValueError(f"need (runs, tasks) scores with the same tasks, got {x.shape} and {y.shape}")
    u = np.atleast_1d(mannwhitneyu(x, y, alternative="greater", axis=0).statistic)
    return float(np.mean(u / (len(x) * len(y))))
