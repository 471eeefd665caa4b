"""The perturbation verdicts (V10) keep their promises on planted studies (`wmvla.analysis.planted`): E0, E1
and E2 trained on 4 suites × 3 seeds, evaluated on the plain suites (10 tasks × 50 init states) and under
perturbations whose success rates leave headroom (lan at 60%, swap at 30%), or none (task: every arm at 0%,
as LIBERO-PRO's task perturbation is for published policies). A run keeps its plain offsets under
perturbation and adds its own (its robustness varies by run).

- E2 = E0 on the plain suites, +10 points under lan in every suite: V10-lan finds the interaction (supported)
  in ≥ 60% of studies, and never claims the advantage shrinks.
- Nothing planted anywhere (120 studies): the V10 verdicts claim something — a difference or an interaction,
  in any scope — in at most 5% of studies (the family is held at α = 5% by weighted Holm: checked with a
  one-sided binomial test against 5%, and the observed rate printed).
- The task perturbation at the floor: never a verdict, always named as the floor.
The rates are printed.
"""

import pytest
from scipy.stats import binomtest

from wmvla.analysis.claims import split
from wmvla.analysis.planted import SUITE_LEVELS, PlantedStudy
from wmvla.design import Design

from .planted import many_reports, study_pool

DESIGN = Design(baseline="E0", capacity="E1", world="E2")
ARMS = {"E0": ("pred",), "E1": ("pred",), "E2": ("pred",)}
LEVELS = {"lan": dict.fromkeys(SUITE_LEVELS, 0.6), "swap": dict.fromkeys(SUITE_LEVELS, 0.3)}
FLOOR = {"task": dict.fromkeys(SUITE_LEVELS, 0.0)}
STUDIES, NULL_STUDIES, ALPHA = 40, 120, 0.05


def _study(effect: dict | None = None) -> PlantedStudy:
    return PlantedStudy(
        ARMS, perturbed={**LEVELS, **FLOOR}, perturbed_arms=tuple(ARMS), perturbed_effect=effect or {}
    )


@pytest.fixture(scope="module")
def pool():
    with study_pool() as workers:
        yield workers


def _print(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


def test_an_advantage_planted_under_one_perturbation_is_found_as_an_interaction(pool, capsys):
    study = _study({("E2", "lan"): dict.fromkeys(SUITE_LEVELS, 0.10)})
    reports = many_reports(pool, study, DESIGN, STUDIES, seed=460)
    found = sum(r.verdict("V10-lan") == "supported" for r in reports)
    shrinks = sum("lan − plain" in c.subject and c.relation == "lower" for r in reports for c in _claims(r))
    _print(capsys, f"E2 +10 points under lan only: V10-lan supported in {found}/{STUDIES}")
    assert found >= 0.6 * STUDIES
    assert shrinks == 0
    for report in reports:
        assert "V10-swap" in set(report.verdicts["id"])


def test_nothing_planted_gives_no_perturbation_claim_beyond_alpha(pool, capsys):
    reports = many_reports(pool, _study(), DESIGN, NULL_STUDIES, seed=461)
    claiming = [r for r in reports if _claims(r)]
    floor = [r.reason("V10-task") for r in reports]
    _print(
        capsys,
        f"nothing planted: a V10 claim in {len(claiming)}/{NULL_STUDIES} studies "
        f"(e.g. {[str(c) for c in _claims(claiming[0])] if claiming else 'none'})",
    )
    assert binomtest(len(claiming), NULL_STUDIES, ALPHA, alternative="greater").pvalue > 0.05
    assert all(r.verdict("V10-task") == "not assessable" for r in reports)
    assert all(reason.count("floor (every arm at 0%)") == len(SUITE_LEVELS) for reason in floor)


def _claims(report) -> list:
    rows = report.verdicts[report.verdicts["id"].str.startswith("V10")]
    return [claim for text in rows["claims"] for claim in split(text)]
