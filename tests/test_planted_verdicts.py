"""The verdicts keep their promise on planted studies with seed-to-seed variance (tests/planted.py): in the
project's result format, through the project's tables and verdicts, at most α-level false verdicts where
nothing is planted, and a planted +3-point effect of the world arm found in most studies."""

import pytest

from .planted import PlantedStudy, many_verdicts, study_pool, study_verdicts

STUDIES = 40


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


@pytest.mark.parametrize("run_sd", [0.1, 0.2])
def test_null_studies_give_at_most_alpha_false_verdicts(pool, tmp_path, capsys, run_sd):
    counts = dict.fromkeys(("V1", "V4", "V5"), 0)
    for found in many_verdicts(pool, PlantedStudy(run_sd=run_sd), tmp_path, STUDIES, seed=int(run_sd * 1000)):
        assert found["V0"][0] == "supported"
        for vid in _false(found):
            counts[vid] += 1
    with capsys.disabled():
        rates = ", ".join(f"{vid} {n}/{STUDIES}" for vid, n in counts.items())
        print(f"\nnull studies, between-run logit sd {run_sd}: false verdicts {rates}")
    assert all(n <= STUDIES // 10 for n in counts.values()), counts


def test_a_planted_world_effect_is_found_in_most_studies(pool, tmp_path, capsys):
    study = PlantedStudy(run_sd=0.1, effect={("E2", "pred"): 0.03})
    found = many_verdicts(pool, study, tmp_path, STUDIES, seed=3)
    supported = sum(f["V4"][0] == "supported" for f in found)
    with capsys.disabled():
        print(f"\n+3 points planted on E2 (between-run logit sd 0.1): V4 supported in {supported}/{STUDIES}")
    assert supported >= 0.8 * STUDIES, [f["V4"] for f in found if f["V4"][0] != "supported"][:3]
    assert all(f["V1"][0] != "contradicted" for f in found[:5])


def test_one_seed_per_suite_gets_no_comparison_verdict(tmp_path):
    found = study_verdicts(PlantedStudy(seeds=1), tmp_path, seed=0)
    for vid in ("V1", "V4", "V5"):
        assert found[vid][0] == "not assessable" and "one training run per suite" in found[vid][1], found[vid]
