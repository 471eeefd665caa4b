"""Paired comparisons of arms (DESIGN.md §6): one row per suite and an overall row, each with its test,
interval, equivalence test and power, adjusted for every test of its family.

Pairing: an arm and its reference are evaluated on identical episodes (suite, seed, task, LIBERO init
state), so each (suite, seed) gives one paired difference of success rates — one number per pair of training
runs, the unit of replication (`wmvla.analysis.effects` says how it varies). The overall row is the
fixed-weight average of the suites' differences (suite `all`, scope `overall`).

Multiplicity: one family, one error budget. Every (arm × scope) test of a family takes part in one weighted
Holm step-down (`wmvla.analysis.stats.weighted_holm`): of α, `OVERALL_SHARE` goes to the arms' overall tests
and the rest to their suites, each arm weighing the same; `p_adj` is significant at α. The `_adj` interval,
the detectable difference and the seeds needed are those of the test at its own first-step level α · weight.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from wmvla.analysis.effects import (
    BETWEEN,
    RUN_METHOD,
    RUN_UNIT,
    Effect,
    Part,
    Spread,
    suite_spreads,
    suite_weights,
    weights_text,
    within,
)
from wmvla.analysis.stats import (
    improvement_per_task,
    mcnemar_exact,
    paired_difference_variance,
    weighted_holm,
)
from wmvla.analysis.tables import ALL_SUITES
from wmvla.design import Settings

OVERALL, SUITE = "overall", "suite"  # a comparison row's scope
OVERALL_SHARE = 0.4  # of a family's α: the arms' overall tests; the rest finds *where* an effect is
PAIR_KEYS = ["suite", "seed", "task_id", "init_state_id"]
DEFAULT_SETTINGS = Settings()

COMPARISON_COLUMNS = [
    "family", "suite", "scope", "exp", "mode", "ref_exp", "ref_mode", "unit", "n_runs", "min_seeds", "weight",
    "holm_weight", "level", "n_pairs", "both_succeed", "only_arm", "only_ref", "neither", "sr_arm", "sr_ref",
    "diff", "se", "df", "run_sd", "diff_ci_low", "diff_ci_high", "tost_ci_low", "tost_ci_high",
    "diff_ci_low_adj", "diff_ci_high_adj", "p_runs", "p_adj", "p_tost", "margin", "mde", "target_difference",
    "seeds_needed", "p_improvement", "p_mcnemar", "method",
]  # fmt: skip
Comparison = tuple[tuple[str, str], tuple[str, str], str]  # (arm (exp, mode), reference (exp, mode), family)


@dataclass(frozen=True)
class Scope:
    """One test of a comparison: overall or one suite, its effect, the episode counts of the run pairs it
    rests on, its α weight."""

    scope: str
    suite: str
    effect: Effect
    counts: np.ndarray  # summed over its run pairs: COUNTS
    min_seeds: int  # the fewest run pairs of any of its suites
    suites: tuple[str, ...]
    weight: float  # the suite's weight in the overall (1 for the overall row)
    holm_weight: float = float("nan")


COUNTS = ["n", "both", "only_arm", "only_ref", "arm", "ref"]


@dataclass(frozen=True)
class Episodes:
    """The evaluated episodes as the comparisons read them, arranged once per study: one row per paired
    episode (suite, seed, task, init state) and one column per arm (exp, mode) with its success (NaN: not
    evaluated), each row's run pair; each arm's success rate per suite, task and seed, and per run."""

    wide: pd.DataFrame
    runs: pd.MultiIndex  # (suite, seed) of each run pair
    codes: np.ndarray  # each row's run pair
    task_rates: pd.DataFrame  # (suite, task_id) × (exp, mode, seed)
    run_rates: pd.DataFrame  # one row per suite × exp × mode × seed: its success rate `sr`
    spreads: dict[str, dict] = field(default_factory=dict)  # reference mode → `suite_spreads`, once

    def spreads_for(self, reference_mode: str) -> dict[tuple[str, str], Spread]:
        if reference_mode not in self.spreads:
            self.spreads[reference_mode] = suite_spreads(self.run_rates, reference_mode)
        return self.spreads[reference_mode]

    @classmethod
    def of(cls, episodes: pd.DataFrame) -> "Episodes":
        success = episodes.set_index([*PAIR_KEYS, "exp", "mode"])["success"].astype(float)
        wide = success.unstack(["exp", "mode"]).sort_index(axis=1)
        codes, runs = pd.MultiIndex.from_arrays(
            [wide.index.get_level_values("suite"), wide.index.get_level_values("seed")]
        ).factorize()
        task_rates = (
            wide.groupby(level=["suite", "task_id", "seed"]).mean().unstack("seed").sort_index(axis=1)
        )
        run_rates = episodes.groupby(["suite", "exp", "mode", "seed"])["success"].mean().rename("sr")
        return cls(
            wide,
            pd.MultiIndex.from_tuples(runs, names=["suite", "seed"]),
            codes,
            task_rates,
            run_rates.reset_index(),
        )

    @property
    def arms(self) -> list[tuple[str, str]]:
        return list(self.wide.columns)

    def run_differences(self, arm: tuple[str, str], reference: tuple[str, str]) -> pd.DataFrame:
        """One row per pair of training runs (suite, seed) both arms ran: its episode counts, its paired
        difference of success rates, and that difference's sampling variance from its episodes (the floor of
        its spread)."""
        a, r = self.wide[arm].to_numpy(), self.wide[reference].to_numpy()
        both = ~np.isnan(a) & ~np.isnan(r)
        codes, a, r = self.codes[both], a[both], r[both]

        def count(weights: np.ndarray | None = None) -> np.ndarray:
            return np.bincount(codes, weights=weights, minlength=len(self.runs))

        n = count()
        counts = {
            "n": n, "both": count(a * r), "only_arm": count(a * (1 - r)), "only_ref": count((1 - a) * r),
            "arm": count(a), "ref": count(r),
        }  # fmt: skip
        runs = pd.DataFrame(counts, index=self.runs)[n > 0].reset_index()
        runs["diff"] = (runs["arm"] - runs["ref"]) / runs["n"]
        runs["sampling"] = [
            paired_difference_variance(int(b), int(c), int(k))
            for b, c, k in runs[["only_arm", "only_ref", "n"]].itertuples(index=False)
        ]
        return runs

    def improvement(self, arm: tuple[str, str], reference: tuple[str, str]) -> pd.Series:
        """Per (suite, task) every seed of both sides ran: P(a run of the arm beats one of the reference)."""
        x, y = self.task_rates[arm].to_numpy(), self.task_rates[reference].to_numpy()  # (suite × task, seeds)
        ran = ~np.isnan(x).any(axis=1) & ~np.isnan(y).any(axis=1)
        if not ran.any():
            return pd.Series(dtype=float)
        chance = improvement_per_task(x[ran].T, y[ran].T)
        return pd.Series(chance, index=self.task_rates.index.get_level_values("suite")[ran])


def scopes(
    runs: pd.DataFrame, spreads: dict[tuple[str, str], Spread], kind: str, settings: Settings
) -> list[Scope]:
    """The comparison overall (with several suites) and in each suite: each suite's mean run-pair difference
    with the spread of its kind, never below its own episodes' sampling variance."""
    labels, counts = runs["suite"].to_numpy(), runs[COUNTS].to_numpy()
    diff, sampling = runs["diff"].to_numpy(), runs["sampling"].to_numpy()
    names = sorted(set(labels))
    weights = suite_weights(names, settings.suite_weights)
    parts, per_suite = [], []
    for name in names:
        mine = labels == name
        spread = spreads.get((name, kind), Spread(float("nan"), 0, 0)).at_least(
            np.sqrt(sampling[mine].mean())
        )
        runs_here = int(mine.sum())
        parts.append(Part(weights[name], spread, runs_here))
        effect = Effect(float(diff[mine].mean()), (Part(1.0, spread, runs_here),))
        per_suite.append(
            Scope(SUITE, name, effect, counts[mine].sum(axis=0), runs_here, (name,), weights[name])
        )
    if len(names) == 1:
        return [replace(per_suite[0], scope=OVERALL, weight=1.0)]
    estimate = float(sum(p.weight * s.effect.estimate for p, s in zip(parts, per_suite, strict=True)))
    fewest = min(s.min_seeds for s in per_suite)
    overall = Scope(
        OVERALL, ALL_SUITES, Effect(estimate, tuple(parts)), counts.sum(axis=0), fewest, tuple(names), 1.0
    )
    return [overall, *per_suite]


def _with_holm_weights(tests: list[tuple[Comparison, list[Scope]]]) -> Iterator[tuple[Comparison, Scope]]:
    """Every test of a family with its share of α: `OVERALL_SHARE` to the arms' overall tests, the rest to
    their suites, each arm alike (a one-suite comparison has one test: its whole share)."""
    arms: dict[str, int] = {}
    for (_, _, family), _ in tests:
        arms[family] = arms.get(family, 0) + 1
    for comparison, scopes in tests:
        k = arms[comparison[2]]
        suites = len(scopes) - 1
        for s in scopes:
            share = (
                1.0 if not suites else OVERALL_SHARE if s.scope == OVERALL else (1 - OVERALL_SHARE) / suites
            )
            yield comparison, replace(s, holm_weight=share / k)


def _row(comparison: Comparison, s: Scope, level: float, improvement: pd.Series, settings: Settings) -> dict:
    """Every statistic of one test: `level` is its own first-step Holm level (α · its weight)."""
    arm, reference, family = comparison
    effect, margin, alpha = s.effect, settings.equivalence_margin, settings.alpha
    n, both, b, c, on_arm, on_ref = (int(x) for x in s.counts)
    chances = improvement[improvement.index.isin(s.suites)]
    low, high = effect.interval(0.95)
    tost_low, tost_high = effect.interval(1 - 2 * alpha)
    low_adj, high_adj = effect.interval(1 - level)
    return {
        "family": family, "suite": s.suite, "scope": s.scope, "exp": arm[0], "mode": arm[1],
        "ref_exp": reference[0], "ref_mode": reference[1], "unit": RUN_UNIT, "n_runs": s.effect.n_runs,
        "min_seeds": s.min_seeds, "weight": s.weight,
        "holm_weight": s.holm_weight, "level": level, "n_pairs": n, "both_succeed": both, "only_arm": b,
        "only_ref": c, "neither": n - both - b - c, "sr_arm": on_arm / n, "sr_ref": on_ref / n,
        "diff": effect.estimate, "se": effect.se if effect.estimable else np.nan,
        "df": effect.df if effect.estimable else np.nan,
        "run_sd": effect.parts[0].spread.sd if len(effect.parts) == 1 else np.nan,
        "diff_ci_low": low, "diff_ci_high": high, "tost_ci_low": tost_low, "tost_ci_high": tost_high,
        "diff_ci_low_adj": low_adj, "diff_ci_high_adj": high_adj, "p_runs": effect.p_value(),
        "p_tost": effect.p_equivalent(margin), "margin": margin,
        "mde": effect.detectable_difference(level, settings.power),
        "target_difference": settings.target_difference,
        "seeds_needed": effect.seeds_needed(settings.target_difference, level, settings.power),
        "p_improvement": float(chances.mean()) if len(chances) else np.nan, "p_mcnemar": mcnemar_exact(b, c),
        "method": RUN_METHOD.format(weights=weights_text(settings.suite_weights)),
    }  # fmt: skip


Test = tuple[Comparison, list[Scope], pd.Series]  # a comparison, its scopes, P(improvement) per suite


def family_table(tests: list[Test], settings: Settings, extra: list[dict] | None = None) -> pd.DataFrame:
    """The rows of `tests`, each test at its own first-step Holm level, adjusted over its family (weighted
    Holm); `extra`: columns each test adds to its rows (one mapping per test)."""
    weighted = list(_with_holm_weights([(c, found) for c, found, _ in tests]))
    tested: dict[str, float] = {}
    for (_, _, family), s in weighted:
        if s.effect.estimable:
            tested[family] = tested.get(family, 0.0) + s.holm_weight
    chances = [chance for _, found, chance in tests for _ in found]
    columns = extra or [{}] * len(tests)
    added = [columns[i] for i, (_, found, _) in enumerate(tests) for _ in found]
    rows = [
        {**_row(c, s, settings.alpha * s.holm_weight / tested.get(c[2], 1.0), chance, settings), **more}
        for (c, s), chance, more in zip(weighted, chances, added, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=[*COMPARISON_COLUMNS, *(extra[0] if extra else {})])
    for _, members in frame.groupby("family").groups.items():
        frame.loc[members, "p_adj"] = weighted_holm(
            frame.loc[members, "p_runs"], frame.loc[members, "holm_weight"]
        )
    return frame


def compare(
    episodes: Episodes,
    comparisons: list[Comparison],
    settings: Settings = DEFAULT_SETTINGS,
    reference_mode: str = "pred",
) -> pd.DataFrame:
    """Paired comparisons (arm (exp, mode) vs reference (exp, mode), each in a named family) on the episodes
    both ran: per comparison its tests (see the module docstring), adjusted over their families."""
    spreads = episodes.spreads_for(reference_mode)
    tests = []
    for arm, reference, family in comparisons:
        if arm not in episodes.arms or reference not in episodes.arms:
            continue
        runs = episodes.run_differences(arm, reference)
        if runs.empty:
            continue
        kind = within(arm[1]) if arm[0] == reference[0] else BETWEEN
        improvement = episodes.improvement(arm, reference)
        tests.append(((arm, reference, family), scopes(runs, spreads, kind, settings), improvement))
    return family_table(tests, settings)


def versus_baseline(
    episodes: Episodes,
    baseline: str,
    settings: Settings = DEFAULT_SETTINGS,
    confirmatory: tuple[str, ...] = (),
    reference_mode: str = "pred",
) -> pd.DataFrame:
    """Every experiment × mode against the baseline experiment as trained (E0, `pred`). The arms whose
    verdicts rest on this comparison (`confirmatory`: the capacity control, the world arm, the encoder arms)
    form the family "vs baseline"; the others are described in a family of their own, so that arms the
    verdicts do not ask about do not dilute the family's power."""
    arms = [arm for arm in episodes.arms if arm != (baseline, reference_mode)]
    family = {True: "vs baseline", False: "other arms vs baseline"}
    return compare(
        episodes,
        [
            (arm, (baseline, reference_mode), family[arm[0] in confirmatory and arm[1] == reference_mode])
            for arm in arms
        ],
        settings,
        reference_mode,
    )


def rollout_ablations(
    episodes: Episodes, settings: Settings = DEFAULT_SETTINGS, reference_mode: str = "pred"
) -> pd.DataFrame:
    """Each experiment's memory ablations (zero, random) against its own `pred` rollouts: one family."""
    comparisons = [
        ((e, m), (e, reference_mode), "rollout ablations") for e, m in episodes.arms if m != reference_mode
    ]
    return compare(episodes, comparisons, settings, reference_mode)


def versus_world(
    episodes: Episodes,
    world: str | None,
    others: list[str],
    capacity: str | None,
    settings: Settings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """The fusion ablations, encoder arms, imagination banks and variants against the world arm (E2), as one
    family; and the world arm against the capacity control (E1), which tells a world effect from a capacity
    effect, as a family of its own."""
    present = {e for e, m in episodes.arms if m == "pred"}
    comparisons = []
    if world in present:
        comparisons += [((e, "pred"), (world, "pred"), f"vs {world}") for e in others if e in present]
        if capacity in present:
            comparisons.append(((world, "pred"), (capacity, "pred"), f"{world} vs {capacity}"))
    return compare(episodes, comparisons, settings)
