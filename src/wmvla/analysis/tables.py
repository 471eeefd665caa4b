"""The study's tables (DESIGN.md §6), as pure functions of the tidy frames from `collect`.

Success rates carry Wilson 95% CIs; across seeds, mean ± sd of the per-seed rates and the between-run
sd beyond what each run's episodes explain. Comparisons are paired on identical episodes — same suite, seed,
task and LIBERO init state — and **the training run is the unit, the suite the stratum**: each (suite, seed)
gives one paired difference of success rates, and the suite-stratified analysis of those differences
(`wmvla.analysis.stats.stratified_effect`) gives one row per suite and, with several suites, an overall row
(suite `all`, scope `overall`): the effect, its 95% interval (and at its Bonferroni level), a t-test, TOST
equivalence within a margin, the smallest difference the runs could detect and the seeds per suite a target
difference needs. Multiplicity: α is split between the overall tests (`OVERALL_SHARE` of it, Holm over the
arms of a family) and the suites of each comparison (the rest, Holm over its suites); `p_adj` is the p-value
adjusted for both, significant below α. A design where no suite has two runs has no run-level inference (NaN).
The exact McNemar test of the pooled episodes stays as a description of these checkpoints (`p_mcnemar`), never
a verdict's basis.
"""

import numpy as np
import pandas as pd

from wmvla.analysis.stats import (
    RUN_METHOD,
    RUN_UNIT,
    RunLevelEffect,
    between_run_sd,
    holm,
    mcnemar_exact,
    paired_difference_variance,
    probability_of_improvement,
    rate_variance,
    stratified_effect,
    wilson_intervals,
)
from wmvla.design import Settings

ALL_SUITES = "all"
OVERALL, SUITE = "overall", "suite"  # a comparison row's scope
# Of α, the share of the overall tests; the rest (most of it) goes to finding *where* an effect is: the
# per-suite tests of each comparison. With 3 seeds per suite on planted studies (tests/planted.py), 0.4 finds
# a +3-point effect in every suite in 86% of 300 studies and a +10-point effect on libero_10 alone in 78%; an
# even split finds the first in 92% and the second in 73%.
OVERALL_SHARE = 0.4
DEFAULT_SETTINGS = Settings()
PAIR_KEYS = ["suite", "seed", "task_id", "init_state_id"]


def _with_wilson(frame: pd.DataFrame) -> pd.DataFrame:
    low, high = wilson_intervals(frame["successes"].to_numpy(int), frame["n_episodes"].to_numpy(int))
    frame = frame.assign(sr=frame["successes"] / frame["n_episodes"])
    return frame.assign(ci_low=low, ci_high=high)


def _rates(episodes: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    grouped = episodes.groupby(by, sort=True)["success"]
    frame = grouped.agg(n_episodes="size", successes="sum").reset_index()
    return _with_wilson(frame)


def _and_all_suites(episodes: pd.DataFrame) -> pd.DataFrame:
    if episodes["suite"].nunique() < 2:
        return episodes
    return pd.concat([episodes, episodes.assign(suite=ALL_SUITES)], ignore_index=True)


def per_run(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per suite × experiment × seed × rollout mode."""
    steps = episodes.groupby(["suite", "exp", "seed", "mode"])["checkpoint_step"].first().reset_index()
    return _rates(episodes, ["suite", "exp", "seed", "mode"]).merge(
        steps, on=["suite", "exp", "seed", "mode"]
    )


def per_task(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per suite × experiment × mode × task, pooled over seeds."""
    rates = _rates(episodes, ["suite", "exp", "mode", "task_id"])
    names = episodes.groupby(["suite", "task_id"])["task"].first().reset_index()
    return rates.merge(names, on=["suite", "task_id"], how="left")


def per_experiment(episodes: pd.DataFrame) -> pd.DataFrame:
    """Pooled SR with Wilson CI, mean ± sd of the per-seed SRs, and the between-run sd τ of the SR beyond
    the runs' own episode noise (sd and τ absent with one seed; under `all`, τ² averaged over suites)."""
    keys = ["suite", "exp", "mode"]
    with_all = _and_all_suites(episodes)
    pooled = _rates(with_all, keys)
    seeds = _rates(with_all, [*keys, "seed"]).groupby(keys)["sr"]
    spread = seeds.agg(n_seeds="size", sr_seed_mean="mean", sr_seed_sd="std").reset_index()
    runs = _rates(episodes, [*keys, "seed"])
    runs["variance"] = [
        rate_variance(k, n) for k, n in zip(runs["successes"], runs["n_episodes"], strict=True)
    ]
    tau = (
        runs.groupby(keys)[["sr", "variance"]]
        .apply(lambda r: between_run_sd(r["sr"].to_numpy(), r["variance"].to_numpy()))
        .rename("between_run_sd")
        .reset_index()
    )
    if runs["suite"].nunique() > 1:  # between runs within a suite, pooled: the root of the mean τ²
        pooled_tau = tau.groupby(["exp", "mode"])["between_run_sd"].apply(
            lambda t: float(np.sqrt(np.mean(np.square(t)))) if t.notna().all() else np.nan
        )
        tau = pd.concat([tau, pooled_tau.reset_index().assign(suite=ALL_SUITES)], ignore_index=True)
    return pooled.merge(spread, on=keys).merge(tau, on=keys, how="left")


COMPARISON_COLUMNS = [
    "family", "suite", "scope", "exp", "mode", "ref_exp", "ref_mode", "unit", "n_runs", "min_seeds", "weight",
    "n_pairs", "both_succeed", "only_arm", "only_ref", "neither", "sr_arm", "sr_ref",
    "diff", "diff_ci_low", "diff_ci_high", "diff_ci_low_adj", "diff_ci_high_adj",
    "p_runs", "p_holm", "p_adj", "p_tost", "margin", "between_run_sd", "mde", "target_difference",
    "seeds_needed", "p_improvement", "p_mcnemar", "method",
]  # fmt: skip
Comparison = tuple[tuple[str, str], tuple[str, str], str]  # (arm (exp, mode), reference (exp, mode), family)


def _sides(episodes: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Each (exp, mode)'s episodes, split once: the pairing keys and the outcome."""
    return {key: side[[*PAIR_KEYS, "success"]] for key, side in episodes.groupby(["exp", "mode"], sort=False)}


def run_differences(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of training runs (suite, seed): its episode counts, its paired difference of success
    rates and the difference's sampling variance from its episodes."""
    a, r = pairs["success_arm"].astype(bool), pairs["success_ref"].astype(bool)
    counted = pairs.assign(
        both=a & r, only_arm=a & ~r, only_ref=~a & r, arm=a, ref=r, diff=a.astype(float) - r.astype(float)
    )
    runs = counted.groupby(["suite", "seed"], sort=True).agg(
        n=("diff", "size"), diff=("diff", "mean"), both=("both", "sum"), only_arm=("only_arm", "sum"),
        only_ref=("only_ref", "sum"), arm=("arm", "sum"), ref=("ref", "sum"),
    )  # fmt: skip
    variance = [
        paired_difference_variance(int(b), int(c), int(n))
        for b, c, n in runs[["only_arm", "only_ref", "n"]].itertuples(index=False)
    ]
    return runs.assign(variance=variance).reset_index()


def _comparison(
    effect: RunLevelEffect,
    runs: pd.DataFrame,
    rates: tuple[np.ndarray, np.ndarray],
    settings: Settings,
    adjusted_level: float,
) -> dict:
    """Every statistic of one paired comparison in one scope: `effect` over the pairs of training runs `runs`
    (one suite's, or every suite's overall); `rates`: the arm's and the reference's (seeds, tasks) success
    rates in the scope, for P(improvement)."""
    low, high = effect.interval(0.95)
    low_adj, high_adj = effect.interval(adjusted_level)
    target = settings.target_difference
    n, both, b, c, arm, ref = (
        int(x) for x in runs[["n", "both", "only_arm", "only_ref", "arm", "ref"]].sum()
    )
    suites = runs["suite"].value_counts()
    arm_rates, ref_rates = rates
    return {
        "unit": RUN_UNIT,
        "n_runs": len(runs),
        "min_seeds": int(suites.min()),
        "n_pairs": n,
        "both_succeed": both,
        "only_arm": b,
        "only_ref": c,
        "neither": n - both - b - c,
        "sr_arm": arm / n,
        "sr_ref": ref / n,
        "diff": effect.estimate,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "diff_ci_low_adj": low_adj,
        "diff_ci_high_adj": high_adj,
        "p_runs": effect.p_value(),
        "p_tost": effect.p_equivalent(settings.equivalence_margin),
        "margin": settings.equivalence_margin,
        "between_run_sd": effect.between_run_sd,
        "mde": effect.detectable_difference(settings.alpha, settings.power),
        "target_difference": target,
        "seeds_needed": effect.seeds_needed(target, len(suites), settings.alpha, settings.power),
        "p_improvement": probability_of_improvement(arm_rates, ref_rates) if arm_rates.size else np.nan,
        "p_mcnemar": mcnemar_exact(b, c),
        "method": RUN_METHOD,
    }


def _task_rates(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs × tasks success-rate matrices of both sides (seeds, suite × task), and each column's suite."""
    table = pairs.groupby(["suite", "task_id", "seed"])[["success_arm", "success_ref"]].mean().unstack("seed")
    table = table.dropna()  # tasks some seed did not run
    suites = table.index.get_level_values("suite").to_numpy()
    return table["success_arm"].to_numpy(float).T, table["success_ref"].to_numpy(float).T, suites


def _adjust(frame: pd.DataFrame) -> pd.DataFrame:
    """Holm within each set of tests, then α's split: overall rows over the arms of their family, suite rows
    over the suites of their comparison; `p_adj` compares to α as it is."""
    if frame.empty:
        return frame
    comparison = ["family", "exp", "mode", "ref_exp", "ref_mode"]
    overall = frame["scope"] == OVERALL
    several = frame.groupby(comparison)["scope"].transform(lambda s: (s == SUITE).any())
    frame["p_holm"] = np.nan
    frame.loc[overall, "p_holm"] = (
        frame[overall].groupby("family")["p_runs"].transform(lambda p: holm(list(p)))
    )
    frame.loc[~overall, "p_holm"] = (
        frame[~overall].groupby(comparison)["p_runs"].transform(lambda p: holm(list(p)))
    )
    share = np.where(overall, np.where(several, OVERALL_SHARE, 1.0), 1 - OVERALL_SHARE)
    frame["p_adj"] = np.minimum(1.0, frame["p_holm"] / share)
    return frame


def compare(
    episodes: pd.DataFrame, comparisons: list[Comparison], settings: Settings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """Paired comparisons (arm (exp, mode) vs reference (exp, mode), each in a named family) on the episodes
    both ran: one row per suite and, with several suites, an overall row (`all`); see the module docstring for
    the multiplicity adjustment and the Bonferroni level of the `_adj` intervals."""
    sizes = pd.Series([family for _, _, family in comparisons]).value_counts().to_dict()
    sides, rows = _sides(episodes), []
    for arm, reference, family in comparisons:
        if arm not in sides or reference not in sides:
            continue
        pairs = sides[arm].merge(sides[reference], on=PAIR_KEYS, suffixes=("_arm", "_ref"))
        if pairs.empty:
            continue
        runs = run_differences(pairs)
        arm_rates, ref_rates, rate_suites = _task_rates(pairs)
        levels = (runs["arm"] + runs["ref"]) / (2 * runs["n"])  # each run pair's mean success rate
        effect = stratified_effect(runs["diff"], runs["variance"], runs["suite"], levels)
        suites = sorted(effect.suites)
        share = OVERALL_SHARE if len(suites) > 1 else 1.0
        overall = ALL_SUITES if len(suites) > 1 else suites[0]
        scopes = [(OVERALL, overall, suites, effect.overall, sizes[family], share)]
        if len(suites) > 1:
            scopes += [(SUITE, s, [s], effect.suites[s], len(suites), 1 - share) for s in suites]
        for scope, level, members, result, tests, part in scopes:
            columns = np.isin(rate_suites, members)
            rows.append(
                {
                    "family": family,
                    "suite": level,
                    "scope": scope,
                    "exp": arm[0],
                    "mode": arm[1],
                    "ref_exp": reference[0],
                    "ref_mode": reference[1],
                    "weight": effect.weights[level] if scope == SUITE else 1.0,
                    **_comparison(
                        result,
                        runs[runs["suite"].isin(members)],
                        (arm_rates[:, columns], ref_rates[:, columns]),
                        settings,
                        1 - settings.alpha * part / tests,
                    ),
                }
            )
    return _adjust(pd.DataFrame(rows, columns=COMPARISON_COLUMNS))


def versus_baseline(
    episodes: pd.DataFrame,
    baseline: str,
    settings: Settings = DEFAULT_SETTINGS,
    confirmatory: tuple[str, ...] = (),
    reference_mode: str = "pred",
) -> pd.DataFrame:
    """Every experiment × mode against the baseline experiment as trained (E0, `pred`). The arms whose
    verdicts rest on this comparison (`confirmatory`: the capacity control, the world arm, the encoder arms)
    form the family "vs baseline"; the others are described in a family of their own, so that arms the
    verdicts do not ask about do not dilute the family's power."""
    arms = episodes[["exp", "mode"]].drop_duplicates().sort_values(["exp", "mode"])
    arms = [(e, m) for e, m in arms.itertuples(index=False) if (e, m) != (baseline, reference_mode)]
    return compare(
        episodes,
        [
            (
                arm,
                (baseline, reference_mode),
                "vs baseline"
                if arm[0] in confirmatory and arm[1] == reference_mode
                else "other arms vs baseline",
            )
            for arm in arms
        ],
        settings,
    )


def rollout_ablations(
    episodes: pd.DataFrame, settings: Settings = DEFAULT_SETTINGS, reference_mode: str = "pred"
) -> pd.DataFrame:
    """Each experiment's memory ablations (zero, random) against its own `pred` rollouts: one family."""
    arms = episodes.loc[episodes["mode"] != reference_mode, ["exp", "mode"]].drop_duplicates()
    comparisons = [
        ((e, m), (e, reference_mode), "rollout ablations")
        for e, m in arms.sort_values(["exp", "mode"]).itertuples(index=False)
    ]
    return compare(episodes, comparisons, settings)


def versus_world_arm(
    episodes: pd.DataFrame,
    world: str,
    others: list[str],
    capacity: str | None,
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """The fusion ablations, encoder arms and imagination banks against the world arm (E2), as one family;
    and the world arm against the capacity control (E1), which tells a world effect from a capacity effect."""
    present = set(episodes.loc[episodes["mode"] == "pred", "exp"])
    comparisons = []
    if world in present:
        comparisons += [((e, "pred"), (world, "pred"), f"vs {world}") for e in others if e in present]
        if capacity in present:
            comparisons.append(((world, "pred"), (capacity, "pred"), f"{world} vs {capacity}"))
    return (
        compare(episodes, comparisons, settings) if comparisons else pd.DataFrame(columns=COMPARISON_COLUMNS)
    )


def training_summary(training: pd.DataFrame, tail_fraction: float = 0.1) -> pd.DataFrame:
    """Per run and metric: first and last logged value, and the mean over the last 10% of logs."""
    rows = []
    for (suite, exp, seed, metric), group in training.groupby(["suite", "exp", "seed", "metric"], sort=True):
        values = group.sort_values("step")["value"].to_numpy(float)
        tail = values[-max(1, int(np.ceil(len(values) * tail_fraction))) :]
        rows.append(
            {
                "suite": suite,
                "exp": exp,
                "seed": seed,
                "metric": metric,
                "n_logs": len(values),
                "last_step": int(group["step"].max()),
                "first": values[0],
                "last": values[-1],
                "tail_mean": float(np.mean(tail)),
            }
        )
    return pd.DataFrame(
        rows, columns=["suite", "exp", "seed", "metric", "n_logs", "last_step", "first", "last", "tail_mean"]
    )
