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


def test_holm_matches_the_step_down_by_hand():
    from wmvla.analysis.stats import holm

    # sorted 0.01, 0.03, 0.04, m = 3: 3·0.01 = 0.03; max(0.03, 2·0.03) = 0.06; max(0.06, 1·0.04) = 0.06
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([]) == [] and holm([0.7, 0.9]) == pytest.approx([1.0, 1.0])


def _runs(k: int = 12, effect: float = 0.03, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return effect + rng.normal(0, 0.02, k), rng.uniform(0.0002, 0.0006, k)


def test_the_run_level_effect_is_statsmodels_random_effects_with_the_hksj_interval():
    from statsmodels.stats.meta_analysis import combine_effects

    from wmvla.analysis.stats import run_level_effect

    d, v = _runs()
    effect = run_level_effect(d, v)
    direct = combine_effects(d, v, method_re="iterated", use_t=True)
    assert effect.estimate == pytest.approx(direct.mean_effect_re)
    assert effect.se == pytest.approx(max(direct.sd_eff_w_re_hksj, direct.sd_eff_w_re)) and effect.df == 11
    if direct.sd_eff_w_re_hksj >= direct.sd_eff_w_re:  # then the interval is statsmodels' own HKSJ one
        assert effect.interval(0.95) == pytest.approx(tuple(direct.conf_int(alpha=0.05, use_t=True)[3]))
    assert effect.between_run_sd == pytest.approx(np.sqrt(direct.tau2))
    assert 0 < effect.p_value() < 0.05  # 3 points over 12 run pairs of sd 2 points


def test_runs_that_happen_to_agree_keep_the_random_effects_standard_error():
    from wmvla.analysis.stats import run_level_effect

    agreeing = run_level_effect([0.3, 0.3], [0.01, 0.01])  # HKSJ alone: a zero-width interval
    low, high = agreeing.interval()
    assert agreeing.se == pytest.approx(np.sqrt(0.01 / 2)) and low < 0.3 < high


def test_tost_agrees_with_the_interval_and_one_run_is_not_estimable():
    from wmvla.analysis.stats import RunLevelEffect, run_level_effect

    effect = run_level_effect(*_runs(effect=0.0))
    low, high = effect.interval(0.90)  # TOST at α = 0.05 ⇔ the 90% interval inside ±margin
    for margin in (0.01, 0.02, 0.05):
        assert (effect.p_equivalent(margin) < 0.05) == (-margin < low and high < margin)
    single = run_level_effect([0.05], [0.0004])
    assert isinstance(single, RunLevelEffect) and not single.estimable
    assert np.isnan(single.p_value()) and np.isnan(single.p_equivalent(0.05))
    assert np.isnan(single.detectable_difference(0.05, 0.8)) and np.isnan(single.interval()[0])


def test_the_detectable_difference_and_the_seeds_needed_have_the_asked_power():
    """statsmodels' t-test power over run pairs, at the observed spread of a run pair's difference."""
    from statsmodels.stats.power import TTestPower

    from wmvla.analysis.stats import run_level_effect

    effect = run_level_effect(*_runs())
    d = effect.detectable_difference(0.05, 0.8)
    power = TTestPower().power(effect_size=d / effect.run_sd, nobs=effect.n_runs, alpha=0.05)
    assert power == pytest.approx(0.8, abs=1e-4)
    seeds = effect.seeds_needed(0.01, suites=4, alpha=0.05, power=0.8)
    enough = TTestPower().power(effect_size=0.01 / effect.run_sd, nobs=4 * seeds, alpha=0.05)
    fewer = TTestPower().power(effect_size=0.01 / effect.run_sd, nobs=4 * (seeds - 1), alpha=0.05)
    assert seeds > 3 and enough >= 0.8 > fewer
    assert np.isnan(effect.seeds_needed(1e-6, suites=4, alpha=0.05, power=0.8))  # beyond any study


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
