"""What the evidence says: one verdict per criterion of the seed notes, from the study's tables.

Each criterion (DESIGN.md §6) gets one row: the question, the unit of replication and the method of its test,
the numbers, a verdict — supported, contradicted, inconclusive, or not assessable — and a one-line reason. The
order matters: if the baseline does not work (V0), no comparison with it means anything, and every other
verdict is "not assessable".

A comparison of two arms is read in every scope the tables give it (`Evidence`): overall (the
suite-stratified test) and each suite. An arm "differs" where an adjusted test rejects (`p_adj` < α: α split
between the overall test, Holm over the arms of its family, and the suites of the comparison, Holm over
suites; `wmvla.analysis.tables`), and the reason names those scopes with their differences. A claim of *no*
difference (E1 equivalent to E0, "the policy ignores its memory") holds only if every suite's TOST rejects
within `analysis.equivalence_margin`, which the config cannot set above `analysis.target_difference`;
otherwise the verdict is inconclusive and names the suites that are too uncertain. Two verdicts of one report
never contradict each other: "E2 beats E0" is not supported beside "the policy ignores its memory". A study
whose suites have one training run each gets no comparison verdict: the between-run variance is not estimable.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from wmvla.analysis.evidence import Evidence, power
from wmvla.analysis.stats import RUN_METHOD, RUN_UNIT
from wmvla.analysis.tables import OVERALL_SHARE
from wmvla.design import Design

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_ASSESSABLE = (
    "supported",
    "contradicted",
    "inconclusive",
    "not assessable",
)
COLUMNS = ["id", "question", "unit", "method", "test", "numbers", "verdict", "reason"]
PAIRED_TEST = (
    "per pair of training runs (suite, seed) the paired difference of success on identical episodes; "
    "stratified by suite: a t-test overall and in each suite, α split between them (Holm over its family's "
    "arms, Holm over the suites); equivalence: TOST within ±{margin} in every suite"
)
ONE_RUN = (
    "one training run per suite and arm: the between-run variance cannot be estimated, so nothing can be "
    "said of the method (two training runs could differ as much by chance); run at least 2 seeds per suite "
    "(config `seeds:`; only the new runs are planned)"
)


@dataclass(frozen=True)
class Verdict:
    id: str
    question: str
    test: str
    numbers: str
    verdict: str
    reason: str
    unit: str = ""  # what a replicate is: the training run for every comparison of arms
    method: str = ""  # the statistics behind the verdict


COMPARISON = (
    RUN_UNIT,
    RUN_METHOD + f"; α split: {OVERALL_SHARE:.0%} to the overall test (Holm over its family's arms), "
    f"{1 - OVERALL_SHARE:.0%} to the suites (Holm over suites); TOST for equivalence in every suite",
)
UNITS = {  # criterion → (unit, method)
    "V0": ("episode, pooled per suite", "success rate with its Wilson 95% interval (statsmodels)"),
    "V1": COMPARISON,
    "V2": ("training run", "each run's final |tanh g| against the threshold, and its trend; runs counted"),
    "V3": (
        "training run (its interval: held-out demonstrations)",
        "per run, the held-out action loss under each memory mode minus under predicted memory, with a "
        "bootstrap interval that resamples demonstrations (scipy); runs counted",
    ),
    "V4": COMPARISON,
    "V5": COMPARISON,
    "V6": COMPARISON,
    "V7": COMPARISON,
    "V8": COMPARISON,
    "V9": COMPARISON,
}


def _undecided(evidence: Evidence, design: Design) -> str:
    """Why nothing was shown either way: equivalence in every suite, or the suites too uncertain to say."""
    s = design.settings
    if evidence.equivalent_everywhere(s.alpha):
        return (
            f"no difference beyond ±{s.equivalence_margin} in any suite (TOST, α = {s.alpha}): any effect is "
            f"smaller than the margin; {power(evidence.overall)}"
        )
    return (
        f"neither different nor equivalent within ±{s.equivalence_margin}: too uncertain in "
        f"{evidence.too_uncertain(s.alpha)}; {power(evidence.overall)}"
    )


def _helps(evidence: Evidence, design: Design, what: str) -> tuple[str, str]:
    """Verdict and reason for "the arm beats its reference", read in every scope."""
    s = design.settings
    if not evidence.assessable:
        return NOT_ASSESSABLE, f"{what}: {ONE_RUN}"
    higher, lower = evidence.differs(s.alpha, 1), evidence.differs(s.alpha, -1)
    if higher and lower:
        return INCONCLUSIVE, (
            f"{what}: mixed — higher success {evidence.where(higher)}, lower {evidence.where(lower)}"
        )
    if higher:
        return (
            SUPPORTED,
            f"{what}: higher success over training runs {evidence.where(higher)} (α = {s.alpha})",
        )
    if lower:
        return (
            CONTRADICTED,
            f"{what}: lower success over training runs {evidence.where(lower)} (α = {s.alpha})",
        )
    return INCONCLUSIVE, f"{what}: {_undecided(evidence, design)}"


def _missing(vid: str, question: str, test: str, what: str) -> Verdict:
    return Verdict(vid, question, test, "—", NOT_ASSESSABLE, f"not run: {what}")


def baseline_works(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    question = f"V0 — Does the baseline {design.baseline} work (success rate > 0 on every suite studied)?"
    test = "pooled success rate per suite with its Wilson 95% interval"
    exps = tables["experiments"]
    rows = exps[(exps["exp"] == design.baseline) & (exps["mode"] == "pred") & (exps["suite"] != "all")]
    if design.baseline is None or rows.empty:
        return _missing("V0", question, test, "the study has no evaluated baseline")
    numbers = "; ".join(
        f"{r.suite} {r.sr:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] ({int(r.successes)}/{int(r.n_episodes)})"
        for r in rows.itertuples()
    )
    dead = [r.suite for r in rows.itertuples() if r.successes == 0]
    warning = _gate_warning(tables.get("checks"))
    if dead:
        reason = (
            f"{design.baseline} never succeeds on {', '.join(dead)}: no comparison with it means anything"
        )
        return Verdict("V0", question, test, numbers, CONTRADICTED, reason + warning)
    return Verdict(
        "V0", question, test, numbers, SUPPORTED, f"{design.baseline} succeeds on every suite" + warning
    )


def _gate_warning(checks: pd.DataFrame | None) -> str:
    if checks is None or checks.empty:
        return ""
    overridden = checks.loc[checks["overridden"].astype(str).str.lower() == "true", "name"].tolist()
    return f" — WARNING: gates failed and were overridden: {', '.join(overridden)}" if overridden else ""


def capacity_equivalent(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    s = design.settings
    question = (
        f"V1 — Is {design.capacity} (the world branch with its capacity, given no information about the "
        f"scene) equivalent to {design.baseline}: no capacity or regularisation effect?"
    )
    test = PAIRED_TEST.format(margin=s.equivalence_margin)
    evidence = Evidence.of(tables["paired"], exp=design.capacity, mode="pred") if design.capacity else None
    if evidence is None:
        return _missing("V1", question, test, "the study has no capacity control (E1)")
    numbers = evidence.numbers()
    if not evidence.assessable:
        return Verdict("V1", question, test, numbers, NOT_ASSESSABLE, ONE_RUN)
    higher, lower = evidence.differs(s.alpha, 1), evidence.differs(s.alpha, -1)
    if higher or lower:
        effect = (
            f"a capacity effect: extra parameters help {evidence.where(higher)}"
            if higher
            else f"the branch harms {evidence.where(lower)}"
        )
        return Verdict("V1", question, test, numbers, CONTRADICTED, f"{design.capacity} differs: {effect}")
    if evidence.equivalent_everywhere(s.alpha):
        reason = f"equivalent within ±{s.equivalence_margin} in every suite (TOST, α = {s.alpha})"
        return Verdict("V1", question, test, numbers, SUPPORTED, reason)
    return Verdict("V1", question, test, numbers, INCONCLUSIVE, _undecided(evidence, design))


def _runs(training: pd.DataFrame, exp: str, metric: str) -> pd.DataFrame:
    if training.empty:
        return training
    return training[(training["exp"] == exp) & (training["metric"] == metric)]


def gate_opens(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    threshold = design.settings.gate_open_threshold
    question = f"V2 — Does {design.world}'s gate open (it uses the world memory)?"
    test = f"|tanh g| over the last 10% of logged steps of each run, against {threshold}; its trend"
    runs = _runs(tables["training"], design.world, "world_gate")
    if design.world is None or runs.empty:
        return _missing("V2", question, test, "no training metrics of the world arm (E2)")
    final, first = runs["tail_mean"].abs().to_numpy(), runs["first"].abs().to_numpy()
    opened, rising = int((final >= threshold).sum()), int((final > first).sum())
    numbers = (
        f"final |tanh g| median {np.median(final):.4f} (min {final.min():.4f}, max {final.max():.4f}) over "
        f"{len(final)} run(s); open in {opened}, rising in {rising}"
    )
    if opened == len(final) and rising == len(final):
        return Verdict("V2", question, test, numbers, SUPPORTED, "open and opening in every run")
    if opened == 0:
        return Verdict("V2", question, test, numbers, CONTRADICTED, f"closed (< {threshold}) in every run")
    return Verdict("V2", question, test, numbers, INCONCLUSIVE, "open in some runs only")


def offline_ordering(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    question = (
        f"V3 — Offline, does the true future (oracle) lower {design.world}'s held-out action loss while "
        "shuffled or random memory does not?"
    )
    test = (
        "held-out action loss under each memory mode minus under predicted memory, per run (bootstrap 95% CI)"
    )
    offline = tables["offline"]
    rows = offline[offline["exp"] == design.world] if not offline.empty else offline
    if design.world is None or rows.empty or not (rows["mode"] == "oracle").any():
        return _missing("V3", question, test, "no offline check of the world arm (E2)")

    def lowered(mode: str) -> tuple[int, int, float]:
        r = rows[rows["mode"] == mode]
        return int((r["ci_high"] < 0).sum()), len(r), float(r["action_loss_minus_pred"].mean())

    oracle, others = (
        lowered("oracle"),
        {m: lowered(m) for m in ("shuffle", "random") if (rows["mode"] == m).any()},
    )
    numbers = "; ".join(
        f"{m} {mean:+.4f} (lower in {k}/{n} runs)" for m, (k, n, mean) in {"oracle": oracle, **others}.items()
    )
    noise_helps = [m for m, (k, n, _) in others.items() if k > n / 2]
    if oracle[0] == 0 or noise_helps:
        why = (
            "the oracle lowers the loss in no run" if oracle[0] == 0 else f"{', '.join(noise_helps)} help too"
        )
        return Verdict("V3", question, test, numbers, CONTRADICTED, why)
    if oracle[0] == oracle[1] and all(k == 0 for k, _, _ in others.values()):
        return Verdict(
            "V3", question, test, numbers, SUPPORTED, "the oracle helps in every run, noise in none"
        )
    return Verdict("V3", question, test, numbers, INCONCLUSIVE, "the ordering holds in some runs only")


def world_beats_baseline(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    """E2 against E0, in every scope; a gain that the capacity control shares where it is found (E1 beats E0
    there too, and E2 does not beat E1) is "confounded by capacity", not support."""
    s = design.settings
    question = f"V4 — Does {design.world} (predicted futures) beat {design.baseline}?"
    test = PAIRED_TEST.format(margin=s.equivalence_margin) + f"; then {design.world} vs {design.capacity}"
    evidence = Evidence.of(tables["paired"], exp=design.world, mode="pred") if design.world else None
    if evidence is None:
        return _missing("V4", question, test, "the study has no world arm (E2)")
    numbers = evidence.numbers()
    verdict, reason = _helps(evidence, design, f"{design.world} vs {design.baseline}")
    capacity = Evidence.of(tables["paired"], exp=design.capacity, mode="pred") if design.capacity else None
    control = (
        Evidence.of(tables["vs_world"], exp=design.world, ref_exp=design.capacity)
        if design.capacity
        else None
    )
    if verdict != SUPPORTED or capacity is None or control is None:
        return Verdict("V4", question, test, numbers, verdict, reason)
    numbers += f" || {control.numbers()}"
    found = evidence.differs(s.alpha, 1)
    shared = set(capacity.differs(s.alpha, 1)) - set(control.differs(s.alpha, 1))
    if all(scope in shared for scope in found):
        reason = (
            f"confounded by capacity: {design.capacity} (the branch without scene information) beats "
            f"{design.baseline} as well {capacity.where(found)}, and {design.world} does not beat "
            f"{design.capacity} there"
        )
        return Verdict("V4", question, test, numbers, INCONCLUSIVE, reason)
    beyond = control.differs(s.alpha, 1)
    reason += (
        f"; beyond capacity: it beats {design.capacity} {control.where(beyond)}"
        if beyond
        else f"; {design.capacity} does not beat {design.baseline} where it does"
    )
    return Verdict("V4", question, test, numbers, SUPPORTED, reason)


def rollout_ablations_hurt(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    s = design.settings
    question = f"V5 — Does zeroing or randomising {design.world}'s memory at rollout lower its success?"
    test = PAIRED_TEST.format(margin=s.equivalence_margin).replace(
        "its family's arms", "the rollout ablations"
    )
    ablations = tables["ablations"]
    modes = (
        sorted(set(ablations.loc[ablations["exp"] == design.world, "mode"]))
        if design.world and not ablations.empty
        else []
    )
    found = {m: Evidence.of(ablations, exp=design.world, mode=m) for m in modes}
    if not found:
        return _missing("V5", question, test, "no rollout ablation of the world arm (zero/random memory)")
    numbers = " || ".join(e.numbers() for e in found.values())
    if not all(e.assessable for e in found.values()):
        return Verdict("V5", question, test, numbers, NOT_ASSESSABLE, ONE_RUN)
    better = {m: e.differs(s.alpha, 1) for m, e in found.items()}
    worse = {m: e.differs(s.alpha, -1) for m, e in found.items()}
    if any(better.values()):
        where = "; ".join(f"{m} {found[m].where(scopes)}" for m, scopes in better.items() if scopes)
        return Verdict("V5", question, test, numbers, CONTRADICTED, f"an ablated memory does better: {where}")
    if all(worse.values()):
        where = "; ".join(f"{m} {found[m].where(scopes)}" for m, scopes in worse.items())
        reason = f"every ablation lowers success, the memory is used: {where}"
        return Verdict("V5", question, test, numbers, SUPPORTED, reason)
    if all(e.equivalent_everywhere(s.alpha) for e in found.values()):
        reason = (
            f"no ablation matters: every ablation within ±{s.equivalence_margin} of {design.world} in every "
            "suite (TOST): the policy ignores its memory"
        )
        return Verdict("V5", question, test, numbers, CONTRADICTED, reason)
    lowering = "; ".join(f"{m} {found[m].where(scopes)}" for m, scopes in worse.items() if scopes)
    unsettled = "; ".join(f"{m}: {e.too_uncertain(s.alpha)}" for m, e in found.items() if not worse[m])
    shown = (
        f"some ablations lower success ({lowering}), not all" if lowering else "none clearly lowers success"
    )
    reason = f"{shown}; too uncertain to call equal in {unsettled}" if unsettled else shown
    return Verdict("V5", question, test, numbers, INCONCLUSIVE, reason)


def arm_vs_world(tables: dict[str, pd.DataFrame], design: Design, exp: str, vid: str, what: str) -> Verdict:
    s = design.settings
    question = f"{vid} — Does {exp} ({what}) beat {design.world}?"
    test = PAIRED_TEST.format(margin=s.equivalence_margin).replace(
        "its family's arms", f"the arms compared with {design.world}"
    )
    evidence = Evidence.of(tables["vs_world"], exp=exp, ref_exp=design.world)
    if evidence is None:
        return _missing(vid, question, test, f"{exp} or {design.world} has no evaluation")
    verdict, reason = _helps(evidence, design, f"{exp} vs {design.world}")
    return Verdict(vid, question, test, evidence.numbers(), verdict, reason)


def bank_vs_world(tables: dict[str, pd.DataFrame], design: Design, exp: str) -> Verdict:
    """An imagination bank against E2, and whether its attention sharpens over hypotheses while training."""
    base = arm_vs_world(tables, design, exp, f"V7.{exp}", "an imagination bank of hypotheses")
    if base.verdict == NOT_ASSESSABLE:
        return base
    pmax = _runs(tables["training"], exp, "world_attn_pmax")
    entropy = _runs(tables["training"], exp, "world_attn_entropy")
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
    against_baseline = _helps(evidence, design, f"{exp} vs {design.baseline}")[1]
    return replace(
        base,
        test=base.test + f"; and {exp} vs {design.baseline} in the baseline family",
        numbers=f"{base.numbers} || {evidence.numbers()}",
        reason=f"{base.reason}; against {design.baseline}: {against_baseline}",
    )


def consistent(found: list[Verdict]) -> list[Verdict]:
    """Two verdicts of one report never contradict each other: "E2 beats E0" (V4) beside "the policy ignores
    its memory" (V5) would credit predicted futures the policy does not use — V4 is then inconclusive."""
    by_id = {v.id: v for v in found}
    v4, v5 = by_id.get("V4"), by_id.get("V5")
    if v4 and v5 and v4.verdict == SUPPORTED and "ignores its memory" in v5.reason:
        why = "but its memory does not matter at rollout (V5): the gain is not its predicted futures'"
        by_id["V4"] = replace(v4, verdict=INCONCLUSIVE, reason=f"{v4.reason}; {why}")
    return [by_id[v.id] for v in found]


def verdicts(tables: dict[str, pd.DataFrame], design: Design) -> pd.DataFrame:
    """Every criterion's verdict, in the notes' order (a failed V0 makes the rest not assessable)."""
    rows = [baseline_works(tables, design)]
    later = consistent(
        [
            capacity_equivalent(tables, design),
            gate_opens(tables, design),
            offline_ordering(tables, design),
            world_beats_baseline(tables, design),
            rollout_ablations_hurt(tables, design),
            *(
                arm_vs_world(tables, design, e, f"V6.{e}", design.changes.get(e, "a fusion ablation"))
                for e in design.fusion
            ),
            *(bank_vs_world(tables, design, e) for e in design.imagination),
            *(encoder_vs_world(tables, design, e) for e in design.encoders),
            *(
                arm_vs_world(tables, design, e, f"V9.{e}", design.changes.get(e, "a variant of E2"))
                for e in design.variants
            ),
        ]
    )
    if rows[0].verdict != SUPPORTED:
        why = f"{design.baseline} does not work here (V0): no comparison with it is evidence"
        later = [
            v if v.verdict == NOT_ASSESSABLE else replace(v, verdict=NOT_ASSESSABLE, reason=why)
            for v in later
        ]
    named = [
        replace(v, unit=UNITS[v.id.split(".")[0]][0], method=UNITS[v.id.split(".")[0]][1])
        for v in [*rows, *later]
    ]
    return pd.DataFrame([v.__dict__ for v in named], columns=COLUMNS)
