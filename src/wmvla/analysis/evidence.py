"""One comparison of two arms as the tables give it, read in every scope — overall (the fixed-weight average
of the suites) and each suite — as a typed finding: higher, lower, equivalent within the margin, undecided, or
untested. `wmvla.analysis.verdicts` decides what the findings mean; the wording of numbers lives here.

A scope *differs* where its family-adjusted test rejects (`p_adj` < α). It is *equivalent* where it does not
differ and its TOST rejects (the 1 − 2α interval inside ±margin). "No difference" holds only where every suite
is equivalent and no scope — the overall included — differs.
"""

from dataclasses import dataclass

import pandas as pd

from wmvla.analysis.claims import EQUIVALENT, EVERY_SCOPE, HIGHER, LOWER, Claim

MORE_SEEDS = "adding seeds to the config's `seeds:` plans only the new runs"
OVERALL = "overall"
UNDECIDED, UNTESTED = "undecided", "untested"


@dataclass(frozen=True)
class Evidence:
    """One comparison of two arms in every scope of the tables: its overall row and each suite's row (a study
    with one suite has one row, both at once)."""

    overall: pd.Series
    suites: tuple[pd.Series, ...]

    @classmethod
    def of(cls, frame: pd.DataFrame, **where) -> "Evidence | None":
        rows = frame
        for key, value in where.items():
            if rows.empty:
                return None
            rows = rows[rows[key] == value]
        if rows.empty:
            return None
        overall = rows[rows["scope"] == OVERALL]
        suites = rows[rows["scope"] != OVERALL]
        first = overall.iloc[0]
        return cls(first, tuple(r for _, r in suites.iterrows()) or (first,))

    @property
    def subject(self) -> str:
        """The comparison as claims name it: "E2 vs E0", "E2/zero vs E2"."""
        return f"{side(self.overall['exp'], self.overall['mode'])} vs " + side(
            self.overall["ref_exp"], self.overall["ref_mode"]
        )

    @property
    def assessable(self) -> bool:
        return not pd.isna(self.overall["p_runs"])

    def scopes(self) -> list[tuple[str, pd.Series]]:
        several = len(self.suites) > 1 or self.suites[0]["scope"] != OVERALL
        return [(OVERALL if several else self.overall["suite"], self.overall)] + (
            [(r["suite"], r) for r in self.suites] if several else []
        )

    def finding(self, row: pd.Series, alpha: float) -> str:
        """Higher or lower where the family-adjusted test rejects; equivalent where the TOST rejects and not
        even the unadjusted test shows a difference (a small, precise effect within the margin is an effect,
        not its absence); else undecided."""
        if pd.isna(row["p_runs"]):
            return UNTESTED
        if row["p_adj"] < alpha:
            return HIGHER if row["diff"] > 0 else LOWER
        return EQUIVALENT if row["p_tost"] < alpha and row["p_runs"] >= alpha else UNDECIDED

    def findings(self, alpha: float) -> dict[str, str]:
        """Scope → its finding."""
        return {name: self.finding(row, alpha) for name, row in self.scopes()}

    def differs(self, alpha: float, sign: int) -> list[str]:
        """The scopes where the arm is significantly higher (`sign` 1) or lower (−1) than its reference."""
        wanted = HIGHER if sign > 0 else LOWER
        return [name for name, found in self.findings(alpha).items() if found == wanted]

    def equivalent_everywhere(self, alpha: float) -> bool:
        """Every suite within the margin (TOST) and no scope, the overall included, different — not even
        before the family's adjustment."""
        found = self.findings(alpha)
        if HIGHER in found.values() or LOWER in found.values():
            return False
        if any(row["p_runs"] < alpha for _, row in self.scopes()):
            return False
        suites = [row for _, row in self.scopes()][1:] or [self.overall]
        return all(self.finding(row, alpha) == EQUIVALENT for row in suites)

    def claims(self, alpha: float) -> tuple[Claim, ...]:
        """What this comparison shows: each scope that differs, or its equivalence in every scope."""
        if self.equivalent_everywhere(alpha):
            return (Claim(self.subject, EVERY_SCOPE, EQUIVALENT),)
        found = self.findings(alpha)
        return tuple(Claim(self.subject, s, f) for s, f in found.items() if f in (HIGHER, LOWER))

    def too_uncertain(self, alpha: float) -> str:
        """The suites neither different nor equivalent, each with the 1 − 2α interval the TOST uses (and,
        where it lies inside the margin, the unadjusted difference that stops a claim of none)."""
        level = f"{1 - 2 * alpha:.0%}"
        return ", ".join(
            f"{r['suite']} (Δ {r['diff']:+.3f}, {level} interval [{fmt(r['tost_ci_low'], '+.3f')}, "
            f"{fmt(r['tost_ci_high'], '+.3f')}]"
            + (f"; different from 0 before adjustment, p {r['p_runs']:.2g}" if r["p_runs"] < alpha else "")
            + ")"
            for name, r in self.scopes()
            if self.finding(r, alpha) == UNDECIDED and (name != OVERALL or len(self.scopes()) == 1)
        )

    def where(self, scopes: list[str]) -> str:
        """Scopes as a reader reads them, each with its difference and adjusted p; an overall finding that no
        suite shows alone names the suites that carry it."""
        rows = dict(self.scopes())
        text = ", ".join(
            f"{'overall' if name == OVERALL else 'in ' + name} (Δ {rows[name]['diff']:+.3f}, adjusted p "
            f"{rows[name]['p_adj']:.2g})"
            for name in scopes
        )
        if scopes == [OVERALL]:
            text += f", carried by {self.drivers()}"
        return text

    def drivers(self) -> str:
        """The suites that carry the overall estimate: each contributing at least a quarter of it (its fixed
        weight times its difference, in the same direction), the largest first."""
        total = self.overall["diff"]
        shares = sorted(((r["weight"] * r["diff"], r) for r in self.suites), key=lambda x: -abs(x[0]))
        named = [r for part, r in shares if total and part / total >= 0.25] or [shares[0][1]]
        return ", ".join(f"{r['suite']} (Δ {r['diff']:+.3f})" for r in named)

    def numbers(self) -> str:
        """The overall comparison, then each suite's difference with its interval."""
        text = comparison_numbers(self.overall)
        if len(self.suites) > 1 or self.suites[0]["scope"] != OVERALL:
            per_suite = "; ".join(
                f"{r['suite']} Δ {r['diff']:+.3f} [{fmt(r['diff_ci_low'], '+.3f')}, "
                f"{fmt(r['diff_ci_high'], '+.3f')}] adj p {fmt(r['p_adj'], '.2g')}"
                for r in self.suites
            )
            text += f" | by suite: {per_suite}"
        return text

    def power(self, alpha: float, power: float) -> str:
        """What the tests that settled nothing could detect, and the seeds a target difference needs — for the
        test each scope runs, at its own level and degrees of freedom."""
        open_scopes = [
            (name, r) for name, r in self.scopes() if self.finding(r, alpha) in (UNDECIDED, EQUIVALENT)
        ]
        return "; ".join(scope_power(name, r, power) for name, r in open_scopes) or "nothing left open"


def side(exp: str, mode: str) -> str:
    return exp if mode == "pred" else f"{exp}/{mode}"


def estimable(row: pd.Series) -> bool:
    return not pd.isna(row["p_runs"])


def fmt(value: float, spec: str = ".3f", missing: str = "n/a") -> str:
    return missing if pd.isna(value) else format(value, spec)


def comparison_numbers(row: pd.Series) -> str:
    arm, ref = side(row["exp"], row["mode"]), side(row["ref_exp"], row["ref_mode"])
    episodes = (
        f"{int(row['n_pairs'])} paired episodes; these checkpoints: McNemar p = {row['p_mcnemar']:.3g} "
        "(descriptive)"
    )
    if not estimable(row):
        return (
            f"SR {arm} {row['sr_arm']:.3f} vs {ref} {row['sr_ref']:.3f}: Δ {row['diff']:+.3f} over "
            f"{int(row['n_runs'])} run pair(s), {int(row['min_seeds'])} per suite; {episodes}"
        )
    return (
        f"SR {arm} {row['sr_arm']:.3f} vs {ref} {row['sr_ref']:.3f}: Δ {row['diff']:+.3f} "
        f"(95% CI [{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}]) over {int(row['n_runs'])} "
        f"run pairs, se {row['se']:.4f} on {row['df']:.0f} df; p = {row['p_runs']:.3g}, "
        f"adjusted p = {row['p_adj']:.3g}; TOST p = {row['p_tost']:.3g}; "
        f"P({arm} > {ref}) = {fmt(row['p_improvement'], '.2f')}; {episodes}"
    )


def scope_power(name: str, row: pd.Series, power: float) -> str:
    """One scope's power sentence: the smallest difference its test detects, and the seeds per suite the
    target difference needs ("already" when the seeds run suffice)."""
    where = "overall" if name == OVERALL else f"in {name}"
    if pd.isna(row["mde"]):
        return f"{where}: its power cannot be told (no between-run variance)"
    seeds, target, ran = row["seeds_needed"], row["target_difference"], int(row["min_seeds"])
    if pd.isna(seeds):
        needed = f"no study of up to 200 seeds per suite would detect {target:.3f}"
    elif seeds <= ran:
        needed = f"the {ran} seeds run already detect {target:.3f}"
    else:
        needed = f"{int(seeds)} seeds per suite would detect {target:.3f} ({MORE_SEEDS})"
    return (
        f"{where} the test detects |Δ| ≥ {row['mde']:.3f} with {power:.0%} power at its level "
        f"{row['level']:.2g} on {row['df']:.0f} df; {needed}"
    )
