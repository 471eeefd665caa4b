"""The world arm against the baseline where the scene departs from the demonstrations: LIBERO-PRO's
perturbations (DESIGN.md §6 "Perturbations").

Plain LIBERO leaves little headroom, so the question is asked again on each perturbation's suites: does E2's
advantage over E0 *hold* there (the paired difference on the perturbed suites: both arms meet the variant's
own init states), and does it *grow* beyond the plain suites' (the interaction: the difference under
perturbation minus the difference on the plain suite, per pair of training runs — the same checkpoints
evaluated twice)? A difference varies as the other comparisons of arms do (`wmvla.analysis.effects`: the
perturbed suite's between-run variance, pooled over the arms evaluated there); an interaction varies with how
much the runs' robustness differs — each run's change from plain to perturbed, pooled over the arms
evaluated in both (`change_spreads`) — never less than the two differences' sampling variances together.

Every difference and interaction of every perturbation forms one family, one error budget (weighted Holm,
each comparison alike, as `comparisons.family_table` weighs them). A suite where both arms are at 0% (floor)
or at 100% (ceiling) under a perturbation says nothing of either question: it is left out of that
perturbation's tests and named as such (`rates`' `bound` column).
"""

import numpy as np
import pandas as pd

from wmvla.analysis.comparisons import Episodes, Test, family_table, scopes
from wmvla.analysis.effects import BETWEEN, change_spreads
from wmvla.analysis.tables import success_rates
from wmvla.design import Settings
from wmvla.sim.perturbations import KINDS, PLAIN

FAMILY = "under perturbation"
DIFFERENCE, INTERACTION = "difference", "interaction"  # the two questions asked of each perturbation
FLOOR, CEILING = "floor", "ceiling"
REFERENCE_MODE = "pred"  # arms are evaluated under perturbation as trained


def plain_only(episodes: pd.DataFrame) -> pd.DataFrame:
    """The episodes of LIBERO's own suites (every table but the perturbation ones reads these)."""
    if "perturbation" not in episodes:
        return episodes
    return episodes[episodes["perturbation"] == PLAIN]


def perturbations(episodes: pd.DataFrame) -> list[str]:
    """The perturbations evaluated, in LIBERO-PRO's order."""
    if "perturbation" not in episodes:
        return []
    found = set(episodes["perturbation"])
    return [kind for kind in KINDS if kind in found]


def rates(episodes: pd.DataFrame) -> pd.DataFrame:
    """Success rate (Wilson 95% interval) per perturbation — plain beside each — suite and arm, as trained,
    pooled over seeds; `bound`: floor or ceiling where every arm evaluated under that perturbation in that
    suite is at 0% or 100%."""
    if not perturbations(episodes):
        return pd.DataFrame()
    trained = episodes[episodes["mode"] == REFERENCE_MODE]
    frame = success_rates(trained, ["perturbation", "suite", "exp"])
    evaluated = frame[frame["perturbation"] != PLAIN]
    arms = set(evaluated["exp"])
    frame = frame[frame["exp"].isin(arms)]  # plain rows of the arms also evaluated under perturbation
    bound = frame.groupby(["perturbation", "suite"])["sr"].agg(["min", "max"])
    label = np.where(bound["max"] == 0, FLOOR, np.where(bound["min"] == 1, CEILING, ""))
    bounds = pd.Series(label, index=bound.index, name="bound").reset_index()
    frame = frame.merge(bounds, on=["perturbation", "suite"])
    frame.loc[frame["perturbation"] == PLAIN, "bound"] = ""
    return frame.reset_index(drop=True)


def _bounded(rate_table: pd.DataFrame, kind: str) -> set[str]:
    rows = rate_table[(rate_table["perturbation"] == kind) & (rate_table["bound"] != "")]
    return set(rows["suite"])


def _interaction_runs(under: pd.DataFrame, plain: pd.DataFrame) -> pd.DataFrame:
    """Per run pair (suite, seed): the difference under perturbation minus the plain one, its sampling
    variance the two's sum (different episodes), its episode counts those under perturbation."""
    runs = under.merge(
        plain[["suite", "seed", "diff", "sampling"]], on=["suite", "seed"], suffixes=("", "_p")
    )
    return runs.assign(diff=runs["diff"] - runs["diff_p"], sampling=runs["sampling"] + runs["sampling_p"])


def _kind_tests(
    plain: Episodes, under: Episodes, arm: str, ref: str, leave_out: set[str], settings: Settings
) -> list[Test]:
    """One perturbation's two tests: the difference, and the interaction with the plain suites."""
    pair = ((arm, REFERENCE_MODE), (ref, REFERENCE_MODE))
    if any(a not in under.arms or a not in plain.arms for a in pair):
        return []
    runs = under.run_differences(*pair)
    runs = runs[~runs["suite"].isin(leave_out)]
    if runs.empty:
        return []
    trained = under.run_rates[under.run_rates["mode"] == REFERENCE_MODE]
    reference = plain.run_rates[plain.run_rates["mode"] == REFERENCE_MODE][["suite", "exp", "seed", "sr"]]
    interaction = _interaction_runs(runs, plain.run_differences(*pair))
    spreads = under.spreads_for(REFERENCE_MODE) | change_spreads(trained, reference, INTERACTION)
    comparison = (*pair, FAMILY)
    return [
        (comparison, scopes(runs, spreads, BETWEEN, settings), under.improvement(*pair)),
        (comparison, scopes(interaction, spreads, INTERACTION, settings), pd.Series(dtype=float)),
    ]


def under_perturbation(
    episodes: pd.DataFrame,
    arm: str | None,
    reference: str | None,
    settings: Settings,
    plain: Episodes | None = None,
) -> pd.DataFrame:
    """`arm` (the world arm) against `reference` (the baseline) under every perturbation evaluated: the
    difference and the interaction with the plain suites, overall and per suite, as one family. `plain`:
    the plain episodes already arranged (the report's other comparisons read them too)."""
    kinds = perturbations(episodes)
    if not kinds or arm is None or reference is None:
        return pd.DataFrame()
    plain = plain if plain is not None else Episodes.of(plain_only(episodes))
    rate_table = rates(episodes)
    tests, names = [], []
    for kind in kinds:
        under = Episodes.of(episodes[episodes["perturbation"] == kind])
        for contrast, test in zip(
            (DIFFERENCE, INTERACTION),
            _kind_tests(plain, under, arm, reference, _bounded(rate_table, kind), settings),
            strict=False,
        ):
            tests.append(test)
            names.append({"perturbation": kind, "contrast": contrast})
    if not tests:
        return pd.DataFrame()
    table = family_table(tests, settings, names)
    table.loc[table["contrast"] == INTERACTION, "p_mcnemar"] = np.nan  # its episodes are no one paired set
    return table
