import numpy as np
import pytest
from scipy.stats import binomtest

from wmvla.analysis.stats import mcnemar_exact, wilson_interval
from wmvla.eval.offline import demonstration_bootstrap_ci, held_out_frames

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


def test_the_offline_interval_resamples_demonstrations_not_frames():
    """Two demonstrations of 100 frames with a real difference each: the interval is as wide as two
    demonstrations make it, far wider than 200 independent frames would."""
    from scipy.stats import bootstrap

    rng = np.random.default_rng(1)
    diffs = np.concatenate([0.3 + rng.normal(0, 0.01, 100), -0.1 + rng.normal(0, 0.01, 100)])
    diffs = np.concatenate([diffs, 0.05 + rng.normal(0, 0.01, 100)])
    episodes = np.repeat([4, 9, 13], 100)
    low, high = demonstration_bootstrap_ci(diffs, episodes)
    assert (low, high) == demonstration_bootstrap_ci(diffs, episodes)  # fixed seed
    frames = bootstrap(
        (diffs,), np.mean, method="percentile", rng=np.random.default_rng(0)
    ).confidence_interval
    assert low < diffs.mean() < high and (high - low) > 5 * (frames.high - frames.low)
    assert (
        demonstration_bootstrap_ci(diffs[:100], episodes[:100]) is None
    )  # one demonstration: nothing to resample


def test_held_out_frames_give_every_demonstration_the_same_share():
    lengths = {3: 40, 7: 10, 11: 200}
    chosen = held_out_frames(lengths, budget=60)
    assert {e: len(f) for e, f in chosen.items()} == {3: 20, 7: 10, 11: 20}  # all of a short one
    assert chosen == held_out_frames(lengths, budget=60)  # a fixed seed: the same frames for every arm
    assert held_out_frames({**lengths, 20: 50}, budget=80)[3] == held_out_frames(lengths, budget=60)[3]
    assert held_out_frames(lengths, budget=None) == {e: list(range(n)) for e, n in lengths.items()}
    assert all(len(f) == 1 for f in held_out_frames(lengths, budget=2).values())  # at least one each


def test_weighted_holm_is_holm_with_equal_weights_and_steps_down_by_weight_otherwise():
    from statsmodels.stats.multitest import multipletests

    from wmvla.analysis.stats import weighted_holm

    p = [0.04, 0.01, 0.03, 0.2]
    assert weighted_holm(p, [1] * 4) == pytest.approx(multipletests(p, method="holm")[1])
    # weights 0.4 (overall) and 0.2 × 3 (suites), by hand: in order of p / w — 0.01/0.2, 0.04/0.4, 0.03/0.2,
    # 0.2/0.2 — each p times the weights not yet rejected over its own: 0.01 · 1.0/0.2 = 0.05,
    # 0.04 · 0.8/0.4 = 0.08, 0.03 · 0.4/0.2 = 0.06 → 0.08 (never below an earlier step), 0.2 · 0.2/0.2 = 0.2
    weighted = weighted_holm([0.04, 0.01, 0.03, 0.2], [0.4, 0.2, 0.2, 0.2])
    assert weighted == pytest.approx([0.08, 0.05, 0.08, 0.2])
    adjusted = weighted_holm([0.01, float("nan"), 0.03], [0.5, 0.25, 0.25])  # an untested comparison: no part
    assert adjusted == pytest.approx([0.01 * 0.75 / 0.5, np.nan, 0.03], nan_ok=True)  # 0.75 left in play
    assert weighted_holm([], []) == []
    with pytest.raises(ValueError, match="positive weight"):
        weighted_holm([0.1], [0.0])


def _spread(sd: float = 0.03, df: int = 32, groups: int = 16):
    from wmvla.analysis.effects import Spread

    return Spread(sd, df, groups)


def test_a_suite_spread_is_the_one_way_anova_of_its_arms_runs_and_a_modes_its_own_contrast():
    """Between runs: the pooled within-arm variance of the runs' success rates, by hand (a paired difference
    varies twice as much as one run). Within a run (a rollout mode of one checkpoint): the variance of that
    mode's difference from `pred` across runs, by hand — never the other mode's contrast."""
    import pandas as pd

    from wmvla.analysis.effects import BETWEEN, suite_spreads, within

    rng = np.random.default_rng(2)
    rows = [
        {"suite": s, "exp": e, "mode": m, "seed": k, "sr": rng.uniform(0.5, 0.9)}
        for s in ("a", "b")
        for e, modes in (("E0", ("pred",)), ("E1", ("pred",)), ("E2", ("pred", "zero", "random")))
        for k in range(3)
        for m in modes
    ]
    runs = pd.DataFrame(rows)
    spreads = suite_spreads(runs, "pred")
    for suite in ("a", "b"):
        trained = runs[(runs["suite"] == suite) & (runs["mode"] == "pred")]
        within_arms = trained.groupby("exp")["sr"].apply(lambda x: ((x - x.mean()) ** 2).sum()).sum()
        assert spreads[(suite, BETWEEN)].sd == pytest.approx(np.sqrt(2 * within_arms / 6))
        assert (spreads[(suite, BETWEEN)].df, spreads[(suite, BETWEEN)].groups) == (6, 3)
        e2 = runs[(runs["suite"] == suite) & (runs["exp"] == "E2")].pivot(
            index="seed", columns="mode", values="sr"
        )
        for mode in ("zero", "random"):
            contrast = e2[mode] - e2["pred"]
            assert spreads[(suite, within(mode))].sd == pytest.approx(contrast.std(ddof=1))
            assert (spreads[(suite, within(mode))].df, spreads[(suite, within(mode))].groups) == (2, 1)
    one_seed = suite_spreads(runs[runs["seed"] == 0], "pred")
    assert one_seed == {}  # no arm with two runs: nothing estimable, nothing borrowed


def test_an_effect_is_scipys_t_on_its_degrees_of_freedom_and_tost_agrees_with_its_interval():
    from scipy.stats import t

    from wmvla.analysis.effects import Effect, Part

    effect = Effect(0.015, (Part(1.0, _spread(0.03, 6, 3), 3),))
    se = 0.03 / np.sqrt(3)
    assert effect.se == pytest.approx(se) and effect.df == 6
    assert effect.p_value() == pytest.approx(2 * t.sf(0.015 / se, 6))
    assert effect.interval(0.95) == pytest.approx(
        (0.015 - t.ppf(0.975, 6) * se, 0.015 + t.ppf(0.975, 6) * se)
    )
    low, high = effect.interval(0.90)  # TOST at α = 0.05 ⇔ the 90% interval inside ±margin
    for margin in (0.01, 0.02, 0.05, 0.08):
        assert (effect.p_equivalent(margin) < 0.05) == (-margin < low and high < margin)


def test_the_overall_is_a_fixed_weight_average_with_welch_satterthwaite_degrees_of_freedom():
    from wmvla.analysis.effects import Effect, Part, suite_weights

    parts = (Part(0.5, _spread(0.01, 6, 3), 3), Part(0.5, _spread(0.06, 6, 3), 3))
    overall = Effect(0.02, parts)
    terms = np.array([0.25 * 0.01**2 / 3, 0.25 * 0.06**2 / 3])
    assert overall.se == pytest.approx(np.sqrt(terms.sum()))
    assert overall.df == pytest.approx(terms.sum() ** 2 / (terms**2 / 6).sum())  # by hand
    assert 6 < overall.df < 12  # one noisy suite dominates: nearly its own df, not the pooled 12
    assert suite_weights(["a", "b"], None) == {"a": 0.5, "b": 0.5}
    assert suite_weights(["a", "b"], {"a": 3, "b": 1, "c": 4}) == {"a": 0.75, "b": 0.25}  # renormalised


def test_power_is_for_the_test_that_is_run_at_its_own_level_and_degrees_of_freedom():
    """statsmodels' t-test power at the test's own df and level (not df = n − 1, not the unadjusted α); the
    seeds needed are the fewest with that power, 'already' when no more than the seeds run."""
    from statsmodels.stats.power import ttest_power

    from wmvla.analysis.effects import Effect, Part

    effect = Effect(0.01, (Part(1.0, _spread(0.03, 32, 16), 3),))
    level = 0.05 * 0.15  # a suite test's first-step Holm level
    d = effect.detectable_difference(level, 0.8)
    assert ttest_power(d / effect.se, nobs=1, alpha=level / 2, df=32, alternative="larger") == pytest.approx(
        0.8
    )
    assert d > effect.detectable_difference(0.05, 0.8)  # the adjusted level asks for more
    seeds = effect.seeds_needed(0.02, level, 0.8)
    assert (
        effect.at_seeds(int(seeds)).power(0.02, level)
        >= 0.8
        > effect.at_seeds(int(seeds) - 1).power(0.02, level)
    )
    assert effect.at_seeds(5).df == 16 * 4  # every pooled arm with 5 runs
    assert effect.seeds_needed(0.2, level, 0.8) <= 3  # already enough
    assert np.isnan(effect.seeds_needed(1e-5, level, 0.8))  # beyond any study
    assert d == pytest.approx(effect.detectable_difference(level, 0.8))


def test_a_suite_without_two_runs_of_any_arm_is_not_estimable():
    from wmvla.analysis.effects import Effect, Part, Spread

    lone = Effect(0.05, (Part(1.0, Spread(float("nan"), 0, 0).at_least(0.02), 1),))
    assert not lone.estimable and np.isnan(lone.p_value()) and np.isnan(lone.p_equivalent(0.05))
    assert np.isnan(lone.detectable_difference(0.05, 0.8)) and np.isnan(lone.interval()[0])
    assert np.isnan(lone.seeds_needed(0.02, 0.05, 0.8))


def test_the_variance_of_a_paired_difference_adds_half_a_discordant_pair_each_way():
    from wmvla.analysis.stats import paired_difference_variance

    # b = 10, c = 4 of n = 100 → (10.5 + 4.5)/101 − (6/101)² over 101
    assert paired_difference_variance(10, 4, 100) == pytest.approx((15 / 101 - (6 / 101) ** 2) / 101)
    assert paired_difference_variance(0, 0, 500) > 0  # no discordant episode: still a finite weight


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
