import numpy as np
import pytest
from scipy.stats import binomtest

from wmvla.stats import mcnemar_exact, paired_bootstrap_ci, wilson_interval

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
