"""One verdict per perturbation (V10): does the world arm's advantage over the baseline grow where the scene
departs from the demonstrations, and does it hold there? Read from the `perturbations` table
(`wmvla.analysis.perturbation`) as typed findings, like every comparison verdict.

The verdict answers the first question — the interaction, the difference under perturbation minus the
difference on the plain suites: supported where it is shown positive, contradicted where shown negative —
and its reason and claims carry the second (the paired difference under perturbation). Suites at the floor or
the ceiling under a perturbation took no part in its tests and are named. Claims name the perturbation in
their subject ("E2 vs E0 under lan", "E2 vs E0: lan − plain"), so that they never meet the plain
comparison's claims as if they spoke of the same thing.
"""

from dataclasses import replace

import pandas as pd

from wmvla.analysis.claims import Claim
from wmvla.analysis.evidence import Evidence, fmt
from wmvla.analysis.outcomes import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_ASSESSABLE,
    ONE_RUN,
    SUPPORTED,
    Verdict,
    undecided,
)
from wmvla.analysis.perturbation import DIFFERENCE, FAMILY, INTERACTION
from wmvla.design import Design
from wmvla.sim.perturbations import KINDS


def _claims(evidence: Evidence, subject: str, alpha: float) -> tuple[Claim, ...]:
    return tuple(replace(c, subject=subject) for c in evidence.claims(alpha))


def _bounded(rates: pd.DataFrame, kind: str) -> str:
    rows = rates[(rates["perturbation"] == kind) & rates["bound"].fillna("").astype(bool)]
    named = rows.groupby("suite")["bound"].first()
    return ", ".join(
        f"{suite} left out: {bound} (every arm at {'0' if bound == 'floor' else '100'}%)"
        for suite, bound in named.items()
    )


def _holds(difference: Evidence, design: Design, kind: str) -> str:
    alpha = design.settings.alpha
    higher, lower = difference.differs(alpha, 1), difference.differs(alpha, -1)
    arms = f"{design.world} vs {design.baseline} under {kind}"
    if higher or lower:
        shown = ([f"higher {difference.where(higher)}"] if higher else []) + (
            [f"lower {difference.where(lower)}"] if lower else []
        )
        return f"{arms}: {'; '.join(shown)}"
    return f"{arms}: not shown different"


def _interaction_numbers(interaction: Evidence) -> str:
    return "; ".join(
        f"{name} Δ {r['diff']:+.3f} [{fmt(r['diff_ci_low'], '+.3f')}, {fmt(r['diff_ci_high'], '+.3f')}] "
        f"adj p {fmt(r['p_adj'], '.2g')}"
        for name, r in interaction.scopes()
    )


def perturbation_verdict(tables: dict[str, pd.DataFrame], design: Design, kind: str) -> Verdict:
    s, perturbation = design.settings, KINDS[kind]
    vid = f"V10-{kind}"
    question = (
        f"{vid} — Under LIBERO-PRO's {kind} perturbation ({perturbation.changes}), does {design.world}'s "
        f"advantage over {design.baseline} grow beyond the plain suites' (the interaction), and does it hold?"
    )
    test = (
        f"paired difference under {kind}, its interaction with the plain suites; weighted Holm over {FAMILY}"
    )
    frame, bounded = tables["perturbations"], _bounded(tables["perturbation_rates"], kind)
    where = {"perturbation": kind, "exp": design.world, "ref_exp": design.baseline}
    difference = Evidence.of(frame, **where, contrast=DIFFERENCE) if not frame.empty else None
    interaction = Evidence.of(frame, **where, contrast=INTERACTION) if not frame.empty else None
    if difference is None or interaction is None:
        why = bounded or f"{design.world} and {design.baseline} were not both evaluated under {kind}"
        return Verdict(vid, question, test, "—", NOT_ASSESSABLE, f"no test: {why}")
    numbers = f"under {kind}: {difference.numbers()} | interaction ({kind} − plain): "
    numbers += _interaction_numbers(interaction)
    if not interaction.assessable:
        return Verdict(vid, question, test, numbers, NOT_ASSESSABLE, ONE_RUN)
    claims = _claims(difference, f"{difference.subject} under {kind}", s.alpha)
    claims += _claims(interaction, f"{interaction.subject}: {kind} − plain", s.alpha)
    grows, shrinks = interaction.differs(s.alpha, 1), interaction.differs(s.alpha, -1)
    if grows and not shrinks:
        verdict, found = SUPPORTED, f"the advantage grows under {kind} {interaction.where(grows)}"
    elif shrinks and not grows:
        verdict, found = CONTRADICTED, f"the advantage shrinks under {kind} {interaction.where(shrinks)}"
    elif grows:
        verdict = INCONCLUSIVE
        found = f"mixed: grows {interaction.where(grows)}, shrinks {interaction.where(shrinks)}"
    else:
        verdict, found = INCONCLUSIVE, f"the interaction: {undecided(interaction, s)}"
    reason = "; ".join(part for part in (found, _holds(difference, design, kind), bounded) if part)
    return Verdict(vid, question, test, numbers, verdict, reason, claims=claims)


def evaluated_kinds(tables: dict[str, pd.DataFrame], design: Design) -> list[str]:
    """The perturbations the study evaluated, in LIBERO-PRO's order: one verdict each (none without a world
    arm and a baseline)."""
    rates = tables.get("perturbation_rates", pd.DataFrame())
    if rates.empty or design.world is None or design.baseline is None:
        return []
    evaluated = set(rates["perturbation"])
    return [kind for kind in KINDS if kind in evaluated]
