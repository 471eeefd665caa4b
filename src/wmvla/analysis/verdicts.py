"""What the evidence says: one verdict per criterion of the seed notes, from the study's tables.

Each criterion (DESIGN.md §6) gets one row: the question, the unit of replication and the method of its test,
the numbers, a verdict — supported, contradicted, inconclusive, or not assessable — a one-line reason, and its
claims. The order matters: if the baseline does not work (V0), no comparison with it means anything, and every
other verdict is "not assessable".

A comparison is read in every scope the tables give it (`Evidence`: overall and each suite) as typed findings,
and each verdict derives from those findings, never from another verdict's prose. A claim of *no* difference
(E1 equivalent to E0, "the policy ignores its memory") holds only where every suite's TOST rejects within
`analysis.equivalence_margin` and no test of any scope differs, not even unadjusted. "Confounded by capacity"
is decided scope by scope. The report's verdicts never contradict each other: their claims are checked
pairwise, and a verdict whose inferred claim meets a measured one that denies it is inconclusive
(`consistent`).
"""

import importlib
from dataclasses import replace

import numpy as np
import pandas as pd

from wmvla.analysis.claims import (
    EQUIVALENT,
    EVERY_SCOPE,
    HIGHER,
    IGNORED,
    MATTERS,
    NOT_HIGHER,
    Claim,
    conflict,
    join,
)
from wmvla.analysis.evidence import OVERALL, Evidence
from wmvla.analysis.outcomes import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_ASSESSABLE,
    ONE_RUN,
    SUPPORTED,
    Verdict,
    comparison_method,
    helps,
    missing,
    paired_test,
    training_rows,
    undecided,
)
from wmvla.analysis.perturbation_verdicts import evaluated_kinds
from wmvla.design import COMPARISON, PERTURBATION, VERDICTS, Criterion, Design

COLUMNS = ["id", "question", "unit", "method", "test", "numbers", "verdict", "reason", "claims"]


def baseline_works(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    question = f"V0 — Does the baseline {design.baseline} work (success rate > 0 on every suite studied)?"
    test = "pooled success rate per suite with its Wilson 95% interval"
    exps = tables["experiments"]
    rows = exps[(exps["exp"] == design.baseline) & (exps["mode"] == "pred") & (exps["suite"] != "all")]
    if design.baseline is None or rows.empty:
        return missing("V0", question, test, "the study has no evaluated baseline")
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
    test = paired_test(s, "the arms compared with the baseline")
    evidence = Evidence.of(tables["paired"], exp=design.capacity, mode="pred") if design.capacity else None
    if evidence is None:
        return missing("V1", question, test, "the study has no capacity control (E1)")
    numbers = evidence.numbers()
    if not evidence.assessable:
        return Verdict("V1", question, test, numbers, NOT_ASSESSABLE, ONE_RUN)
    higher, lower = evidence.differs(s.alpha, 1), evidence.differs(s.alpha, -1)
    claims = evidence.claims(s.alpha)
    if higher or lower:
        effects = (
            [f"a capacity effect: extra parameters help {evidence.where(higher)}"] if higher else []
        ) + ([f"the branch harms {evidence.where(lower)}"] if lower else [])
        reason = f"{design.capacity} differs: {'; '.join(effects)}"
        return Verdict("V1", question, test, numbers, CONTRADICTED, reason, claims=claims)
    if evidence.equivalent_everywhere(s.alpha):
        reason = (
            f"equivalent within ±{s.equivalence_margin} in every suite (TOST, α = {s.alpha}) and different "
            "in no scope"
        )
        return Verdict("V1", question, test, numbers, SUPPORTED, reason, claims=claims)
    return Verdict("V1", question, test, numbers, INCONCLUSIVE, undecided(evidence, s))


def gate_opens(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    threshold = design.settings.gate_open_threshold
    question = f"V2 — Does {design.world}'s gate open (it uses the world memory)?"
    test = f"|tanh g| over the last 10% of logged steps of each run, against {threshold}; its trend"
    runs = training_rows(tables["training"], design.world, "world_gate")
    if design.world is None or runs.empty:
        return missing("V2", question, test, "no training metrics of the world arm (E2)")
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
        return missing("V3", question, test, "no offline check of the world arm (E2)")

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
    """E2 against E0, in every scope. Where E2's gain is found, E1 decides whether it is the world's, scope by
    scope: it is if E2 beats E1 there (beyond capacity) or E1 is equivalent to E0 there (no capacity effect);
    it is confounded if E1 beats E0 there and E2 does not beat E1; otherwise it is not separable from a
    capacity effect. An overall gain is confounded if E1 beats E0 in any scope, and free of capacity only if
    E1 is equivalent to E0 everywhere. V4 is supported where at least one gain is the world's."""
    s = design.settings
    question = f"V4 — Does {design.world} (predicted futures) beat {design.baseline}?"
    test = (
        paired_test(s, "the arms compared with the baseline") + f"; then {design.world} vs {design.capacity}"
    )
    evidence = Evidence.of(tables["paired"], exp=design.world, mode="pred") if design.world else None
    if evidence is None:
        return missing("V4", question, test, "the study has no world arm (E2)")
    numbers = evidence.numbers()
    verdict, reason, claims = helps(evidence, design, f"{design.world} vs {design.baseline}")
    capacity = Evidence.of(tables["paired"], exp=design.capacity, mode="pred") if design.capacity else None
    control = (
        Evidence.of(tables["vs_world"], exp=design.world, ref_exp=design.capacity)
        if design.capacity
        else None
    )
    found = evidence.differs(s.alpha, 1)
    if verdict != SUPPORTED:
        return Verdict("V4", question, test, numbers, verdict, reason, claims=claims)
    if capacity is None or control is None:
        return Verdict("V4", question, test, numbers, verdict, reason, claims=claims + _credit(found, design))
    numbers += f" || {control.numbers()}"
    worlds, qualified, more = _beyond_capacity(found, evidence, capacity, control, design)
    verdict = SUPPORTED if worlds else INCONCLUSIVE
    claims += more + _credit(worlds, design)
    return Verdict("V4", question, test, numbers, verdict, f"{reason}; {qualified}", claims=claims)


def _credit(scopes: list[str], design: Design) -> tuple[Claim, ...]:
    """A gain of the world arm is credited to its memory: an inference a measured "ignored" (V5) overrules."""
    return tuple(Claim(f"memory of {design.world}", scope, MATTERS, inferred=True) for scope in scopes)


def _beyond_capacity(
    found: list[str], evidence: Evidence, capacity: Evidence, control: Evidence, design: Design
) -> tuple[list[str], str, tuple[Claim, ...]]:
    """The scopes of `found` (where E2 beats E0) whose gain is the world's, the reason, and the claims."""
    alpha, e1, e0, e2 = design.settings.alpha, design.capacity, design.baseline, design.world
    e1_found, ctl_found = capacity.findings(alpha), control.findings(alpha)
    e1_higher = capacity.differs(alpha, 1)
    beyond = [scope for scope in found if ctl_found.get(scope) == HIGHER]
    rest = [scope for scope in found if scope not in beyond]
    gains = dict(evidence.scopes())
    margin = design.settings.equivalence_margin
    free = [  # E1 within the margin of E0 there rules capacity out only for a gain shown beyond the margin
        scope
        for scope in rest
        if gains[scope]["tost_ci_low"] > margin
        and (capacity.equivalent_everywhere(alpha) if scope == OVERALL else e1_found.get(scope) == EQUIVALENT)
    ]
    confounded = [x for x in rest if x not in free and (x in e1_higher or (x == OVERALL and e1_higher))]
    unsettled = [scope for scope in rest if scope not in (*free, *confounded)]
    claims = tuple(Claim(control.subject, scope, HIGHER) for scope in beyond)
    claims += tuple(Claim(capacity.subject, EVERY_SCOPE if x == OVERALL else x, EQUIVALENT) for x in free)
    claims += tuple(Claim(capacity.subject, x, HIGHER) for x in e1_higher if confounded)
    claims += tuple(Claim(control.subject, scope, NOT_HIGHER) for scope in confounded)
    parts = []
    if beyond:
        parts.append(f"beyond capacity: it beats {e1} {control.where(beyond)}")
    if free:
        parts.append(
            f"no capacity effect {_places(free)}: the gain exceeds ±{margin} and {e1} is within it of {e0} "
            "there (TOST)"
        )
    if confounded:
        parts.append(
            f"confounded by capacity {_places(confounded)}: {e1} (the branch without scene information) "
            f"beats {e0} {capacity.where(e1_higher)} and {e2} does not beat {e1} there"
        )
    if unsettled:
        parts.append(
            f"not separable from capacity {_places(unsettled)}: {e1} neither beats {e0} there nor is shown "
            f"within ±{design.settings.equivalence_margin} of it, and {e2} does not beat {e1} there"
        )
    return beyond + free, "; ".join(parts), claims


def _places(scopes: list[str]) -> str:
    return ", ".join("overall" if scope == OVERALL else f"in {scope}" for scope in scopes)


def rollout_ablations_hurt(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    s = design.settings
    question = f"V5 — Does zeroing or randomising {design.world}'s memory at rollout lower its success?"
    test = paired_test(s, "the rollout ablations")
    ablations = tables["ablations"]
    modes = (
        sorted(set(ablations.loc[ablations["exp"] == design.world, "mode"]))
        if design.world and not ablations.empty
        else []
    )
    found = {m: Evidence.of(ablations, exp=design.world, mode=m) for m in modes}
    if not found:
        return missing("V5", question, test, "no rollout ablation of the world arm (zero/random memory)")
    numbers = " || ".join(e.numbers() for e in found.values())
    if not all(e.assessable for e in found.values()):
        return Verdict("V5", question, test, numbers, NOT_ASSESSABLE, ONE_RUN)
    better = {m: e.differs(s.alpha, 1) for m, e in found.items()}
    worse = {m: e.differs(s.alpha, -1) for m, e in found.items()}
    claims = tuple(c for e in found.values() for c in e.claims(s.alpha))
    memory = f"memory of {design.world}"
    matters = tuple(
        Claim(memory, scope, MATTERS) for scope in sorted({x for m in found for x in better[m] + worse[m]})
    )
    if any(better.values()):
        where = "; ".join(f"{m} {found[m].where(scopes)}" for m, scopes in better.items() if scopes)
        reason = f"an ablated memory does better: {where}"
        return Verdict("V5", question, test, numbers, CONTRADICTED, reason, claims=claims + matters)
    if all(worse.values()):
        where = "; ".join(f"{m} {found[m].where(scopes)}" for m, scopes in worse.items())
        reason = f"every ablation lowers success, the memory is used: {where}"
        return Verdict("V5", question, test, numbers, SUPPORTED, reason, claims=claims + matters)
    if all(e.equivalent_everywhere(s.alpha) for e in found.values()):
        reason = (
            f"no ablation matters: every ablation within ±{s.equivalence_margin} of {design.world} in every "
            "suite (TOST) and different in no scope: the policy ignores its memory"
        )
        ignored = Claim(memory, EVERY_SCOPE, IGNORED)
        return Verdict("V5", question, test, numbers, CONTRADICTED, reason, claims=(*claims, ignored))
    lowering = "; ".join(f"{m} {found[m].where(scopes)}" for m, scopes in worse.items() if scopes)
    unsettled = "; ".join(f"{m}: {undecided(e, s)}" for m, e in found.items() if not worse[m])
    shown = (
        f"some ablations lower success ({lowering}), not all" if lowering else "none clearly lowers success"
    )
    reason = f"{shown}; {unsettled}" if unsettled else shown
    return Verdict("V5", question, test, numbers, INCONCLUSIVE, reason, claims=claims + matters)


def consistent(found: list[Verdict]) -> list[Verdict]:
    """Two verdicts of one report never contradict each other: every pair of claims is checked. A verdict
    whose inferred claim is denied by a measured one (E2's gain credited to its memory beside V5's "the
    policy ignores its memory") becomes inconclusive and loses that claim; two measured claims that conflict
    (which the shared tables should make impossible) leave both verdicts inconclusive, naming each other."""
    verdicts = list(found)
    for i, a in enumerate(verdicts):
        for j, b in enumerate(verdicts):
            if i >= j:
                continue
            pairs = [(x, y) for x in a.claims for y in b.claims if conflict(x, y)]
            for x, y in pairs:
                if x.inferred and not y.inferred:
                    verdicts[i] = _yield(verdicts[i], x, b, y)
                elif y.inferred and not x.inferred:
                    verdicts[j] = _yield(verdicts[j], y, a, x)
                else:
                    verdicts[i], verdicts[j] = _yield(verdicts[i], x, b, y), _yield(verdicts[j], y, a, x)
    return verdicts


def _yield(verdict: Verdict, claim: Claim, other: Verdict, denial: Claim) -> Verdict:
    if claim not in verdict.claims:
        return verdict
    why = (
        "but its memory does not matter at rollout" if denial.relation == IGNORED else f"but {denial}"
    ) + f" ({other.id}): the claim {claim} does not hold beside it"
    return replace(
        verdict,
        verdict=INCONCLUSIVE if verdict.verdict == SUPPORTED else verdict.verdict,
        reason=f"{verdict.reason}; {why}",
        claims=tuple(c for c in verdict.claims if c != claim),
    )


def declared(criterion: Criterion, tables: dict[str, pd.DataFrame], design: Design) -> list[Verdict]:
    """The verdicts of one declaration (`wmvla.design.VERDICTS`): its function once, or once per arm of its
    role or per perturbation evaluated, each with the declared unit and method."""
    module, name = criterion.function.rsplit(".", 1)
    function = getattr(importlib.import_module(module), name)
    if not criterion.each:
        found = [function(tables, design)]
    else:
        perturbed = criterion.each == PERTURBATION
        each = evaluated_kinds(tables, design) if perturbed else design.arms(criterion.each)
        found = [function(tables, design, one) for one in each]
    method = criterion.method.replace(COMPARISON, comparison_method(design.settings)[1])
    return [replace(v, unit=criterion.unit, method=method) for v in found]


def verdicts(tables: dict[str, pd.DataFrame], design: Design) -> pd.DataFrame:
    """Every declared verdict, in the declarations' order (a failed V0 makes the rest not assessable)."""
    first, *rest = [v for criterion in VERDICTS for v in declared(criterion, tables, design)]
    later = consistent(rest)
    if first.verdict != SUPPORTED:
        why = f"{design.baseline} does not work here (V0): no comparison with it is evidence"
        later = [
            v if v.verdict == NOT_ASSESSABLE else replace(v, verdict=NOT_ASSESSABLE, reason=why, claims=())
            for v in later
        ]
    return pd.DataFrame([{**v.__dict__, "claims": join(v.claims)} for v in [first, *later]], columns=COLUMNS)
