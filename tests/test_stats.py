import numpy as np
import pytest
from scipy.stats import binomtest

from wmvla.analysis.stats import mcnemar_exact, wilson_interval
from wmvla.eval.offline import paired_bootstrap_ci

Z95 = 1.959963984540054


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score), 4 decimals
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(3, 10), (45, 50), (7, 7), (0, 1)])
def test_wilson_bounds_solve_the_score_equation(k, n):
    """Each bound p satisfies (k/n - p)^2 = z^2 p (1-p) / n: the score test is exactly at alpha."""
    for p in wilson_interval(k, n):
        assert (k / n - p) ** 2 == pytest.approx(Z95**2 * p * (1 - p) / n, abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(1, 0), (-1, 5), (6, 5)])
def test_wilson_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError):
        wilson_interval(k, n)


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [  # two-sided exact binomial tails, by hand: 2·Σ_{i≤min} C(n, i) / 2^n
        (1, 9, 2 * (1 + 10) / 2**10),  # 0.0215
        (12, 2, 2 * (1 + 14 + 91) / 2**14),  # 0.0129
        (0, 5, 2 / 2**5),  # 0.0625: five discordant pairs can never reach 0.05
        (4, 4, 1.0),
        (0, 0, 1.0),
    ],
)
def test_mcnemar_exact_known_values(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)
    assert mcnemar_exact(c, b) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(3, 17), (25, 40), (1, 1), (0, 30)])
def test_mcnemar_exact_agrees_with_scipy_binomtest(b, c):
    assert mcnemar_exact(b, c) == pytest.approx(binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-9)


def test_paired_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    rng = np.random.default_rng(1)
    diffs = rng.choice([-1.0, 0.0, 1.0], size=200, p=[0.1, 0.6, 0.3])
    low, high = paired_bootstrap_ci(diffs)
    assert low < diffs.mean() < high
    assert (low, high) == paired_bootstrap_ci(diffs)  # fixed seed
    assert low > 0  # +0.2 on 200 pairs is clearly positive
    assert paired_bootstrap_ci([0.5] * 10) == (0.5, 0.5)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([])


def test_holm_matches_the_step_down_by_hand():
    from wmvla.analysis.stats import holm

    # sorted 0.01, 0.03, 0.04, m = 3: 3·0.01 = 0.03; max(0.03, 2·0.03) = 0.06; max(0.06, 1·0.04) = 0.06
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([]) == [] and holm([0.7, 0.9]) == pytest.approx([1.0, 1.0])


def test_stratified_bootstrap_is_scipys_multi_sample_bootstrap():
    from scipy.stats import bootstrap

    from wmvla.analysis.stats import stratified_bootstrap_cis

    rng = np.random.default_rng(3)
    strata = [rng.choice([-1.0, 0.0, 1.0], size=n, p=[0.2, 0.5, 0.3]) for n in (20, 30, 25)]
    strata.append(np.zeros(15))  # a stratum without discordance: a constant
    total = sum(len(s) for s in strata)
    direct = bootstrap(
        tuple(strata[:3]), lambda *s, axis=-1: sum(x.sum(axis=axis) for x in s) / total, paired=False,
        vectorized=True, n_resamples=2000, method="percentile", rng=np.random.default_rng(0),
    )  # fmt: skip
    (low, high), (low99, high99) = stratified_bootstrap_cis(strata, (0.95, 0.99))
    assert (low, high) == pytest.approx((direct.confidence_interval.low, direct.confidence_interval.high))
    assert low99 < low < high < high99
    assert stratified_bootstrap_cis([np.zeros(5), np.ones(5)]) == [(0.5, 0.5)]


def test_tost_is_statsmodels_paired_tost():
    from statsmodels.stats.weightstats import ttost_paired

    from wmvla.analysis.stats import tost_paired

    rng = np.random.default_rng(5)
    a, b = rng.random(400) < 0.6, rng.random(400) < 0.6
    assert tost_paired(a, b, 0.1) == pytest.approx(
        ttost_paired(a.astype(float), b.astype(float), -0.1, 0.1)[0]
    )
    assert tost_paired(a, a, 0.05) == 0.0  # identical outcomes: equivalent


def test_the_detectable_difference_has_the_asked_power():
    """At the returned difference d, the paired test's power (statsmodels) is 80%, by construction."""
    from statsmodels.stats.power import TTestPower

    from wmvla.analysis.stats import minimal_detectable_difference

    n, psi = 2000, 0.3
    d = minimal_detectable_difference(n, psi)
    effect = d / np.sqrt(psi - d**2)  # the standardised effect of d with discordance psi
    power = TTestPower().power(effect_size=effect, nobs=n, alpha=0.05)
    assert power == pytest.approx(0.8, abs=1e-4)  # up to the solver's tolerance
    assert 0.02 < d < 0.04  # ~2.8 · sqrt(0.3 / 2000) = 0.034
    assert np.isnan(minimal_detectable_difference(100, 0.0)) and np.isnan(
        minimal_detectable_difference(1, 0.5)
    )


def test_probability_of_improvement_is_rliables():
    from rliable import metrics

    from wmvla.analysis.stats import probability_of_improvement

    better, worse = np.array([[0.9, 0.8], [0.7, 0.9]]), np.array([[0.1, 0.2], [0.3, 0.1]])
    assert (
        probability_of_improvement(better, worse) == 1.0 and probability_of_improvement(worse, better) == 0.0
    )
    rng = np.random.default_rng(0)
    x, y = rng.random((3, 10)), rng.random((3, 10))
    assert probability_of_improvement(x, y) == pytest.approx(metrics.probability_of_improvement(x, y))


def test_evaluation_results_carry_the_wilson_interval_the_analysis_computes():
    """The eval job (below the analysis layer) calls statsmodels itself: it agrees with `wilson_interval`."""
    from wmvla.eval.results import build_result

    episodes = [{"task_id": 0, "init_state_id": j, "success": j < 3} for j in range(7)]
    result = build_result(
        episodes, suite="s", mode="pred", seed=0, checkpoint_step=1, task_names={}, source="t", provenance={}
    )
    assert result["overall"]["sr_ci95"] == pytest.approx(wilson_interval(3, 7), abs=1e-12)
