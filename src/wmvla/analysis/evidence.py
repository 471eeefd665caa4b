"""One comparison of two arms as the tables give it, read in every scope: overall (the suite-stratified test)
and each suite — where it differs, whether it is equivalent everywhere, which suites carry an overall finding,
and its numbers as a verdict states them (`wmvla.analysis.verdicts` decides what they mean)."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

MORE_SEEDS = "adding seeds to the config's `seeds:` plans only the new runs"
OVERALL = "overall"


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
    def assessable(self) -> bool:
        return not pd.isna(self.overall["p_runs"])

    def _scopes(self) -> list[tuple[str, pd.Series]]:
        several = len(self.suites) > 1 or self.suites[0]["scope"] != OVERALL
        return [(OVERALL if several else self.overall["suite"], self.overall)] + (
            [(r["suite"], r) for r in self.suites] if several else []
        )

    def differs(self, alpha: float, sign: int) -> list[str]:
        """The scopes where the arm is significantly higher (`sign` 1) or lower (−1) than its reference."""
        return [name for name, r in self._scopes() if r["p_adj"] < alpha and np.sign(r["diff"]) == sign]

    def equivalent_everywhere(self, alpha: float) -> bool:
        return all(r["p_tost"] < alpha for r in self.suites)

    def too_uncertain(self, alpha: float) -> str:
        """The suites whose 90% interval reaches beyond the margin, with that interval."""
        return ", ".join(
            f"{r['suite']} (Δ {r['diff']:+.3f}, TOST p {r['p_tost']:.2g})"
            for r in self.suites
            if r["p_tost"] >= alpha
        )

    def where(self, scopes: list[str]) -> str:
        """Scopes as a reader reads them, each with its difference and adjusted p; an overall finding that no
        suite shows alone names the suites that drive it."""
        rows = dict(self._scopes())
        text = ", ".join(
            f"{'overall' if name == OVERALL else 'in ' + name} (Δ {rows[name]['diff']:+.3f}, adjusted p "
            f"{rows[name]['p_adj']:.2g})"
            for name in scopes
        )
        if scopes == [OVERALL]:
            text += f", driven by {self.drivers()}"
        return text

    def drivers(self) -> str:
        """The suites that carry the overall estimate: each contributing at least a quarter of it (its weight
        times its difference, in the same direction), the largest first."""
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


def estimable(row: pd.Series) -> bool:
    return not pd.isna(row["p_runs"])


def fmt(value: float, spec: str = ".3f", missing: str = "n/a") -> str:
    return missing if pd.isna(value) else format(value, spec)


def comparison_numbers(row: pd.Series) -> str:
    arm, ref = row["exp"] if row["mode"] == "pred" else f"{row['exp']}/{row['mode']}", row["ref_exp"]
    if row["ref_mode"] != "pred":
        ref = f"{ref}/{row['ref_mode']}"
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
        f"run pairs, between-run sd of Δ {fmt(row['between_run_sd'])}; p = {row['p_runs']:.3g}, "
        f"adjusted p = {row['p_adj']:.3g}; TOST p = {row['p_tost']:.3g}; "
        f"P({arm} > {ref}) = {fmt(row['p_improvement'], '.2f')}; detectable |Δ| ≥ {fmt(row['mde'])}; "
        f"{episodes}"
    )


def power(row: pd.Series) -> str:
    """What the runs could have detected, and the seeds a target difference would need."""
    seeds = row.get("seeds_needed")
    needed = (
        f"; {int(seeds)} seeds per suite would detect {row['target_difference']:.3f} at the observed "
        f"between-run variance ({MORE_SEEDS})"
        if not pd.isna(seeds)
        else ""
    )
    return (
        f"these runs could detect differences of {fmt(row['mde'], '.3f', 'an unknown size')} or more{needed}"
    )
