"""A verdict's record, and how one comparison reads as a verdict (shared by every criterion of
`wmvla.analysis.verdicts` and `wmvla.analysis.arm_verdicts`).

A comparison *helps* where its family-adjusted test rejects in the arm's favour, *harms* where it rejects the
other way; if it does neither, the verdict is inconclusive and says whether every suite is within the margin
or which suites are too uncertain, with what each test could detect and the seeds a target difference needs.
Each reading carries its claims (`wmvla.analysis.claims`), from which the report's consistency is decided.
"""

from dataclasses import dataclass

import pandas as pd

from wmvla.analysis.claims import Claim
from wmvla.analysis.comparisons import OVERALL_SHARE
from wmvla.analysis.effects import RUN_METHOD, RUN_UNIT, weights_text
from wmvla.analysis.evidence import Evidence
from wmvla.design import Design, Settings

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_ASSESSABLE = (
    "supported",
    "contradicted",
    "inconclusive",
    "not assessable",
)
PAIRED_TEST = (
    "per pair of training runs (suite, seed) the paired difference of success on identical episodes; a "
    "t-test per suite and overall (the fixed-weight average of the suites), weighted Holm over every test of "
    "{family}; equivalence: TOST within ±{margin} in every suite, and no scope different even unadjusted"
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
    claims: tuple[Claim, ...] = ()  # what it asserts, read from the tables' typed findings


def comparison_method(settings: Settings) -> tuple[str, str]:
    """The unit and method of every verdict that compares arms, with the study's suite weights."""
    return (
        RUN_UNIT,
        RUN_METHOD.format(weights=weights_text(settings.suite_weights))
        + f"; one family, one error budget: Holm's step-down with weights over every arm × scope test of a "
        f"family, {OVERALL_SHARE:.0%} of α to the arms' overall tests and {1 - OVERALL_SHARE:.0%} to their "
        "suites; TOST for equivalence in every suite, claimed only where no scope differs, even unadjusted",
    )


def paired_test(settings: Settings, family: str) -> str:
    return PAIRED_TEST.format(margin=settings.equivalence_margin, family=family)


def undecided(evidence: Evidence, settings: Settings) -> str:
    """Why nothing was shown either way: equivalence in every suite, or the suites too uncertain to say — and
    what the tests could detect."""
    power = evidence.power(settings.alpha, settings.power)
    if evidence.equivalent_everywhere(settings.alpha):
        return (
            f"no difference beyond ±{settings.equivalence_margin} in any suite (TOST, α = {settings.alpha}: "
            f"every {1 - 2 * settings.alpha:.0%} interval inside): any effect is smaller than the margin; "
            f"{power}"
        )
    return (
        f"neither different nor equivalent within ±{settings.equivalence_margin}: too uncertain in "
        f"{evidence.too_uncertain(settings.alpha)}; {power}"
    )


def helps(evidence: Evidence, design: Design, what: str) -> tuple[str, str, tuple[Claim, ...]]:
    """Verdict, reason and claims for "the arm beats its reference", read in every scope."""
    s = design.settings
    if not evidence.assessable:
        return NOT_ASSESSABLE, f"{what}: {ONE_RUN}", ()
    higher, lower = evidence.differs(s.alpha, 1), evidence.differs(s.alpha, -1)
    claims = evidence.claims(s.alpha)
    if higher and lower:
        return (
            INCONCLUSIVE,
            f"{what}: mixed — higher success {evidence.where(higher)}, lower {evidence.where(lower)}",
            claims,
        )
    if higher:
        return (
            SUPPORTED,
            f"{what}: higher success over training runs {evidence.where(higher)} (α = {s.alpha})",
            claims,
        )
    if lower:
        return (
            CONTRADICTED,
            f"{what}: lower success over training runs {evidence.where(lower)} (α = {s.alpha})",
            claims,
        )
    return INCONCLUSIVE, f"{what}: {undecided(evidence, s)}", claims


def missing(vid: str, question: str, test: str, what: str) -> Verdict:
    return Verdict(vid, question, test, "—", NOT_ASSESSABLE, f"not run: {what}")


def training_rows(training: pd.DataFrame, exp: str | None, metric: str) -> pd.DataFrame:
    """One arm's summary rows of one training metric (empty if it has none)."""
    if training.empty:
        return training
    return training[(training["exp"] == exp) & (training["metric"] == metric)]
