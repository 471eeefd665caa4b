"""The study's tables (DESIGN.md §6), as pure functions of the tidy frames from `collect`.

Success rates carry Wilson 95% CIs; across seeds, mean ± sd of the per-seed rates. Comparisons are
paired on identical episodes — same suite, seed, task and LIBERO init state — with an exact McNemar test
on the discordant pairs (Holm-adjusted within each family of tests), an interval for the difference in
success rate from a bootstrap that resamples episodes within (suite, seed, task) strata (95%, and at the
Bonferroni level 1 − α/m of the family), TOST equivalence within a margin, the probability that a run of
the arm beats a run of the reference (rliable), and the smallest difference the comparison could have
detected (α, 80% power). Rows are pooled over suites as well, under suite `all`. See `wmvla.analysis.stats`.
"""

import numpy as np
import pandas as pd

from wmvla.analysis.design import Settings
from wmvla.analysis.stats import (
    holm,
    mcnemar_exact,
    minimal_detectable_difference,
    probability_of_improvement,
    stratified_bootstrap_cis,
    tost_paired,
    wilson_interval,
)

ALL_SUITES = "all"
DEFAULT_SETTINGS = Settings()
PAIR_KEYS = ["suite", "seed", "task_id", "init_state_id"]


def _with_wilson(frame: pd.DataFrame) -> pd.DataFrame:
    ci = [
        wilson_interval(int(k), int(n)) for k, n in zip(frame["successes"], frame["n_episodes"], strict=True)
    ]
    frame = frame.assign(sr=frame["successes"] / frame["n_episodes"])
    return frame.assign(ci_low=[c[0] for c in ci], ci_high=[c[1] for c in ci])


def _rates(episodes: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    grouped = episodes.groupby(by, sort=True)["success"]
    frame = grouped.agg(n_episodes="size", successes="sum").reset_index()
    return _with_wilson(frame)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


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
    """Pooled SR with Wilson CI, and mean ± sd of the per-seed SRs (sd absent with one seed)."""
    episodes = _and_all_suites(episodes)
    keys = ["suite", "exp", "mode"]
    pooled = _rates(episodes, keys)
    seeds = _rates(episodes, [*keys, "seed"]).groupby(keys)["sr"]
    spread = seeds.agg(n_seeds="size", sr_seed_mean="mean", sr_seed_sd="std").reset_index()
    return pooled.merge(spread, on=keys)


COMPARISON_COLUMNS = [
    "family", "suite", "exp", "mode", "ref_exp", "ref_mode",
    "n_pairs", "both_succeed", "only_arm", "only_ref", "neither",
    "sr_arm", "sr_ref", "diff", "diff_ci_low", "diff_ci_high", "diff_ci_low_adj", "diff_ci_high_adj",
    "p_mcnemar", "p_holm", "p_tost", "margin", "p_improvement", "mde",
]  # fmt: skip


def _side(episodes: pd.DataFrame, exp_mode: tuple[str, str]) -> pd.DataFrame:
    exp, mode = exp_mode
    chosen = episodes[(episodes["exp"] == exp) & (episodes["mode"] == mode)]
    return chosen[[*PAIR_KEYS, "success"]]


def _seed_task_rates(pairs: pd.DataFrame, column: str) -> np.ndarray:
    """(seeds, suite × task) success rates of one side: the runs × tasks matrix rliable takes."""
    grid = pairs.pivot_table(index="seed", columns=["suite", "task_id"], values=column, aggfunc="mean")
    return grid.dropna(axis=1).to_numpy(float)


def _comparison(group: pd.DataFrame, settings: Settings, adjusted_level: float) -> dict:
    """Every statistic of one paired comparison on one suite (or all suites pooled)."""
    a, r = group["success_arm"].to_numpy(bool), group["success_ref"].to_numpy(bool)
    b, c = int((a & ~r).sum()), int((~a & r).sum())
    strata = [
        (s["success_arm"].to_numpy(float) - s["success_ref"].to_numpy(float))
        for _, s in group.groupby(["suite", "seed", "task_id"], sort=True)
    ]
    (low, high), (low_adj, high_adj) = stratified_bootstrap_cis(strata, (0.95, adjusted_level))
    arm_rates, ref_rates = _seed_task_rates(group, "success_arm"), _seed_task_rates(group, "success_ref")
    return {
        "n_pairs": len(group),
        "both_succeed": int((a & r).sum()),
        "only_arm": b,
        "only_ref": c,
        "neither": int((~a & ~r).sum()),
        "sr_arm": a.mean(),
        "sr_ref": r.mean(),
        "diff": a.mean() - r.mean(),
        "diff_ci_low": low,
        "diff_ci_high": high,
        "diff_ci_low_adj": low_adj,
        "diff_ci_high_adj": high_adj,
        "p_mcnemar": mcnemar_exact(b, c),
        "p_tost": tost_paired(a, r, settings.equivalence_margin),
        "margin": settings.equivalence_margin,
        "p_improvement": probability_of_improvement(arm_rates, ref_rates) if arm_rates.size else np.nan,
        "mde": minimal_detectable_difference(
            len(group), (b + c) / len(group), settings.alpha, settings.power
        ),
    }


def compare(
    episodes: pd.DataFrame,
    comparisons: list[tuple[tuple[str, str], tuple[str, str]]],
    family: str,
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """Paired comparisons (arm (exp, mode) vs reference (exp, mode)) on the episodes both ran, per suite
    and pooled over suites, as one family of tests: Holm-adjusted p-values and Bonferroni-level intervals
    (1 − α/m) within the family, per suite level."""
    rows = []
    m = max(1, len(comparisons))
    adjusted_level = 1 - settings.alpha / m
    for arm, reference in comparisons:
        pairs = _side(episodes, arm).merge(
            _side(episodes, reference), on=PAIR_KEYS, suffixes=("_arm", "_ref")
        )
        for suite, group in _and_all_suites(pairs).groupby("suite", sort=True):
            rows.append(
                {
                    "family": family,
                    "suite": suite,
                    "exp": arm[0],
                    "mode": arm[1],
                    "ref_exp": reference[0],
                    "ref_mode": reference[1],
                    **_comparison(group, settings, adjusted_level),
                }
            )
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    if not frame.empty:
        frame["p_holm"] = frame.groupby("suite")["p_mcnemar"].transform(lambda p: holm(list(p)))
    return frame


def versus_baseline(
    episodes: pd.DataFrame, baseline: str, settings: Settings = DEFAULT_SETTINGS, reference_mode: str = "pred"
) -> pd.DataFrame:
    """Every experiment × mode against the baseline experiment as trained (E0, `pred`): one family."""
    arms = episodes[["exp", "mode"]].drop_duplicates().sort_values(["exp", "mode"])
    arms = [(e, m) for e, m in arms.itertuples(index=False) if (e, m) != (baseline, reference_mode)]
    return compare(episodes, [(arm, (baseline, reference_mode)) for arm in arms], "vs baseline", settings)


def rollout_ablations(
    episodes: pd.DataFrame, settings: Settings = DEFAULT_SETTINGS, reference_mode: str = "pred"
) -> pd.DataFrame:
    """Each experiment's memory ablations (zero, random) against its own `pred` rollouts: one family."""
    arms = episodes.loc[episodes["mode"] != reference_mode, ["exp", "mode"]].drop_duplicates()
    comparisons = [
        ((e, m), (e, reference_mode)) for e, m in arms.sort_values(["exp", "mode"]).itertuples(index=False)
    ]
    return compare(episodes, comparisons, "rollout ablations", settings)


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
    frames = []
    if world in present:
        arms = [((e, "pred"), (world, "pred")) for e in others if e in present]
        frames.append(compare(episodes, arms, f"vs {world}", settings))
        if capacity in present:
            frames.append(
                compare(episodes, [((world, "pred"), (capacity, "pred"))], f"{world} vs {capacity}", settings)
            )
    return _concat(frames, COMPARISON_COLUMNS)


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
