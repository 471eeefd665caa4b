"""The study's tables (DESIGN.md §6), as pure functions of the tidy frames from `collect`.

Success rates carry Wilson 95% CIs; across seeds, mean ± sd of the per-seed rates and the between-run
sd beyond what each run's episodes explain. Comparisons are paired on identical episodes — same suite, seed,
task and LIBERO init state — and **the training run is the unit**: each (suite, seed) gives one paired
difference of success rates, and a random-effects meta-analysis of those differences gives the effect, its
95% interval (and at the Bonferroni level 1 − α/m of its family), a t-test Holm-adjusted within its family,
TOST equivalence within a margin, the smallest difference the runs could detect and the seeds per suite a
target difference needs (`wmvla.analysis.stats`). Per suite the runs are its seeds; under suite `all`, every
suite's. A design with fewer than two seeds in a suite has no run-level inference (NaN). The exact McNemar
test of the pooled episodes stays as a description of these checkpoints (`p_mcnemar`), never a verdict's
basis.
"""

import numpy as np
import pandas as pd

from wmvla.analysis.design import Settings
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
    run_level_effect,
    wilson_intervals,
)

ALL_SUITES = "all"
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
    "family", "suite", "exp", "mode", "ref_exp", "ref_mode", "unit", "n_runs", "min_seeds",
    "n_pairs", "both_succeed", "only_arm", "only_ref", "neither", "sr_arm", "sr_ref",
    "diff", "diff_ci_low", "diff_ci_high", "diff_ci_low_adj", "diff_ci_high_adj",
    "p_runs", "p_holm", "p_tost", "margin", "between_run_sd", "mde", "target_difference", "seeds_needed",
    "p_improvement", "p_mcnemar", "method",
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


def _comparison(runs: pd.DataFrame, rates: pd.DataFrame, settings: Settings, adjusted_level: float) -> dict:
    """Every statistic of one paired comparison on the pairs of training runs `runs` (one suite's, or every
    suite's for `all`); `rates`: (seeds, suite × task) success rates of both sides, for P(improvement)."""
    min_seeds = int(runs.groupby("suite").size().min())
    if min_seeds >= 2:
        effect = run_level_effect(runs["diff"].to_numpy(), runs["variance"].to_numpy())
    else:  # one run per suite and arm: the between-run variance is not estimable
        effect = RunLevelEffect(len(runs), float(runs["diff"].mean()), float("nan"), 0, float("nan"))
    low, high = effect.interval(0.95)
    low_adj, high_adj = effect.interval(adjusted_level)
    target = settings.target_difference
    n, b, c = int(runs["n"].sum()), int(runs["only_arm"].sum()), int(runs["only_ref"].sum())
    both = int(runs["both"].sum())
    arm_rates = rates["success_arm"].dropna(axis=1).to_numpy(float)
    ref_rates = rates["success_ref"].dropna(axis=1).to_numpy(float)
    return {
        "unit": RUN_UNIT,
        "n_runs": len(runs),
        "min_seeds": min_seeds,
        "n_pairs": n,
        "both_succeed": both,
        "only_arm": b,
        "only_ref": c,
        "neither": n - both - b - c,
        "sr_arm": runs["arm"].sum() / n,
        "sr_ref": runs["ref"].sum() / n,
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
        "seeds_needed": effect.seeds_needed(target, runs["suite"].nunique(), settings.alpha, settings.power),
        "p_improvement": probability_of_improvement(arm_rates, ref_rates) if arm_rates.size else np.nan,
        "p_mcnemar": mcnemar_exact(b, c),
        "method": RUN_METHOD,
    }


def compare(
    episodes: pd.DataFrame, comparisons: list[Comparison], settings: Settings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """Paired comparisons (arm (exp, mode) vs reference (exp, mode), each in a named family) on the episodes
    both ran, per suite and pooled over suites (`all`, when there are several). Within a family, per suite
    level: Holm-adjusted p-values and Bonferroni-level intervals (1 − α/m)."""
    sizes = pd.Series([family for _, _, family in comparisons]).value_counts().to_dict()
    sides, rows = _sides(episodes), []
    for arm, reference, family in comparisons:
        if arm not in sides or reference not in sides:
            continue
        pairs = sides[arm].merge(sides[reference], on=PAIR_KEYS, suffixes=("_arm", "_ref"))
        if pairs.empty:
            continue
        runs = run_differences(pairs)
        rates = (  # (seeds, side × suite × task): the runs × tasks matrices of P(improvement)
            pairs.groupby(["suite", "task_id", "seed"])[["success_arm", "success_ref"]]
            .mean()
            .unstack(["suite", "task_id"])
        )
        suites = sorted(runs["suite"].unique())
        levels = {suite: [suite] for suite in suites} | ({ALL_SUITES: suites} if len(suites) > 1 else {})
        for level, members in sorted(levels.items()):
            columns = [c for c in rates.columns if c[1] in members]
            rows.append(
                {
                    "family": family,
                    "suite": level,
                    "exp": arm[0],
                    "mode": arm[1],
                    "ref_exp": reference[0],
                    "ref_mode": reference[1],
                    **_comparison(
                        runs[runs["suite"].isin(members)],
                        rates[columns],
                        settings,
                        1 - settings.alpha / sizes[family],
                    ),
                }
            )
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    if not frame.empty:
        frame["p_holm"] = frame.groupby(["family", "suite"])["p_runs"].transform(lambda p: holm(list(p)))
    return frame


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
