"""The verdicts keep their promises on planted studies that break the model's assumptions, with the full
study's own design (its 16 arms, their roles and families, 4 suites × 3 seeds × 10 tasks × 50 init states),
through the project's tables and verdicts (tests/planted.py, `wmvla.analysis.planted`). Each training run has
its own logit offset (sd σ = 0.1 unless said) and one per run and task (sd 2σ).

- Nothing planted, one suite at 99%, and again with libero_10's runs 4× noisier (240 studies each): V1, V4
  and V5 each claim something false in at most 5% of studies (Clopper–Pearson upper 95% bound ≤ 8%); the 13
  arms compared with E2 form one family held at α = 5%: its rate of studies with any false claim is
  consistent with at most 5% (one-sided binomial test).
- +3 points on E2 in every suite: V4 supported in ≥ 60%; +10 points on libero_10 alone: supported in ≥ 70%,
  naming libero_10.
- Zeroed memory costing 1.5 points in one suite (a small, precise effect): V5 never says the memory is
  ignored.
  E1 +9 points (and E2 +10) on libero_10: V4 never says E1 does not beat E0 there, nor credits E2 there.
- No two verdicts of any report contradict each other: every pair of claims is checked against a table of
  incompatible relations kept here, and every claim against the tables it was read from.
The rates are printed.
"""

import pytest
from scipy.stats import binomtest

from wmvla.analysis.claims import Claim, split
from wmvla.analysis.planted import CEILING_LEVELS, PlantedStudy, everywhere

from .planted import Report, full_design, many_reports, study_pool, study_report

STUDIES = 120  # per case: 5% of it is 6 false verdicts
NULL_STUDIES = 240  # the null cases: false-claim rates near 1-2% need this many to show them below 5%
ALPHA = 0.05
VS_WORLD = ("V6", "V7", "V8", "V9")
# relations that cannot hold of one subject in overlapping scopes (written here, not imported: the test's own)
INCOMPATIBLE = [
    {"higher", "lower"},
    {"higher", "equivalent"},
    {"lower", "equivalent"},
    {"higher", "not shown higher"},
    {"matters", "ignored"},
]


@pytest.fixture(scope="module")
def pool():
    with study_pool() as workers:
        yield workers


@pytest.fixture(scope="module")
def full():
    return full_design()


def _print(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


def _upper(count: int, n: int) -> float:
    """The Clopper–Pearson upper bound of a rate (95%, scipy)."""
    return binomtest(count, n).proportion_ci(0.95, method="exact").high


def contradictions(report: Report) -> list[str]:
    """Every pair of claims of two different verdicts that cannot both hold."""
    claims = [(row.id, c) for row in report.verdicts.itertuples() for c in split(row.claims)]
    found = []
    for i, (vid_a, a) in enumerate(claims):
        for vid_b, b in claims[i + 1 :]:
            overlap = a.scope == b.scope or "every scope" in (a.scope, b.scope)
            if (
                vid_a != vid_b
                and a.subject == b.subject
                and overlap
                and {a.relation, b.relation} in INCOMPATIBLE
            ):
                found.append(f"{vid_a} '{a}' vs {vid_b} '{b}'")
    return found


def misread(report: Report) -> list[str]:
    """Claims about a comparison that its rows in the tables do not show."""
    rows = report.comparisons
    wrong = []
    for row in report.verdicts.itertuples():
        for claim in split(row.claims):
            if claim.subject.startswith("memory of "):
                if not claim.inferred and not _memory_holds(claim, rows):
                    wrong.append(f"{row.id}: {claim}")
                continue
            arm, ref = claim.subject.split(" vs ")
            (exp, _, mode), (ref_exp, _, ref_mode) = arm.partition("/"), ref.partition("/")
            these = rows[
                (rows["exp"] == exp)
                & (rows["mode"] == (mode or "pred"))
                & (rows["ref_exp"] == ref_exp)
                & (rows["ref_mode"] == (ref_mode or "pred"))
            ]
            if not _holds(claim, these):
                wrong.append(f"{row.id}: {claim}")
    return wrong


def _memory_holds(claim, rows) -> bool:
    """matters: an ablation of the arm differs (adjusted) in the scope; ignored: every ablation equivalent in
    every scope."""
    exp = claim.subject.removeprefix("memory of ")
    ablations = rows[(rows["exp"] == exp) & (rows["ref_exp"] == exp) & (rows["mode"] != rows["ref_mode"])]
    if claim.relation == "ignored":
        return all(
            _holds(Claim(f"{exp}/{mode} vs {exp}", "every scope", "equivalent"), these)
            for mode, these in ablations.groupby("mode")
        )
    scoped = ablations[ablations["scope"].eq(claim.scope) | ablations["suite"].eq(claim.scope)]
    return bool((scoped["p_adj"] < ALPHA).any())


def _holds(claim, rows) -> bool:
    """higher/lower: the family-adjusted p < α in that direction in the scope; not shown higher: not so;
    equivalent: every suite's TOST < α and no test of the scope below α, not even unadjusted."""
    scoped = (
        rows
        if claim.scope == "every scope"
        else rows[rows["scope"].eq(claim.scope) | rows["suite"].eq(claim.scope)]
    )
    if scoped.empty:
        return False
    up = ((scoped["p_adj"] < ALPHA) & (scoped["diff"] > 0)).any()
    down = ((scoped["p_adj"] < ALPHA) & (scoped["diff"] < 0)).any()
    suites = scoped[scoped["scope"] == "suite"] if (scoped["scope"] == "suite").any() else scoped
    equivalent = not (scoped["p_runs"] < ALPHA).any() and (suites["p_tost"] < ALPHA).all()
    return {"higher": up, "lower": down, "not shown higher": not up, "equivalent": equivalent}[claim.relation]


def _consistent(reports: list[Report]) -> None:
    assert not [c for r in reports for c in contradictions(r)]
    assert not [m for r in reports for m in misread(r)]


def _false(report: Report) -> set[str]:
    """Where nothing is planted every difference claimed is false, whatever the verdict's label: V1, V4 (E2 vs
    E0, E1 vs E0, E2 vs E1), V5 (the ablations); "vs E2": any claim of the one family of the 13 arms compared
    with E2 (V6–V9); "any": any claim of a difference in the whole report."""
    wrong = set()
    for row in report.verdicts.itertuples():
        differs = [c for c in split(row.claims) if c.relation in ("higher", "lower")]
        if differs and row.id in ("V1", "V4", "V5"):
            wrong.add(row.id)
        if any(c.subject.endswith(" vs E2") and row.id[:2] in VS_WORLD for c in differs):
            wrong.add("vs E2")
        if differs:
            wrong.add("any")
    return wrong


@pytest.mark.parametrize(("case", "suite_sd"), [("σ 0.1", {}), ("libero_10 σ 0.4", {"libero_10": 0.4})])
def test_null_studies_give_at_most_5_percent_false_claims_per_verdict_and_per_family(
    pool, full, tmp_path, capsys, case, suite_sd
):
    design, arms = full
    study = PlantedStudy(arms=arms, levels=CEILING_LEVELS, suite_run_sd=suite_sd)  # libero_object at 99%
    reports = many_reports(pool, study, design, NULL_STUDIES, seed=len(case))
    counts = {what: sum(what in _false(r) for r in reports) for what in ("V1", "V4", "V5", "vs E2", "any")}
    rates = ", ".join(f"{w} {n}/{NULL_STUDIES} (≤ {_upper(n, NULL_STUDIES):.1%})" for w, n in counts.items())
    _print(capsys, f"null studies ({case}, libero_object at 99%): false claims {rates}")
    assert all(r.verdict("V0") == "supported" for r in reports)
    verdicts = [counts[vid] for vid in ("V1", "V4", "V5")]
    assert all(n <= 0.05 * NULL_STUDIES and _upper(n, NULL_STUDIES) <= 0.08 for n in verdicts), counts
    # the family of 13 arms is held at α = 5% by construction (Holm): its rate sits near 5% (25/480 measured),
    # so the check is that the rate is consistent with at most 5% (one-sided binomial test)
    assert binomtest(counts["vs E2"], NULL_STUDIES, ALPHA, alternative="greater").pvalue > ALPHA, counts
    _consistent(reports)


def test_memory_worth_3_points_in_every_suite_is_found_in_60_percent(pool, full, capsys):
    design, arms = full
    study = PlantedStudy(arms=arms, effect={("E2", "pred"): everywhere(0.03)})  # E2 zero/random at E0's level
    reports = many_reports(pool, study, design, STUDIES, seed=3)
    supported = sum(r.verdict("V4") == "supported" for r in reports)
    _print(capsys, f"+3 points on E2 in every suite: V4 supported in {supported}/{STUDIES}")
    assert supported >= 0.6 * STUDIES, [r.reason("V4") for r in reports if r.verdict("V4") != "supported"][:3]
    _consistent(reports)


def test_10_points_on_libero_10_alone_are_found_there(pool, full, capsys):
    design, arms = full
    study = PlantedStudy(arms=arms, effect={("E2", "pred"): {"libero_10": 0.10}})
    reports = many_reports(pool, study, design, STUDIES, seed=10)
    named = sum(r.verdict("V4") == "supported" and "in libero_10" in r.reason("V4") for r in reports)
    _print(capsys, f"+10 points on E2 in libero_10 only: V4 supported naming libero_10 in {named}/{STUDIES}")
    assert named >= 0.7 * STUDIES
    _consistent(reports)


def test_a_small_precise_cost_of_zeroed_memory_is_never_read_as_an_ignored_memory(pool, full, capsys):
    design, arms = full
    study = PlantedStudy(arms=arms, effect={("E2", "zero"): {"libero_spatial": -0.015}})
    reports = many_reports(pool, study, design, STUDIES, seed=15)
    ignored = sum("ignores its memory" in r.reason("V5") for r in reports)
    found = sum("E2/zero vs E2 @" in r.verdicts.set_index("id").loc["V5", "claims"] for r in reports)
    _print(
        capsys,
        f"zeroed memory −1.5 points on libero_spatial: V5 'ignores its memory' in {ignored}/{STUDIES}, the "
        f"cost found (overall or in a suite) in {found}/{STUDIES}",
    )
    assert ignored == 0
    _consistent(reports)


def test_a_capacity_effect_in_one_suite_is_never_read_as_none(pool, full, capsys):
    design, arms = full
    effect = {("E1", "pred"): {"libero_10": 0.09}, ("E2", "pred"): {"libero_10": 0.10}}
    reports = many_reports(pool, PlantedStudy(arms=arms, effect=effect), design, STUDIES, seed=9)
    denied, credited = 0, 0
    for r in reports:
        claims = split(r.verdicts.set_index("id").loc["V4", "claims"])
        denied += any(c.subject == "E1 vs E0" and c.scope in ("libero_10", "every scope")
                      and c.relation in ("equivalent", "not shown higher") for c in claims)  # fmt: skip
        credited += (
            r.verdict("V4") == "supported"
            and any(c.subject == "memory of E2" and c.scope == "libero_10" for c in claims)
            and not any(
                c.subject == "E2 vs E1" and c.scope == "libero_10" and c.relation == "higher" for c in claims
            )
        )
    _print(
        capsys,
        f"E1 +9 and E2 +10 points on libero_10: V4 denies E1's gain there in {denied}/{STUDIES}, credits "
        f"E2's gain there to the world without beating E1 in {credited}/{STUDIES}; V1 contradicted in "
        f"{sum(r.verdict('V1') == 'contradicted' for r in reports)}/{STUDIES}",
    )
    assert denied == 0 and credited == 0
    _consistent(reports)


def test_an_arm_whose_runs_vary_more_than_the_others_is_measured_and_never_contradicts(pool, full, capsys):
    """The one assumption left: in a suite, the arms' runs vary alike. Where E2's runs vary 4× more than the
    others' in libero_10, what the verdicts then claim falsely is measured and printed (README), and the
    reports still never contradict themselves."""
    design, arms = full
    study = PlantedStudy(arms=arms, levels=CEILING_LEVELS, arm_run_sd={("E2", "libero_10"): 0.4})
    reports = many_reports(pool, study, design, STUDIES, seed=4)
    counts = {what: sum(what in _false(r) for r in reports) for what in ("V4", "V5", "vs E2")}
    rates = ", ".join(f"{w} {n}/{STUDIES}" for w, n in counts.items())
    _print(
        capsys, f"null studies, E2's runs 4× noisier on libero_10 (assumption broken): false claims {rates}"
    )
    _consistent(reports)


def test_one_seed_per_suite_gets_no_comparison_verdict():
    from wmvla.design import Design

    design = Design(baseline="E0", capacity="E1", world="E2")
    arms = {"E0": ("pred",), "E1": ("pred",), "E2": ("pred", "zero", "random")}
    report = study_report(PlantedStudy(arms=arms, seeds=1), design, seed=0)
    for vid in ("V1", "V4", "V5"):
        assert report.verdict(vid) == "not assessable" and "one training run per suite" in report.reason(vid)
