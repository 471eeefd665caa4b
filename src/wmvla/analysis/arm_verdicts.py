"""The verdicts of the arms compared with the world arm (E2), one family of tests: the fusion ablations (V6),
the imagination banks (V7), the world arm on another encoder's latents (V8, with its comparison against the
baseline alongside) and any other variant of the world arm (V9)."""

from dataclasses import replace

import pandas as pd

from wmvla.analysis.evidence import Evidence
from wmvla.analysis.outcomes import (
    INCONCLUSIVE,
    NOT_ASSESSABLE,
    SUPPORTED,
    Verdict,
    helps,
    missing,
    paired_test,
    training_rows,
)
from wmvla.design import Design


def arm_vs_world(tables: dict[str, pd.DataFrame], design: Design, exp: str, vid: str, what: str) -> Verdict:
    question = f"{vid} — Does {exp} ({what}) beat {design.world}?"
    test = paired_test(design.settings, f"the arms compared with {design.world}")
    evidence = Evidence.of(tables["vs_world"], exp=exp, ref_exp=design.world)
    if evidence is None:
        return missing(vid, question, test, f"{exp} or {design.world} has no evaluation")
    verdict, reason, claims = helps(evidence, design, f"{exp} vs {design.world}")
    return Verdict(vid, question, test, evidence.numbers(), verdict, reason, claims=claims)


def fusion_vs_world(tables: dict[str, pd.DataFrame], design: Design, exp: str) -> Verdict:
    return arm_vs_world(tables, design, exp, f"V6.{exp}", design.changes.get(exp, "a fusion ablation"))


def variant_vs_world(tables: dict[str, pd.DataFrame], design: Design, exp: str) -> Verdict:
    return arm_vs_world(tables, design, exp, f"V9.{exp}", design.changes.get(exp, "a variant of E2"))


def bank_vs_world(tables: dict[str, pd.DataFrame], design: Design, exp: str) -> Verdict:
    """An imagination bank against E2, and whether its attention sharpens over hypotheses while training."""
    base = arm_vs_world(tables, design, exp, f"V7.{exp}", "an imagination bank of hypotheses")
    if base.verdict == NOT_ASSESSABLE:
        return base
    pmax = training_rows(tables["training"], exp, "world_attn_pmax")
    entropy = training_rows(tables["training"], exp, "world_attn_entropy")
    test = base.test + "; attention pmax up and entropy down over training"
    if pmax.empty or entropy.empty:
        return replace(base, test=test, reason=base.reason + "; no attention logs")
    up = pmax["tail_mean"].to_numpy() > pmax["first"].to_numpy()
    down = entropy["tail_mean"].to_numpy() < entropy["first"].to_numpy()
    sharper = int((up & down).sum())
    numbers = (
        f"{base.numbers} || attention over training (medians): pmax {pmax['first'].median():.3f} → "
        f"{pmax['tail_mean'].median():.3f}, entropy {entropy['first'].median():.3f} → "
        f"{entropy['tail_mean'].median():.3f}; sharper in {sharper}/{len(pmax)} runs"
    )
    if base.verdict == SUPPORTED and sharper < len(pmax):
        reason = "higher success, but the attention does not sharpen over the hypotheses in every run"
        return replace(base, test=test, numbers=numbers, verdict=INCONCLUSIVE, reason=reason)
    return replace(base, test=test, numbers=numbers)


def encoder_vs_world(tables: dict[str, pd.DataFrame], design: Design, exp: str) -> Verdict:
    """Which world representation helps control: the world arm on another encoder's latents against the
    world arm (the verdict), with its comparison against the baseline alongside."""
    what = design.changes.get(exp, "another encoder's latents")
    base = arm_vs_world(tables, design, exp, f"V8.{exp}", what)
    evidence = Evidence.of(tables["paired"], exp=exp, mode="pred")
    if base.verdict == NOT_ASSESSABLE or evidence is None:
        return base
    _, against_baseline, claims = helps(evidence, design, f"{exp} vs {design.baseline}")
    return replace(
        base,
        test=base.test + f"; and {exp} vs {design.baseline} in the baseline family",
        numbers=f"{base.numbers} || {evidence.numbers()}",
        reason=f"{base.reason}; against {design.baseline}: {against_baseline}",
        claims=base.claims + claims,
    )
