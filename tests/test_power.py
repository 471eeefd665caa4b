"""`wmvla power` and its generator (`wmvla.analysis.power`), cheaply: the effect, level and sd syntax and its
one-line refusals; the full config's planted study is the one the planted-verdict tests draw (one generator);
a planted effect moves V4's supported share (a few studies of the smoke config's arms, widened to 5 tasks
× 20 episodes × 3 seeds); a claim the planted truth denies is counted false; the command prints each verdict's
shares and the cost forecast, or JSON."""

import copy
import json

import pandas as pd
import pytest

from wmvla.analysis.planted import SUITE_LEVELS, PlantedStudy, everywhere
from wmvla.analysis.power import (
    Plan,
    PowerError,
    Report,
    false_verdicts,
    parse_effect,
    parse_setting,
    planted_from_config,
    study_report,
)
from wmvla.cli import main
from wmvla.sim.perturbations import PLAIN
from wmvla.study.config import load_study_config
from wmvla.study.design import analysis_design

from .planted import REPO, full_design

FULL = REPO / "config/config.yaml"
SMOKE = REPO / "config/smoke.yaml"
TEN = dict.fromkeys(SUITE_LEVELS, 10)


@pytest.fixture(scope="module")
def full():
    return load_study_config(FULL)


@pytest.fixture(scope="module")
def smoke():
    return load_study_config(SMOKE)


def test_effects_name_an_arm_a_mode_a_suite_or_a_perturbation(full):
    every = parse_effect("E2=+0.03", full)
    assert (every.arm, every.mode, every.suites, every.kind, every.value) == (
        "E2", "pred", tuple(full["suites"]), PLAIN, 0.03
    )  # fmt: skip
    zero = parse_effect("E2/zero@libero_spatial=-0.05", full)
    assert (zero.mode, zero.suites, zero.kind, zero.value) == ("zero", ("libero_spatial",), PLAIN, -0.05)
    assert parse_effect("E2@lan=+0.1", full).kind == "lan"
    one = parse_effect("E1@libero_10_swap=0.2", full)
    assert (one.suites, one.kind, one.specific) == (("libero_10",), "swap", True)
    assert parse_setting("libero_10=0.3", full, "run sd", 5) == (("libero_10",), PLAIN, 0.3)
    assert parse_setting("0.2", full, "run sd", 5) == (tuple(full["suites"]), PLAIN, 0.2)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("E9=+0.03", "unknown arm 'E9'; the config's arms: E0, E1, E2"),
        ("E2@libero_90=+0.03", "unknown place 'libero_90'"),
        ("E2/shuffle=+0.03", "E2 is evaluated in modes pred, zero, random, not 'shuffle'"),
        ("E2/zero@lan=+0.03", "a perturbed evaluation rolls out as trained (pred) only"),
        ("F2@lan=+0.03", "F2 is not evaluated under perturbations"),
        ("E2@shake=+0.03", "unknown place 'shake'"),
        ("E2=three points", "a success-rate difference must be a number in [-1, 1]"),
        ("E2+0.03", "expected ARM[/MODE][@SUITE|KIND|SUITE_KIND]=±SR"),
    ],
)
def test_a_bad_effect_is_refused_in_one_line(full, text, said):
    with pytest.raises(PowerError) as err:
        parse_effect(text, full)
    assert said in str(err.value) and "\n" not in str(err.value)


def test_an_effect_at_a_floor_or_beyond_a_ceiling_is_refused_before_any_study(full):
    with pytest.raises(
        PowerError, match=r"libero_spatial_swap: its level is 0%.*--level libero_spatial_swap=0\.3"
    ):
        planted_from_config(full, Plan([parse_effect("E2@swap=+0.1", full)]), TEN)
    with pytest.raises(PowerError, match=r"moves its level 0\.96 out of"):
        planted_from_config(full, Plan([parse_effect("E2=+0.05", full)]), TEN)
    given = Plan([parse_effect("E2@swap=+0.1", full)], {("swap", s): 0.3 for s in full["suites"]})
    assert planted_from_config(full, given, TEN).perturbed_effect == {("E2", "swap"): everywhere(0.1)}


def test_the_full_config_plants_the_study_the_verdict_tests_draw(full):
    """One generator: `wmvla power --effect E2=+0.03` on the full config draws exactly the planted study of
    tests/test_planted_verdicts.py's +3-point case, plus the config's perturbations (drawn after it)."""
    _, arms = full_design()
    specific = [parse_effect("E2=+0.03", full), parse_effect("E2@libero_10=+0.10", full)]
    study = planted_from_config(full, Plan(specific[::-1]), TEN)
    assert study.effect == {("E2", "pred"): {**everywhere(0.03), "libero_10": 0.10}}  # the suite wins
    study = planted_from_config(full, Plan(specific[:1]), TEN)
    tests = PlantedStudy(arms=arms, effect={("E2", "pred"): everywhere(0.03)})
    same = ("arms", "levels", "run_sd", "suite_run_sd", "effect", "seeds", "init_states", "mode_redraw")
    assert all(getattr(study, f) == getattr(tests, f) for f in same)
    assert all(study.n_tasks(s) == tests.n_tasks(s) == 10 for s in SUITE_LEVELS)
    assert study.perturbed["lan"]["libero_10"] == pytest.approx(0.9 * SUITE_LEVELS["libero_10"])
    assert study.perturbed["task"] == dict.fromkeys(SUITE_LEVELS, 0.0)
    assert planted_from_config(full, Plan(), TEN, seeds=5).seeds == 5


def test_a_planted_effect_moves_the_supported_share(smoke):
    config = copy.deepcopy(smoke)
    config["eval"] |= {"n_episodes": 20, "task_ids": {"libero_spatial": list(range(5))}}
    config["perturbations"] = None
    design, levels = analysis_design(config), {(PLAIN, "libero_spatial"): 0.6}
    null = planted_from_config(config, Plan((), levels), {"libero_spatial": 5}, seeds=3)
    planted = planted_from_config(
        config, Plan([parse_effect("E2=+0.3", config)], levels), null.suite_tasks, 3
    )
    share = {
        name: sum(study_report(study, design, [7, i]).verdict("V4") == "supported" for i in range(3))
        for name, study in (("null", null), ("planted", planted))
    }
    assert share["planted"] >= 2 > share["null"], share


def test_the_command_prints_each_verdicts_shares_and_the_cost(capsys):
    argv = ["power", "--configfile", str(SMOKE), "--seeds", "2", "--studies", "1", "--workers", "1"]
    assert main([*argv, "--effect", "E2=+0.03", "--run-sd", "libero_spatial=0.3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["study"]["seeds"] == 2 and result["suite_run_sd"] == {"libero_spatial": 0.3}
    assert set(result["shares"]["V4"]) == {"supported", "contradicted", "inconclusive", "not assessable"}
    assert sum(result["shares"]["V4"].values()) == pytest.approx(1)
    assert set(result["false_claims"]) == set(result["shares"])
    assert result["cost"]["sources"]["train"] in ("limit", "forecast")
    assert main([*argv, "--effect", "E9=+0.03"]) == 2
    assert main([*argv, "--level", "0.5"]) == 2
    with pytest.raises(SystemExit):
        main(["power", "--configfile", str(SMOKE), "--seeds", "0"])


def test_a_claim_the_planted_truth_denies_is_counted_false(full):
    study = planted_from_config(full, Plan([parse_effect("E2=+0.03", full)]), TEN)
    claims = {
        "V4": "E2 vs E0 @ overall: higher; memory of E2 @ overall: matters (inferred)",
        "V6.F2": "F2 vs E2 @ libero_10: lower",
        "V10-lan": "E2 vs E0: lan − plain @ overall: lower; E2 vs E0 under lan @ libero_10: higher",
        "V1": "E1 vs E0 @ libero_goal: higher",
        "V9.x": "E2 vs E1 @ every scope: equivalent; E2 vs E1 @ libero_10: not shown higher",
        "V5": "E2/zero vs E2 @ overall: lower",
    }
    report = Report(pd.DataFrame({"id": list(claims), "claims": list(claims.values())}), pd.DataFrame())
    settings = analysis_design(full).settings
    assert false_verdicts(report, study, settings) == {"V10-lan", "V1", "V9.x"}
