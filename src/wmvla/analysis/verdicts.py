"""What the evidence says: one verdict per criterion of the seed notes, from the study's tables.

Each criterion (DESIGN.md §8, the notes' "what counts as evidence") gets a row: the question, the unit of
replication and the method of its test, the numbers, a verdict — supported, contradicted, inconclusive, or
not assessable — and a one-line reason. The order matters: if the baseline does not work (V0), no comparison
with it means anything, and every other verdict is "not assessable". An arm "helps" when its run-level test
(the training run the unit, `wmvla.analysis.stats`), Holm-adjusted within its family, rejects in its favour,
and is contradicted when it rejects the other way; otherwise the verdict is inconclusive, and the reason says
whether TOST shows the arms equivalent within the margin, the smallest difference the study's runs could have
detected, and how many seeds per suite would detect `analysis.target_difference`. A study with one training
run per suite and arm gets no comparison verdict: the between-run variance is not estimable.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from wmvla.analysis.design import Design
from wmvla.analysis.stats import RUN_METHOD, RUN_UNIT

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_ASSESSABLE = (
    "supported",
    "contradicted",
    "inconclusive",
    "not assessable",
)
COLUMNS = ["id", "question", "unit", "method", "test", "numbers", "verdict", "reason"]
PAIRED_TEST = (
    "per pair of training runs (suite, seed) the paired difference of success on identical episodes; "
    "their random-effects mean with a t-test, Holm-adjusted within its family; TOST for equivalence "
    "within ±{margin}"
)
ONE_RUN = (
    "one training run per suite and arm: the between-run variance cannot be estimated, so nothing can be "
    "said of the method (two training runs could differ as much by chance); run at least 2 seeds per suite "
    "(config `seeds:`; only the new runs are planned)"
)
MORE_SEEDS = "adding seeds to the config's `seeds:` plans only the new runs"


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


COMPARISON = (RUN_UNIT, RUN_METHOD + "; Holm within its family; TOST for equivalence")
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
}


def _pooled(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows pooled over suites (`all`), or the only suite's when the study has one."""
    if frame.empty:
        return frame
    return frame[frame["suite"] == "all"] if (frame["suite"] == "all").any() else frame


def _row(frame: pd.DataFrame, **where) -> pd.Series | None:
    rows = _pooled(frame)
    for key, value in where.items():
        if rows.empty:
            return None
        rows = rows[rows[key] == value]
    return None if rows.empty else rows.iloc[0]


def _estimable(row: pd.Series) -> bool:
    return not pd.isna(row["p_runs"])


def _fmt(value: float, spec: str = ".3f", missing: str = "n/a") -> str:
    return missing if pd.isna(value) else format(value, spec)


def _comparison_numbers(row: pd.Series) -> str:
    arm, ref = row["exp"] if row["mode"] == "pred" else f"{row['exp']}/{row['mode']}", row["ref_exp"]
    if row["ref_mode"] != "pred":
        ref = f"{ref}/{row['ref_mode']}"
    episodes = (
        f"{int(row['n_pairs'])} paired episodes; these checkpoints: McNemar p = {row['p_mcnemar']:.3g} "
        "(descriptive)"
    )
    if not _estimable(row):
        return (
            f"SR {arm} {row['sr_arm']:.3f} vs {ref} {row['sr_ref']:.3f}: Δ {row['diff']:+.3f} over "
            f"{int(row['n_runs'])} run pair(s), {int(row['min_seeds'])} per suite; {episodes}"
        )
    return (
        f"SR {arm} {row['sr_arm']:.3f} vs {ref} {row['sr_ref']:.3f}: Δ {row['diff']:+.3f} "
        f"(95% CI [{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}]) over {int(row['n_runs'])} "
        f"run pairs, between-run sd of Δ {_fmt(row['between_run_sd'])}; p = {row['p_runs']:.3g}, Holm p = "
        f"{row['p_holm']:.3g}; TOST p = {row['p_tost']:.3g}; "
        f"P({arm} > {ref}) = {_fmt(row['p_improvement'], '.2f')}; detectable |Δ| ≥ {_fmt(row['mde'])}; "
        f"{episodes}"
    )


def _power(row: pd.Series) -> str:
    """What the runs could have detected, and the seeds a target difference would need."""
    seeds = row.get("seeds_needed")
    needed = (
        f"; {int(seeds)} seeds per suite would detect {row['target_difference']:.3f} at the observed "
        f"between-run variance ({MORE_SEEDS})"
        if not pd.isna(seeds)
        else ""
    )
    return (
        f"these runs could detect differences of {_fmt(row['mde'], '.3f', 'an unknown size')} or more{needed}"
    )


def _helps(row: pd.Series, design: Design, what: str) -> tuple[str, str]:
    """Verdict and reason for "the arm beats its reference" on one comparison row."""
    s = design.settings
    if not _estimable(row):
        return NOT_ASSESSABLE, f"{what}: {ONE_RUN}"
    significant = row["p_holm"] < s.alpha
    if significant and row["diff"] > 0:
        return SUPPORTED, f"{what}: higher success over training runs, significant after Holm (α = {s.alpha})"
    if significant and row["diff"] < 0:
        return (
            CONTRADICTED,
            f"{what}: lower success over training runs, significant after Holm (α = {s.alpha})",
        )
    if row["p_tost"] < s.alpha:
        return INCONCLUSIVE, (
            f"no difference beyond ±{s.equivalence_margin} (equivalent by TOST, α = {s.alpha}): any effect "
            f"is smaller than the margin; {_power(row)}"
        )
    return INCONCLUSIVE, (f"neither different nor equivalent within ±{s.equivalence_margin}; {_power(row)}")


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
    row = _row(tables["paired"], exp=design.capacity, mode="pred")
    if design.capacity is None or row is None:
        return _missing("V1", question, test, "the study has no capacity control (E1)")
    numbers = _comparison_numbers(row)
    if not _estimable(row):
        return Verdict("V1", question, test, numbers, NOT_ASSESSABLE, ONE_RUN)
    if row["p_holm"] < s.alpha:
        effect = "a capacity effect: extra parameters help" if row["diff"] > 0 else "the branch harms"
        return Verdict("V1", question, test, numbers, CONTRADICTED, f"{design.capacity} differs: {effect}")
    if row["p_tost"] < s.alpha:
        return Verdict("V1", question, test, numbers, SUPPORTED, f"equivalent within ±{s.equivalence_margin}")
    reason = f"neither equivalent within ±{s.equivalence_margin} nor different; {_power(row)}"
    return Verdict("V1", question, test, numbers, INCONCLUSIVE, reason)


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
    s = design.settings
    question = f"V4 — Does {design.world} (predicted futures) beat {design.baseline}?"
    test = PAIRED_TEST.format(margin=s.equivalence_margin) + f"; then {design.world} vs {design.capacity}"
    row = _row(tables["paired"], exp=design.world, mode="pred")
    if design.world is None or row is None:
        return _missing("V4", question, test, "the study has no world arm (E2)")
    numbers = _comparison_numbers(row)
    verdict, reason = _helps(row, design, f"{design.world} vs {design.baseline}")
    control = _row(tables["vs_world"], exp=design.world, ref_exp=design.capacity) if design.capacity else None
    if verdict == SUPPORTED and control is not None:
        numbers += f" || {_comparison_numbers(control)}"
        if not (control["p_holm"] < s.alpha and control["diff"] > 0):
            reason = (
                f"confounded by capacity: {design.world} does not beat {design.capacity} (the branch without "
                "scene information) over training runs"
            )
            return Verdict("V4", question, test, numbers, INCONCLUSIVE, reason)
    return Verdict("V4", question, test, numbers, verdict, reason)


def rollout_ablations_hurt(tables: dict[str, pd.DataFrame], design: Design) -> Verdict:
    s = design.settings
    question = f"V5 — Does zeroing or randomising {design.world}'s memory at rollout lower its success?"
    test = PAIRED_TEST.format(margin=s.equivalence_margin).replace(
        "its family", "the rollout-ablation family"
    )
    ablations = _pooled(tables["ablations"])
    rows = ablations[ablations["exp"] == design.world] if not ablations.empty else ablations
    if design.world is None or rows.empty:
        return _missing("V5", question, test, "no rollout ablation of the world arm (zero/random memory)")
    numbers = " || ".join(_comparison_numbers(r) for _, r in rows.iterrows())
    if not rows.apply(_estimable, axis=1).all():
        return Verdict("V5", question, test, numbers, NOT_ASSESSABLE, ONE_RUN)
    lower = rows[(rows["p_holm"] < s.alpha) & (rows["diff"] < 0)]
    higher = rows[(rows["p_holm"] < s.alpha) & (rows["diff"] > 0)]
    if len(higher):
        return Verdict("V5", question, test, numbers, CONTRADICTED, "an ablated memory does better")
    if len(lower) == len(rows):
        return Verdict(
            "V5", question, test, numbers, SUPPORTED, "every ablation lowers success: the memory is used"
        )
    if (rows["p_tost"] < s.alpha).all():
        return Verdict(
            "V5", question, test, numbers, CONTRADICTED, "no ablation matters: the policy ignores its memory"
        )
    return Verdict(
        "V5", question, test, numbers, INCONCLUSIVE, "some ablations lower success, or none clearly"
    )


def arm_vs_world(tables: dict[str, pd.DataFrame], design: Design, exp: str, vid: str, what: str) -> Verdict:
    s = design.settings
    question = f"{vid} — Does {exp} ({what}) beat {design.world}?"
    test = PAIRED_TEST.format(margin=s.equivalence_margin).replace(
        "its family", f"the vs-{design.world} family"
    )
    row = _row(tables["vs_world"], exp=exp, ref_exp=design.world)
    if row is None:
        return _missing(vid, question, test, f"{exp} or {design.world} has no evaluation")
    verdict, reason = _helps(row, design, f"{exp} vs {design.world}")
    return Verdict(vid, question, test, _comparison_numbers(row), verdict, reason)


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
    row = _row(tables["paired"], exp=exp, mode="pred")
    if base.verdict == NOT_ASSESSABLE or row is None:
        return base
    against_baseline = _helps(row, design, f"{exp} vs {design.baseline}")[1]
    return replace(
        base,
        test=base.test + f"; and {exp} vs {design.baseline} in the baseline family",
        numbers=f"{base.numbers} || {_comparison_numbers(row)}",
        reason=f"{base.reason}; against {design.baseline}: {against_baseline}",
    )


def verdicts(tables: dict[str, pd.DataFrame], design: Design) -> pd.DataFrame:
    """Every criterion's verdict, in the notes' order (a failed V0 makes the rest not assessable)."""
    rows = [baseline_works(tables, design)]
    later = [
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
    ]
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
