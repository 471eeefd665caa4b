"""The study's tables (DESIGN.md §6), as pure functions of the tidy frames from `collect`.

Success rates carry Wilson 95% CIs; across seeds, mean ± sd of the per-seed rates. Comparisons are
paired on identical episodes — same suite, seed, task and LIBERO init state — with an exact McNemar
test on the discordant pairs and a paired-bootstrap CI of the difference in success rate.
Rows are pooled over suites as well, under suite `all`.
"""

import numpy as np
import pandas as pd

from wmvla.stats import mcnemar_exact, paired_bootstrap_ci, wilson_interval

ALL_SUITES = "all"
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


def paired(episodes: pd.DataFrame, arm: tuple[str, str], reference: tuple[str, str]) -> pd.DataFrame:
    """`arm` (exp, mode) vs `reference` (exp, mode) on the episodes both ran, per suite and pooled."""

    def side(exp_mode: tuple[str, str]) -> pd.DataFrame:
        exp, mode = exp_mode
        chosen = episodes[(episodes["exp"] == exp) & (episodes["mode"] == mode)]
        return chosen[[*PAIR_KEYS, "success"]]

    pairs = side(arm).merge(side(reference), on=PAIR_KEYS, suffixes=("_arm", "_ref"))
    rows = []
    for suite, group in _and_all_suites(pairs).groupby("suite", sort=True):
        a, r = group["success_arm"].to_numpy(bool), group["success_ref"].to_numpy(bool)
        b, c = int((a & ~r).sum()), int((~a & r).sum())
        low, high = paired_bootstrap_ci(a.astype(float) - r.astype(float))
        rows.append(
            {
                "suite": suite,
                "exp": arm[0],
                "mode": arm[1],
                "ref_exp": reference[0],
                "ref_mode": reference[1],
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
                "p_mcnemar": mcnemar_exact(b, c),
            }
        )
    return pd.DataFrame(rows)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


PAIRED_COLUMNS = ["suite", "exp", "mode", "ref_exp", "ref_mode", "n_pairs", "diff", "p_mcnemar"]


def versus_baseline(episodes: pd.DataFrame, baseline: str, reference_mode: str = "pred") -> pd.DataFrame:
    """Every experiment × mode against the baseline experiment as trained (E0, `pred`)."""
    arms = episodes[["exp", "mode"]].drop_duplicates().sort_values(["exp", "mode"])
    arms = [(e, m) for e, m in arms.itertuples(index=False) if (e, m) != (baseline, reference_mode)]
    return _concat([paired(episodes, arm, (baseline, reference_mode)) for arm in arms], PAIRED_COLUMNS)


def rollout_ablations(episodes: pd.DataFrame, reference_mode: str = "pred") -> pd.DataFrame:
    """Each experiment's memory ablations (zero, random) against its own `pred` rollouts."""
    arms = episodes.loc[episodes["mode"] != reference_mode, ["exp", "mode"]].drop_duplicates()
    return _concat(
        [
            paired(episodes, (e, m), (e, reference_mode))
            for e, m in arms.sort_values(["exp", "mode"]).itertuples(index=False)
        ],
        PAIRED_COLUMNS,
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
