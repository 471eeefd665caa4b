"""The verdicts keep their promises on planted studies (tests/planted.py): in the project's result format,
through the project's tables and verdicts, with seed-to-seed variance between training runs and suites at
different success levels. Where nothing is planted, each of V1, V4 and V5 claims something false in at most
5% of studies; a +3-point effect of E2's memory in every suite is found in at least 80%; a +10-point effect on
libero_10 alone in at least 70%, with the suite named, and never read as "the policy ignores its memory"; no
report's verdicts contradict each other. The rates are printed."""

import pytest

from .planted import CEILING_LEVELS, PlantedStudy, everywhere, many_verdicts, study_pool, study_verdicts

STUDIES = 120  # per case: 5% of it is 6 false verdicts


@pytest.fixture(scope="module")
def pool():
    with study_pool() as workers:
        yield workers


def _false(found: dict[str, tuple[str, str]]) -> set[str]:
    """The verdicts that claim something false when nothing is planted: V1 that E1 differs from E0, V4 any
    difference of E2 from E0, V5 that an ablated memory changes success."""
    wrong = set()
    if found["V1"][0] == "contradicted":
        wrong.add("V1")
    if found["V4"][0] in ("supported", "contradicted"):
        wrong.add("V4")
    if found["V5"][0] == "supported" or "does better" in found["V5"][1]:
        wrong.add("V5")
    return wrong


def contradictions(found: dict[str, tuple[str, str]]) -> list[str]:
    """Pairs of verdicts of one report that cannot both hold."""
    pairs = []
    if found["V4"][0] == "supported" and "ignores its memory" in found["V5"][1]:
        pairs.append("V4 'E2 beats E0' beside V5 'the policy ignores its memory'")
    if found["V1"][0] == "supported" and "confounded by capacity" in found["V4"][1]:
        pairs.append("V1 'E1 equivalent to E0' beside V4 'confounded by capacity'")
    return pairs


def _print(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


@pytest.mark.parametrize("run_sd", [0.1, 0.2])
def test_null_studies_give_at_most_5_percent_false_verdicts(pool, tmp_path, capsys, run_sd):
    study = PlantedStudy(run_sd=run_sd, levels=CEILING_LEVELS)  # libero_object at 99%
    found = many_verdicts(pool, study, tmp_path, STUDIES, seed=int(run_sd * 1000))
    counts = {vid: sum(vid in _false(f) for f in found) for vid in ("V1", "V4", "V5")}
    rates = ", ".join(f"{vid} {n}/{STUDIES}" for vid, n in counts.items())
    _print(capsys, f"null studies, run logit sd {run_sd}, one suite at 99%: false verdicts {rates}")
    assert all(f["V0"][0] == "supported" for f in found)
    assert all(n <= 0.05 * STUDIES for n in counts.values()), counts
    assert not [c for f in found for c in contradictions(f)]


def test_memory_worth_3_points_in_every_suite_is_found_in_80_percent(pool, tmp_path, capsys):
    study = PlantedStudy(
        run_sd=0.1, effect={("E2", "pred"): everywhere(0.03)}
    )  # E2 zero/random at E0's level
    found = many_verdicts(pool, study, tmp_path, STUDIES, seed=3)
    supported = sum(f["V4"][0] == "supported" for f in found)
    _print(capsys, f"+3 points on E2 in every suite: V4 supported in {supported}/{STUDIES}")
    assert supported >= 0.8 * STUDIES, [f["V4"] for f in found if f["V4"][0] != "supported"][:3]
    assert not [c for f in found for c in contradictions(f)]


def test_10_points_on_libero_10_alone_are_found_there_and_never_read_as_an_ignored_memory(
    pool, tmp_path, capsys
):
    study = PlantedStudy(run_sd=0.1, effect={("E2", "pred"): {"libero_10": 0.10}})
    found = many_verdicts(pool, study, tmp_path, STUDIES, seed=10)
    supported = [f for f in found if f["V4"][0] == "supported"]
    named = sum("in libero_10" in f["V4"][1] for f in supported)
    ignored = sum("ignores its memory" in f["V5"][1] for f in found)
    _print(
        capsys,
        f"+10 points on E2 in libero_10 only: V4 supported in {len(supported)}/{STUDIES} (libero_10 named in "
        f"{named}); V5 'the policy ignores its memory' in {ignored}/{STUDIES}",
    )
    assert len(supported) >= 0.7 * STUDIES and named == len(supported)
    assert ignored <= 0.05 * STUDIES
    assert not [c for f in found for c in contradictions(f)]


def test_one_seed_per_suite_gets_no_comparison_verdict(tmp_path):
    found = study_verdicts(PlantedStudy(seeds=1), tmp_path, seed=0)
    for vid in ("V1", "V4", "V5"):
        assert found[vid][0] == "not assessable" and "one training run per suite" in found[vid][1], found[vid]
