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


SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
LEVELS = {"libero_spatial": 0.9, "libero_object": 0.96, "libero_goal": 0.92, "libero_10": 0.71}


def _runs(seeds: int = 3, effect: float = 0.03, seed: int = 3) -> tuple[np.ndarray, ...]:
    """Per-run differences, their sampling variances, suites and success levels: `seeds` run pairs in each of
    4 suites, spread more where the level leaves room (libero_10)."""
    rng = np.random.default_rng(seed)
    suites = np.repeat(SUITES, seeds)
    levels = np.array([LEVELS[s] for s in suites])
    spread = 0.1 * levels * (1 - levels)  # a logit sd of 0.1 between runs
    d = effect + rng.normal(0, 1, len(suites)) * np.sqrt(levels * (1 - levels) * 2 / 500 + spread**2)
    return d, 2 * levels * (1 - levels) / 500 * rng.uniform(0.8, 1.2, len(suites)), suites, levels


def test_the_stratified_effect_is_statsmodels_wls_with_a_paule_mandel_between_run_variance():
    """Suite means by WLS with each run's variance = sampling variance + τ²·(p(1−p))², τ² where the weighted
    residual mean square is 1, runs − suites df, the overall the precision-weighted mean of the suites:
    recomputed by direct library calls."""
    import statsmodels.api as sm

    from wmvla.analysis.stats import stratified_effect

    d, v, suites, levels = _runs(effect=0.03, seed=5)
    effect = stratified_effect(d, v, suites, levels)
    names = sorted(SUITES)
    design = np.array([[float(s == n) for n in names] for s in suites])
    slope = np.array([LEVELS[s] * (1 - LEVELS[s]) for s in suites])
    assert effect.tau2 > 0
    direct = sm.WLS(d, design, weights=1 / (v + effect.tau2 * slope**2)).fit()
    assert direct.scale == pytest.approx(1.0, abs=1e-6)  # Paule–Mandel's equation
    se = np.sqrt(np.diag(direct.normalized_cov_params))
    for i, name in enumerate(names):
        suite = effect.suites[name]
        assert suite.estimate == pytest.approx(direct.params[i]) and suite.se == pytest.approx(se[i])
        assert suite.df == 12 - 4
    assert effect.suites["libero_10"].se > effect.suites["libero_object"].se  # headroom: more spread
    weights = (1 / se**2) / (1 / se**2).sum()
    assert [effect.weights[n] for n in names] == pytest.approx(weights)
    assert effect.overall.estimate == pytest.approx(weights @ direct.params)
    assert effect.overall.se == pytest.approx(np.sqrt(weights**2 @ se**2)) and effect.overall.df == 8


def test_runs_that_agree_more_than_their_episodes_allow_keep_the_sampling_variance():
    """No between-run variance below zero, and no interval narrower than the episodes alone allow."""
    from wmvla.analysis.stats import stratified_effect

    agreeing = stratified_effect([0.3, 0.3, 0.1, 0.1], [0.01] * 4, ["a", "a", "b", "b"], [0.5] * 4)
    assert agreeing.tau2 == 0.0 and agreeing.suites["a"].se == pytest.approx(np.sqrt(0.01 / 2))
    low, high = agreeing.suites["a"].interval()
    assert low < 0.3 < high and agreeing.suites["a"].between_run_sd == 0.0


def test_tost_agrees_with_the_interval_and_a_suite_with_one_run_is_not_estimable():
    from wmvla.analysis.stats import stratified_effect

    effect = stratified_effect(*_runs(effect=0.0)).suites["libero_10"]
    low, high = effect.interval(0.90)  # TOST at α = 0.05 ⇔ the 90% interval inside ±margin
    for margin in (0.01, 0.02, 0.05):
        assert (effect.p_equivalent(margin) < 0.05) == (-margin < low and high < margin)
    one = stratified_effect([0.05, 0.04, 0.06], [0.0004] * 3, ["a", "a", "b"], [0.5] * 3)  # suite b: one run
    for single in (one.overall, *one.suites.values()):
        assert not single.estimable and np.isnan(single.p_value()) and np.isnan(single.p_equivalent(0.05))
        assert np.isnan(single.detectable_difference(0.05, 0.8)) and np.isnan(single.interval()[0])
    assert one.suites["a"].estimate == pytest.approx(0.045)  # still described


def test_the_detectable_difference_and_the_seeds_needed_have_the_asked_power():
    """statsmodels' t-test power over run pairs, at the observed spread of a run pair's difference."""
    from statsmodels.stats.power import TTestPower

    from wmvla.analysis.stats import stratified_effect

    effect = stratified_effect(*_runs()).overall
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
