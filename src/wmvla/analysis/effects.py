"""How much a difference of success rates between two arms is worth, with the training run as the unit and
each suite as its own stratum (DESIGN.md §6 "Statistics").

Why this model. Two training runs of one arm differ by a point or more per suite, and by how much depends on
the suite: long-horizon suites vary more, suites at the ceiling hardly at all, in ways no single scale (the
logit, say) makes equal. So a suite's between-run variance is estimated from that suite alone — never
borrowed from another — but from every arm evaluated there: in one suite, the runs of different arms are
assumed to vary alike (one-way ANOVA of the runs' success rates on the arm, statsmodels OLS; with 16 arms × 3
seeds, 32 degrees of freedom per suite). A paired difference of two arms' runs varies twice as much as one
run. A difference between rollout modes of one checkpoint (a rollout ablation) does not vary with the run's
own offset, only with how that mode's effect varies between runs: its variance is that contrast's own across
the runs (pooled over the arms evaluated in both modes), never another contrast's. Neither is ever smaller
than the comparison's own episodes allow (its paired sampling variance).

Each suite's difference gets a t-test, interval and TOST on its variance's degrees of freedom. The overall
difference is a fixed-weight average of the suites' differences — the LIBERO average unless the config sets
other weights (`analysis.suite_weights`), never weights that depend on the outcomes — with its variance the
weighted sum of the suites' and Welch–Satterthwaite degrees of freedom. Power statements are made for the
test that is run: the noncentral t's power (scipy.special) at that test's own degrees of freedom and its
first-step Holm level (the strictest it meets: the power it states is a lower bound).
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wmvla.design import RUN_UNIT  # noqa: F401  (declared beside the verdicts whose unit it is)

BETWEEN, WITHIN = "between runs", "within a run"  # a comparison of two trainings, or of two modes of one

RUN_METHOD = (
    "per pair of training runs (suite, seed) the paired difference of success rates on identical episodes; "
    "each suite its own stratum: its between-run variance from that suite alone, pooled over the arms "
    "evaluated there (one-way ANOVA of the runs' success rates on the arm; for rollout modes of one "
    "checkpoint, the variance of that mode's difference across runs; statsmodels OLS), never below "
    "the episodes' sampling variance; a t-test per suite on that variance's degrees of freedom; overall "
    "the fixed-weight average of the suites ({weights}) with Welch–Satterthwaite degrees of freedom"
)


@dataclass(frozen=True)
class Spread:
    """How much one run pair's difference varies in one suite, and how well that is known."""

    sd: float  # standard deviation of one run pair's paired difference (success-rate units)
    df: int  # degrees of freedom of its estimate
    groups: int  # df gained per seed added to every arm: the arms (or arm × mode contrasts) pooled

    def at_seeds(self, seeds: int) -> "Spread":
        """The same spread, known as well as `seeds` runs of every pooled arm would know it."""
        return Spread(self.sd, self.groups * (seeds - 1), self.groups)

    def at_least(self, sd: float) -> "Spread":
        return Spread(max(self.sd, sd), self.df, self.groups)


@dataclass(frozen=True)
class Part:
    """One suite's share of a difference: its weight, its spread, and how many run pairs it averages."""

    weight: float
    spread: Spread
    runs: int


@dataclass(frozen=True)
class Effect:
    """A difference of success rates as a weighted sum of suites' mean run-pair differences (one suite: its
    own difference), with the t distribution its variance gives; NaN where no variance is estimable."""

    estimate: float
    parts: tuple[Part, ...]

    @property
    def estimable(self) -> bool:
        return all(p.spread.df >= 1 and math.isfinite(p.spread.sd) for p in self.parts) and self.se > 0

    @property
    def n_runs(self) -> int:
        return sum(p.runs for p in self.parts)

    @property
    def se(self) -> float:
        return float(math.sqrt(sum(self._terms())))

    @property
    def df(self) -> float:
        """Welch–Satterthwaite: one suite's own df, or what a weighted sum of estimated variances carries."""
        terms = self._terms()
        if any(p.spread.df < 1 for p in self.parts) or sum(terms) == 0:
            return float("nan")
        return float(
            sum(terms) ** 2 / sum(t**2 / p.spread.df for t, p in zip(terms, self.parts, strict=True))
        )

    def _terms(self) -> list[float]:
        return [p.weight**2 * p.spread.sd**2 / p.runs for p in self.parts]

    def p_value(self) -> float:
        """Two-sided t-test of "no difference" (scipy.special's Student t: the distribution without the
        per-call overhead of scipy.stats, which a report calls thousands of times)."""
        from scipy.special import stdtr

        if not self.estimable:
            return float("nan")
        return float(2 * stdtr(self.df, -abs(self.estimate) / self.se))

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        from scipy.special import stdtrit

        if not self.estimable:
            return float("nan"), float("nan")
        half = stdtrit(self.df, (1 + level) / 2) * self.se
        return self.estimate - half, self.estimate + half

    def p_equivalent(self, margin: float) -> float:
        """TOST: the larger of the one-sided p-values that the difference lies above −margin and below +margin
        (below α exactly when the 1 − 2α interval lies inside ±margin)."""
        from scipy.special import stdtr

        if not self.estimable:
            return float("nan")
        above = stdtr(self.df, -(self.estimate + margin) / self.se)
        below = stdtr(self.df, (self.estimate - margin) / self.se)
        return float(max(above, below))

    def power(self, difference: float, alpha: float) -> float:
        """The chance this test (two-sided, at `alpha`, on its df) finds a true `difference`: rejects in its
        direction (scipy.special's noncentral t; the other tail — below α/2, and no finding of this difference
        — is left out, which also avoids scipy's noncentral t cdf, NaN far in that tail)."""
        from scipy.special import nctdtr, stdtrit

        if not self.estimable:
            return float("nan")
        critical = stdtrit(self.df, 1 - alpha / 2)
        return float(1 - nctdtr(self.df, abs(difference) / self.se, critical))

    def detectable_difference(self, alpha: float, power: float) -> float:
        """The smallest |difference| this test finds with `power` at two-sided `alpha`."""
        from scipy.optimize import brentq

        if not self.estimable:
            return float("nan")
        high = self.se
        while self.power(high, alpha) < power:
            high *= 2
        return float(brentq(lambda d: self.power(d, alpha) - power, 0.0, high, xtol=1e-6))

    def at_seeds(self, seeds: int) -> "Effect":
        """The same comparison had every suite `seeds` run pairs, and every pooled arm `seeds` runs."""
        return Effect(
            self.estimate, tuple(Part(p.weight, p.spread.at_seeds(seeds), seeds) for p in self.parts)
        )

    def seeds_needed(self, difference: float, alpha: float, power: float, most: int = 200) -> float:
        """Seeds per suite with which this test finds `difference` with `power` at `alpha`, at the spreads
        seen; NaN beyond `most`."""
        if not self.estimable or difference <= 0:
            return float("nan")

        def enough(seeds: int) -> bool:
            return self.at_seeds(seeds).power(difference, alpha) >= power

        if not enough(most):
            return float("nan")
        low, high = 1, most  # power grows with the seeds: the first that is enough, by bisection
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if enough(middle) else (middle, high)
        return float(high)


def suite_spreads(runs: pd.DataFrame, reference_mode: str) -> dict[tuple[str, str], Spread]:
    """(suite, kind) → the spread of one run pair's difference there, from the runs in that suite.

    `runs`: one row per suite × exp × mode × seed with its success rate `sr`. Between runs (`BETWEEN`): the
    arms' runs in `reference_mode` (one per training), one-way ANOVA on the arm. Within a run
    (`within(mode)`): each run's difference of `mode` from `reference_mode`, one-way ANOVA on the arm over the
    arms evaluated in both — the contrast's own variance, never another contrast's (zero and random memory may
    vary alike with each other and unlike with the memory used). A kind a suite cannot estimate (no arm with
    two runs) is absent.
    """
    spreads = {}
    for suite, rows in runs.groupby("suite", sort=True):
        trained = rows[rows["mode"] == reference_mode]
        arms = pd.get_dummies(trained["exp"], dtype=float)
        if (fit := _residual(trained["sr"], arms, 2, trained["exp"].nunique())) is not None:
            spreads[(suite, BETWEEN)] = fit
        reference = trained.set_index(["exp", "seed"])["sr"]
        for mode, moded in rows[rows["mode"] != reference_mode].groupby("mode"):
            paired = moded.join(reference.rename("ref"), on=["exp", "seed"], how="inner")
            contrast = paired["sr"] - paired["ref"]
            arms = pd.get_dummies(paired["exp"], dtype=float)
            if (fit := _residual(contrast, arms, 1, paired["exp"].nunique())) is not None:
                spreads[(suite, within(mode))] = fit
    return spreads


def change_spreads(runs: pd.DataFrame, reference: pd.DataFrame, kind: str) -> dict[tuple[str, str], Spread]:
    """(suite, kind) → the spread of one run pair's difference of changes: each run's change of success rate
    from `reference` (the same checkpoint evaluated elsewhere, one row per suite × exp × seed with `sr`) to
    `runs`, one-way ANOVA on the arm over the arms evaluated in both (×2: two runs' changes differ). What an
    interaction varies by: how much a run's robustness to a perturbation differs from another run's."""
    paired = runs.merge(reference, on=["suite", "exp", "seed"], suffixes=("", "_ref"))
    spreads = {}
    for suite, rows in paired.groupby("suite", sort=True):
        arms = pd.get_dummies(rows["exp"], dtype=float)
        if (fit := _residual(rows["sr"] - rows["sr_ref"], arms, 2, rows["exp"].nunique())) is not None:
            spreads[(suite, kind)] = fit
    return spreads


def within(mode: str) -> str:
    """The kind of a comparison of `mode` with the reference mode on the same checkpoints."""
    return f"{WITHIN}: {mode}"


def _residual(y: pd.Series, design: pd.DataFrame, scale: float, groups: int) -> Spread | None:
    """OLS of `y` on a full-rank design of indicators (statsmodels): the sd of one run pair's difference is
    √scale × the residual sd (2 for a difference of two runs, 1 for a run's own contrast). None without a
    residual degree of freedom."""
    from statsmodels.regression.linear_model import OLS

    if y.empty:
        return None
    fit = OLS(y.to_numpy(float), design.to_numpy()).fit()
    df = round(fit.df_resid)
    return Spread(float(np.sqrt(scale * fit.ssr / df)), df, groups) if df >= 1 else None


def suite_weights(suites: list[str], configured: dict[str, float] | None) -> dict[str, float]:
    """The overall's weight of each suite: the configured ones renormalised over `suites`, else equal."""
    if not configured:
        return dict.fromkeys(suites, 1 / len(suites))
    total = sum(configured[s] for s in suites)
    return {s: configured[s] / total for s in suites}


def weights_text(configured: dict[str, float] | None) -> str:
    if not configured:
        return "equal weights: the LIBERO average"
    return "weights set in the config: " + ", ".join(f"{s} {w:g}" for s, w in configured.items())
