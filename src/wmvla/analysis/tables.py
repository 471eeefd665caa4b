"""The study's descriptive tables (DESIGN.md §6), as pure functions of the tidy frames from `collect`: success
rates with Wilson 95% CIs per run, per task and per experiment — across seeds, mean ± sd of the per-seed rates
and the between-run sd beyond what each run's episodes explain — and the training logs' summary. The paired
comparisons and their tests are `wmvla.analysis.comparisons`.
"""

import numpy as np
import pandas as pd

from wmvla.analysis.stats import between_run_sd, rate_variance, wilson_intervals

ALL_SUITES = "all"


def _with_wilson(frame: pd.DataFrame) -> pd.DataFrame:
    low, high = wilson_intervals(frame["successes"].to_numpy(int), frame["n_episodes"].to_numpy(int))
    frame = frame.assign(sr=frame["successes"] / frame["n_episodes"])
    return frame.assign(ci_low=low, ci_high=high)


def success_rates(episodes: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Episodes, successes and the success rate with its Wilson 95% interval per group of `by`."""
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
    return success_rates(episodes, ["suite", "exp", "seed", "mode"]).merge(
        steps, on=["suite", "exp", "seed", "mode"]
    )


def per_task(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per suite × experiment × mode × task, pooled over seeds."""
    rates = success_rates(episodes, ["suite", "exp", "mode", "task_id"])
    names = episodes.groupby(["suite", "task_id"])["task"].first().reset_index()
    return rates.merge(names, on=["suite", "task_id"], how="left")


def per_experiment(episodes: pd.DataFrame) -> pd.DataFrame:
    """Pooled SR with Wilson CI, mean ± sd of the per-seed SRs, and the between-run sd τ of the SR beyond
    the runs' own episode noise (sd and τ absent with one seed; under `all`, τ² averaged over suites)."""
    keys = ["suite", "exp", "mode"]
    with_all = _and_all_suites(episodes)
    pooled = success_rates(with_all, keys)
    seeds = success_rates(with_all, [*keys, "seed"]).groupby(keys)["sr"]
    spread = seeds.agg(n_seeds="size", sr_seed_mean="mean", sr_seed_sd="std").reset_index()
    runs = success_rates(episodes, [*keys, "seed"])
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
