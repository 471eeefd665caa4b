"""Verdicts: hand-made tables drive every criterion to each of its outcomes; a full-size study to V4/V1."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wmvla.analysis.comparisons import COMPARISON_COLUMNS
from wmvla.analysis.verdicts import verdicts
from wmvla.design import Design, Settings

DESIGN = Design(
    baseline="E0",
    capacity="E1",
    world="E2",
    fusion=("F2",),
    imagination=("IB4",),
    encoders=("E2_cosmos",),
    variants=("E2_k4",),
    changes={
        "F2": "earlier injection (F2)",
        "E2_cosmos": "latents of cosmos-cv8x8x8 instead of vjepa2-vitg",
        "E2_k4": "world_k 4 instead of its default",
    },
)


def _cmp(exp, ref, diff, p_adj=1.0, p_tost=1.0, mode="pred", ref_mode="pred", mde=0.03) -> dict:
    """One comparison of a one-suite study: its only row is its overall one (`p_adj` as given)."""
    row = dict.fromkeys(COMPARISON_COLUMNS, 0)
    row |= {"family": "f", "suite": "libero_spatial", "scope": "overall", "exp": exp, "mode": mode}
    row |= {"ref_exp": ref, "ref_mode": ref_mode, "p_adj": p_adj, "p_runs": p_adj, "p_tost": p_tost}
    row |= {"n_pairs": 6000, "sr_arm": 0.6 + diff, "sr_ref": 0.6, "diff": diff, "p_mcnemar": p_adj}
    row |= {"diff_ci_low": diff - 0.02, "diff_ci_high": diff + 0.02, "se": 0.01, "df": 30}
    row |= {"tost_ci_low": diff - 0.017, "tost_ci_high": diff + 0.017, "level": 0.0067, "holm_weight": 0.13}
    row |= {"n_runs": 12, "min_seeds": 3, "run_sd": 0.03, "weight": 1.0}
    return row | {
        "margin": 0.02,
        "p_improvement": 0.5,
        "mde": mde,
        "target_difference": 0.02,
        "seeds_needed": 7,
    }


def _by_suite(overall: dict, **suites: tuple[float, float, float]) -> list[dict]:
    """The rows of a comparison over several suites: `overall` as suite `all`, then each suite's row from
    its (difference, adjusted p, TOST p)."""
    rows = [overall | {"suite": "all"}]
    for suite, (diff, p_adj, p_tost) in suites.items():
        scope = {"suite": suite, "scope": "suite", "diff": diff, "p_tost": p_tost, "n_runs": 3}
        scope |= {"tost_ci_low": diff - 0.017, "tost_ci_high": diff + 0.017}
        rows.append(overall | scope | {"p_adj": p_adj, "p_runs": p_adj, "weight": 0.25})
    return rows


def _training(exp, metric, first, tail) -> list[dict]:
    return [{"suite": "s", "exp": exp, "seed": i, "metric": metric, "first": f, "tail_mean": t, "last": t}
            for i, (f, t) in enumerate(zip(first, tail, strict=True))]  # fmt: skip


def _offline(mode, highs, mean) -> list[dict]:
    return [{"exp": "E2", "seed": i, "mode": mode, "ci_high": h, "action_loss_minus_pred": mean}
            for i, h in enumerate(highs)]  # fmt: skip


def _tables(**overrides) -> dict[str, pd.DataFrame]:
    """A study where everything the notes hope for holds; `overrides` replace single tables."""
    experiments = pd.DataFrame(
        [{"suite": s, "exp": "E0", "mode": "pred", "sr": 0.6, "ci_low": 0.5, "ci_high": 0.7, "successes": 300,
          "n_episodes": 500} for s in ("libero_goal", "libero_spatial", "all")]
    )  # fmt: skip
    paired = pd.DataFrame(
        [_cmp("E1", "E0", 0.0, p_tost=0.001), _cmp("E2", "E0", 0.06, p_adj=0.001),
         _cmp("E2_cosmos", "E0", 0.1, p_adj=0.001)]
    )  # fmt: skip
    ablations = pd.DataFrame(
        [_cmp("E2", "E2", -0.1, 1e-4, mode="zero"), _cmp("E2", "E2", -0.2, 1e-5, mode="random")]
    )
    vs_world = pd.DataFrame(
        [_cmp("F2", "E2", 0.05, 0.01), _cmp("IB4", "E2", 0.05, 0.01), _cmp("E2_cosmos", "E2", 0.04, 0.01),
         _cmp("E2", "E1", 0.06, 0.001), _cmp("E2_k4", "E2", 0.05, 0.01)]
    )  # fmt: skip
    training = pd.DataFrame(
        _training("E2", "world_gate", [0.0] * 3, [0.2, 0.3, -0.25])
        + _training("IB4", "world_attn_pmax", [0.1] * 3, [0.5] * 3)
        + _training("IB4", "world_attn_entropy", [3.0] * 3, [1.0] * 3)
    )
    offline = pd.DataFrame(
        _offline("oracle", [-0.01] * 3, -0.05)
        + _offline("shuffle", [0.02] * 3, 0.01)
        + _offline("random", [0.03] * 3, 0.02)
    )
    checks = pd.DataFrame([{"name": "libero_render", "status": "passed", "overridden": False}])
    base = {"experiments": experiments, "paired": paired, "ablations": ablations, "vs_world": vs_world,
            "training": training, "offline": offline, "checks": checks}  # fmt: skip
    return base | overrides


def _verdict(tables, vid, design=DESIGN) -> pd.Series:
    frame = verdicts(tables, design)
    return frame.set_index("id").loc[vid]


def test_the_hoped_for_study_supports_every_criterion():
    frame = verdicts(_tables(), DESIGN)
    assert list(frame["id"]) == [
        "V0", "V1", "V2", "V3", "V4", "V5", "V6.F2", "V7.IB4", "V8.E2_cosmos", "V9.E2_k4"
    ]  # fmt: skip
    assert (
        "Does E2_k4 (world_k 4 instead of its default) beat E2?"
        in frame.set_index("id").loc["V9.E2_k4", "question"]
    )
    assert set(frame["verdict"]) == {"supported"}, frame[["id", "verdict", "reason"]]
    assert "adjusted p = 0.001" in frame.set_index("id").loc["V4", "numbers"]


def test_a_baseline_that_never_succeeds_makes_everything_else_not_assessable():
    tables = _tables()
    tables["experiments"].loc[tables["experiments"]["suite"] == "libero_goal", ["sr", "successes"]] = 0
    frame = verdicts(tables, DESIGN).set_index("id")
    assert (
        frame.loc["V0", "verdict"] == "contradicted"
        and "never succeeds on libero_goal" in frame.loc["V0", "reason"]
    )
    assert (frame.drop(index="V0")["verdict"] == "not assessable").all()
    assert "E0 does not work here (V0)" in frame.loc["V4", "reason"]


def test_every_comparison_verdict_names_the_training_run_as_its_unit():
    frame = verdicts(_tables(), DESIGN).set_index("id")
    for vid in ("V1", "V4", "V5", "V6.F2", "V7.IB4", "V8.E2_cosmos", "V9.E2_k4"):
        assert frame.loc[vid, "unit"] == "training run (suite × seed)"
        assert (
            "each suite its own stratum: its between-run variance from that suite alone"
            in frame.loc[vid, "method"]
        )
        assert "TOST for equivalence in every suite" in frame.loc[vid, "method"]
    assert frame.loc["V0", "unit"].startswith("episode") and frame.loc["V2", "unit"] == "training run"


def test_an_inconclusive_verdict_says_how_many_seeds_a_target_difference_needs():
    row = _cmp("E2", "E0", 0.02, p_adj=0.2, p_tost=0.4, mde=0.041)
    v4 = _verdict(_tables(paired=pd.DataFrame([_cmp("E1", "E0", 0.0, p_tost=0.001), row])), "V4")
    assert "the test detects |Δ| ≥ 0.041 with 80% power at its level 0.0067 on 30 df" in v4["reason"]
    assert "7 seeds per suite would detect 0.020" in v4["reason"]
    assert "plans only the new runs" in v4["reason"]


def test_one_run_per_suite_and_arm_is_not_assessable_whatever_the_episodes_say():
    """Thousands of paired episodes and a tiny McNemar p, but one seed: nothing about the method."""
    one_seed = {"n_runs": 4, "min_seeds": 1, "p_runs": np.nan, "p_adj": np.nan, "se": np.nan, "df": np.nan}
    one_seed |= {"p_tost": np.nan}
    one_seed |= {"diff_ci_low": np.nan, "diff_ci_high": np.nan, "mde": np.nan, "seeds_needed": np.nan}
    paired = pd.DataFrame(
        [_cmp("E1", "E0", 0.08, p_adj=1e-9) | one_seed, _cmp("E2", "E0", 0.1, p_adj=1e-12) | one_seed]
    )
    ablations = pd.DataFrame([_cmp("E2", "E2", -0.1, 1e-9, mode="zero") | one_seed])
    frame = verdicts(_tables(paired=paired, ablations=ablations), DESIGN).set_index("id")
    for vid in ("V1", "V4", "V5"):
        assert frame.loc[vid, "verdict"] == "not assessable", frame.loc[vid, "reason"]
        assert "one training run per suite and arm" in frame.loc[vid, "reason"]


def test_overridden_gates_are_a_warning_on_v0():
    checks = pd.DataFrame([{"name": "scene[libero_spatial]", "status": "FAILED", "overridden": True}])
    v0 = _verdict(_tables(checks=checks), "V0")
    assert (
        v0["verdict"] == "supported"
        and "WARNING: gates failed and were overridden: scene[libero_spatial]" in v0["reason"]
    )


@pytest.mark.parametrize(
    ("row", "verdict", "says"),
    [
        (_cmp("E1", "E0", 0.08, p_adj=0.001), "contradicted", "capacity effect"),
        (_cmp("E1", "E0", -0.08, p_adj=0.001), "contradicted", "the branch harms"),
        (_cmp("E1", "E0", 0.01, p_adj=0.5, p_tost=0.3), "inconclusive", "detects |Δ| ≥ 0.030"),
    ],
)
def test_v1_capacity_control(row, verdict, says):
    tables = _tables(paired=pd.DataFrame([row, _cmp("E2", "E0", 0.06, p_adj=0.001)]))
    v1 = _verdict(tables, "V1")
    assert v1["verdict"] == verdict and says in v1["reason"]


@pytest.mark.parametrize(
    ("tail", "verdict"),
    [([0.01, 0.02, -0.01], "contradicted"), ([0.2, 0.01, 0.3], "inconclusive")],
)
def test_v2_gate(tail, verdict):
    tables = _tables(training=pd.DataFrame(_training("E2", "world_gate", [0.0] * 3, tail)))
    assert _verdict(tables, "V2")["verdict"] == verdict


@pytest.mark.parametrize(
    ("offline", "verdict", "says"),
    [
        (
            _offline("oracle", [0.01] * 3, 0.01) + _offline("shuffle", [0.02] * 3, 0.0),
            "contradicted",
            "in no run",
        ),
        (
            _offline("oracle", [-0.01] * 3, -0.05) + _offline("shuffle", [-0.01] * 3, -0.02),
            "contradicted",
            "shuffle help",
        ),
        (
            _offline("oracle", [-0.01, 0.01, -0.02], -0.01) + _offline("shuffle", [0.02] * 3, 0.0),
            "inconclusive",
            "some runs",
        ),
    ],
)
def test_v3_offline_ordering(offline, verdict, says):
    v3 = _verdict(_tables(offline=pd.DataFrame(offline)), "V3")
    assert v3["verdict"] == verdict and says in v3["reason"]


@pytest.mark.parametrize(
    ("e2", "e1", "e2_vs_e1", "verdict", "says"),
    [
        (_cmp("E2", "E0", -0.06, p_adj=0.001), None, None, "contradicted", "lower success"),
        (
            _cmp("E2", "E0", 0.005, p_adj=0.6, p_tost=0.001),
            None,
            None,
            "inconclusive",
            "no difference beyond",
        ),
        (
            _cmp("E2", "E0", 0.02, p_adj=0.2, p_tost=0.4, mde=0.041),
            None,
            None,
            "inconclusive",
            "detects |Δ| ≥ 0.041",
        ),
        (  # E1 beats E0 as well, and E2 does not beat E1: the capacity, not the futures
            _cmp("E2", "E0", 0.06, p_adj=0.001),
            _cmp("E1", "E0", 0.05, p_adj=0.001),
            _cmp("E2", "E1", 0.01, p_adj=0.4),
            "inconclusive",
            "confounded by capacity",
        ),
        (  # E2 does not beat E1; E1 neither above E0 nor shown within the margin: capacity not ruled out
            _cmp("E2", "E0", 0.06, p_adj=0.001),
            _cmp("E1", "E0", 0.02, p_adj=0.4),
            _cmp("E2", "E1", 0.04, p_adj=0.2),
            "inconclusive",
            "not separable from capacity in libero_spatial: E1 neither beats E0 there nor is shown within",
        ),
        (  # E2 does not beat E1, but E1 is shown within the margin of E0: no capacity effect
            _cmp("E2", "E0", 0.06, p_adj=0.001),
            _cmp("E1", "E0", 0.005, p_adj=0.7, p_tost=0.001),
            _cmp("E2", "E1", 0.04, p_adj=0.2),
            "supported",
            "no capacity effect in libero_spatial: the gain exceeds ±0.02 and E1 is within it of E0 there",
        ),
        (  # E1 within the margin, but so might E2's gain be: E1's equivalence does not rule capacity out
            _cmp("E2", "E0", 0.015, p_adj=0.001),
            _cmp("E1", "E0", 0.007, p_adj=0.09, p_tost=0.001),
            _cmp("E2", "E1", 0.008, p_adj=0.054),
            "inconclusive",
            "not separable from capacity in libero_spatial",
        ),
    ],
)
def test_v4_world_arm(e2, e1, e2_vs_e1, verdict, says):
    vs_world = _tables()["vs_world"]
    if e2_vs_e1 is not None:
        vs_world = pd.concat([vs_world[vs_world["ref_exp"] != "E1"], pd.DataFrame([e2_vs_e1])])
    e1 = e1 or _cmp("E1", "E0", 0.0, p_tost=0.001)
    v4 = _verdict(_tables(paired=pd.DataFrame([e1, e2]), vs_world=vs_world), "V4")
    assert v4["verdict"] == verdict and says in v4["reason"], v4["reason"]


@pytest.mark.parametrize(
    ("rows", "verdict"),
    [
        ([_cmp("E2", "E2", 0.1, 0.001, mode="zero")], "contradicted"),  # ablated memory does better
        (
            [_cmp("E2", "E2", 0.0, 0.9, 0.001, mode="zero"), _cmp("E2", "E2", 0.0, 0.9, 0.01, mode="random")],
            "contradicted",
        ),
        (
            [_cmp("E2", "E2", -0.1, 0.001, mode="zero"), _cmp("E2", "E2", -0.01, 0.5, mode="random")],
            "inconclusive",
        ),
    ],
)
def test_v5_rollout_ablations(rows, verdict):
    assert _verdict(_tables(ablations=pd.DataFrame(rows)), "V5")["verdict"] == verdict


@pytest.mark.parametrize(
    ("f2", "verdict"),
    [(_cmp("F2", "E2", -0.05, 0.01), "contradicted"), (_cmp("F2", "E2", 0.0, 0.9, 0.01), "inconclusive"),
     (_cmp("F2", "E2", 0.02, 0.3, 0.3), "inconclusive")],
)  # fmt: skip
def test_v6_fusion_ablation(f2, verdict):
    vs_world = pd.DataFrame([f2, _cmp("IB4", "E2", 0.05, 0.01), _cmp("E2", "E1", 0.06, 0.001)])
    v6 = _verdict(_tables(vs_world=vs_world), "V6.F2")
    assert v6["verdict"] == verdict and "earlier injection (F2)" in v6["question"]


def test_v7_imagination_bank_needs_sharper_attention():
    diffuse = pd.DataFrame(
        _training("E2", "world_gate", [0.0] * 3, [0.2] * 3)
        + _training("IB4", "world_attn_pmax", [0.3] * 3, [0.2] * 3)
        + _training("IB4", "world_attn_entropy", [1.0] * 3, [2.0] * 3)
    )
    v7 = _verdict(_tables(training=diffuse), "V7.IB4")
    assert (
        v7["verdict"] == "inconclusive"
        and "does not sharpen" in v7["reason"]
        and "sharper in 0/3" in v7["numbers"]
    )
    worse = pd.DataFrame(
        [_cmp("F2", "E2", 0.05, 0.01), _cmp("IB4", "E2", -0.05, 0.01), _cmp("E2", "E1", 0.06, 0.001)]
    )
    assert _verdict(_tables(vs_world=worse), "V7.IB4")["verdict"] == "contradicted"


@pytest.mark.parametrize(
    ("vs_e2", "vs_e0", "verdict", "says"),
    [(_cmp("E2_cosmos", "E2", 0.04, 0.01), _cmp("E2_cosmos", "E0", 0.1, 0.001), "supported",
      "against E0: E2_cosmos vs E0: higher success"),
     (_cmp("E2_cosmos", "E2", -0.05, 0.01), _cmp("E2_cosmos", "E0", 0.0, 0.9, 0.01), "contradicted",
      "against E0: E2_cosmos vs E0: no difference beyond ±0.02"),
     (_cmp("E2_cosmos", "E2", 0.01, 0.4, 0.4), _cmp("E2_cosmos", "E0", 0.07, 0.01), "inconclusive",
      "against E0: E2_cosmos vs E0: higher success")],
)  # fmt: skip
def test_v8_which_world_representation_helps(vs_e2, vs_e0, verdict, says):
    """The encoder arm against the world arm decides; its comparison with the baseline comes alongside."""
    tables = _tables()
    tables["vs_world"] = pd.concat([tables["vs_world"].iloc[[0, 1, 3]], pd.DataFrame([vs_e2])])
    tables["paired"] = pd.concat([tables["paired"].iloc[:2], pd.DataFrame([vs_e0])])
    v8 = _verdict(tables, "V8.E2_cosmos")
    assert v8["verdict"] == verdict and says in v8["reason"], v8["reason"]
    assert "latents of cosmos-cv8x8x8 instead of vjepa2-vitg" in v8["question"]
    assert "SR E2_cosmos" in v8["numbers"] and " vs E2 " in v8["numbers"] and " vs E0 " in v8["numbers"]


def test_criteria_of_experiments_the_study_does_not_run_are_listed_as_not_run():
    design = Design(baseline="E0", world="E2")
    frame = verdicts(_tables(), design).set_index("id")
    assert list(frame.index) == ["V0", "V1", "V2", "V3", "V4", "V5"]
    assert frame.loc["V1", "verdict"] == "not assessable" and frame.loc["V1", "reason"].startswith("not run")


# --- a hand-made full-size study -------------------------------------------------------------------------

SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")


def _full_study(root: Path, e2_effect: float) -> list[Path]:
    """4 suites × 3 seeds × 500 episodes per evaluation (10 tasks × 50 init states); outcomes share an
    episode difficulty (correlation 0.5 between arms), E0 and E1 at 60%, E2 at 60% + `e2_effect`."""
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    files = []
    for suite in SUITES:
        for seed in range(3):
            difficulty = rng.normal(size=(10, 50))
            for exp, mode, rate in (("E0", "pred", 0.6), ("E1", "pred", 0.6), ("E2", "pred", 0.6 + e2_effect),
                                    ("E2", "zero", 0.6), ("E2", "random", 0.55)):  # fmt: skip
                own = rng.normal(size=(10, 50))
                success = (difficulty + own) < np.sqrt(2) * norm.ppf(rate)
                episodes = [{"task_id": t, "init_state_id": j, "success": bool(success[t, j])}
                            for t in range(10) for j in range(50)]  # fmt: skip
                path = root / suite / exp / f"seed{seed}" / "eval" / f"{mode}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                tasks = [{"task_id": t, "task": f"{suite} {t}"} for t in range(10)]
                path.write_text(
                    json.dumps(
                        {"suite": suite, "mode": mode, "seed": seed, "tasks": tasks, "episodes": episodes}
                    )
                )
                files.append(path)
    return files


@pytest.mark.parametrize(("effect", "v4"), [(0.05, "supported"), (0.0, "inconclusive")])
def test_a_full_size_study_finds_a_planted_effect_and_says_what_it_could_detect(tmp_path, effect, v4):
    from wmvla.analysis.report import build_tables

    design = Design(baseline="E0", capacity="E1", world="E2", settings=Settings())
    tables = build_tables(_full_study(tmp_path, effect), [], [], design)
    frame = verdicts(tables, design).set_index("id")
    assert frame.loc["V0", "verdict"] == "supported"
    # E1 planted equal to E0, but 3 seeds cannot rule out ±2 points in every suite: no claim of equivalence
    assert frame.loc["V1", "verdict"] == "inconclusive", frame.loc["V1", "reason"]
    assert "too uncertain in libero_10 (Δ" in frame.loc["V1", "reason"]
    assert frame.loc["V4", "verdict"] == v4, frame.loc["V4", "reason"]
    if v4 == "inconclusive":
        assert "the test detects |Δ| ≥ 0.0" in frame.loc["V4", "reason"]  # a few points at 6,000 pairs
    assert frame.loc["V5", "verdict"] in ("inconclusive", "supported")
    assert frame.loc["V2", "verdict"] == "not assessable"  # no training logs in this hand-made study


def test_an_effect_in_one_suite_is_found_there_and_the_reason_names_it():
    """No overall difference, but E2 clearly above E0 on libero_10, where E1 is within the margin of E0:
    supported, naming the suite."""
    e2 = _by_suite(
        _cmp("E2", "E0", 0.02, p_adj=0.3),
        libero_spatial=(0.0, 1.0, 0.01), libero_object=(0.0, 1.0, 0.01), libero_goal=(-0.01, 1.0, 0.02),
        libero_10=(0.10, 0.004, 0.9),
    )  # fmt: skip
    e1 = _by_suite(_cmp("E1", "E0", 0.0, p_adj=0.9, p_tost=0.001), **dict.fromkeys(SUITES, (0.0, 1.0, 0.01)))
    v4 = _verdict(_tables(paired=pd.DataFrame([*e1, *e2])), "V4")
    assert (
        v4["verdict"] == "supported"
        and "higher success over training runs in libero_10 (Δ +0.100" in v4["reason"]
    )
    assert "no capacity effect in libero_10" in v4["reason"]
    assert (
        "overall" not in v4["reason"].split(";")[0] and "by suite: libero_spatial Δ +0.000" in v4["numbers"]
    )


def test_no_difference_is_claimed_only_if_every_suite_is_within_the_margin():
    equivalent = {
        s: (0.0, 1.0, 0.01) for s in ("libero_spatial", "libero_object", "libero_goal", "libero_10")
    }
    e1 = _by_suite(_cmp("E1", "E0", 0.0, p_adj=0.9, p_tost=0.001), **equivalent)
    tables = _tables(paired=pd.DataFrame([*e1, _cmp("E2", "E0", 0.06, p_adj=0.001)]))
    assert _verdict(tables, "V1")["verdict"] == "supported"
    uncertain = {**equivalent, "libero_10": (0.01, 1.0, 0.3)}  # overall TOST passes; libero_10's does not
    e1 = _by_suite(_cmp("E1", "E0", 0.0, p_adj=0.9, p_tost=0.001), **uncertain)
    v1 = _verdict(_tables(paired=pd.DataFrame([*e1, _cmp("E2", "E0", 0.06, p_adj=0.001)])), "V1")
    assert (
        v1["verdict"] == "inconclusive"
        and "too uncertain in libero_10 (Δ +0.010, 90% interval [-0.007, +0.027])" in v1["reason"]
    )


def test_e2_beating_e0_is_not_supported_beside_a_memory_the_policy_ignores():
    """V4 and V5 never contradict each other: with every ablation equal to E2's rollouts in every suite, the
    gain over E0 is not its predicted futures'."""
    ignored = pd.DataFrame(
        [_cmp("E2", "E2", 0.0, 0.9, 0.001, mode="zero"), _cmp("E2", "E2", 0.0, 0.9, 0.01, mode="random")]
    )
    frame = verdicts(_tables(ablations=ignored), DESIGN).set_index("id")
    assert frame.loc["V5", "verdict"] == "contradicted" and "ignores its memory" in frame.loc["V5", "reason"]
    assert (
        frame.loc["V4", "verdict"] == "inconclusive"
        and "does not matter at rollout (V5)" in frame.loc["V4", "reason"]
    )


def test_a_margin_above_the_target_difference_is_refused():
    from wmvla.design import DesignError

    with pytest.raises(
        DesignError, match=r"equivalence_margin 0\.05 exceeds analysis\.target_difference 0\.02"
    ):
        Settings(equivalence_margin=0.05, target_difference=0.02)


def test_the_readme_and_the_report_state_the_method_the_code_computes(repo):
    """The method a verdict names is the one README § "What a verdict claims" and the report's caption state:
    each suite's own between-run variance pooled over its arms, the fixed-weight overall (equal: the LIBERO
    average) with Welch–Satterthwaite df, one family and one error budget (Holm with weights, α's split), TOST
    in every suite."""
    from wmvla.analysis.comparisons import OVERALL_SHARE
    from wmvla.analysis.effects import RUN_METHOD, weights_text

    frame = verdicts(_tables(), DESIGN).set_index("id")
    method = frame.loc["V4", "method"]
    assert method.startswith(RUN_METHOD.format(weights=weights_text(None)))
    assert f"{OVERALL_SHARE:.0%} of α to the arms' overall tests" in method
    readme = " ".join((repo / "README.md").read_text().split())
    caption = " ".join((repo / "report/verdicts.rst").read_text().split())
    for text in (readme, caption):
        for phrase in (
            "pooled over the arms",
            "LIBERO average",
            "Welch–Satterthwaite",
            "Holm's step-down with weights",
            f"{OVERALL_SHARE:.0%} of α",
            "every (arm × scope) test of a family",
            "90% interval",
        ):
            assert phrase in text, phrase
        for gone in ("Paule–Mandel", "precision-weighted", "logit scale", "Hartung", "meta-analysis"):
            assert gone not in text, gone  # what is no longer computed


def test_a_small_significant_cost_of_an_ablation_is_never_read_as_an_ignored_memory():
    """Zeroed memory loses 6 of 500 libero_10 episodes with a tight interval (significant, and within the
    margin): equivalence is never claimed where a difference is significant, so V5 is not "ignores its
    memory", and V4 keeps its support."""
    equivalent = dict.fromkeys(("libero_spatial", "libero_object", "libero_goal"), (0.0, 1.0, 0.01))
    zero = _by_suite(
        _cmp("E2", "E2", -0.003, 0.5, 0.001, mode="zero"), **equivalent, libero_10=(-0.012, 0.028, 0.015)
    )
    random = _by_suite(
        _cmp("E2", "E2", 0.0, 0.9, 0.001, mode="random"), **equivalent, libero_10=(0.0, 1.0, 0.01)
    )
    frame = verdicts(_tables(ablations=pd.DataFrame([*zero, *random])), DESIGN).set_index("id")
    assert frame.loc["V5", "verdict"] == "inconclusive", frame.loc["V5", "reason"]
    assert "zero in libero_10 (Δ -0.012, adjusted p 0.028)" in frame.loc["V5", "reason"]
    assert "ignores its memory" not in frame.loc["V5", "reason"]
    assert "E2/zero vs E2 @ libero_10: lower" in frame.loc["V5", "claims"]
    assert frame.loc["V4", "verdict"] == "supported"


def test_a_capacity_effect_in_one_suite_confounds_the_gain_there_and_overall():
    """E1 +9 points on libero_10 (V1 contradicted there), E2 +10 there and overall, E2 not above E1: V4 is
    confounded by capacity in libero_10 and overall (E1 beats E0 in a suite the overall averages), never
    "E1 does not beat E0" there; the two verdicts' claims agree."""
    rest = dict.fromkeys(("libero_spatial", "libero_object", "libero_goal"), (0.0, 1.0, 0.01))
    e1 = _by_suite(_cmp("E1", "E0", 0.0225, p_adj=0.2, p_tost=0.3), **rest, libero_10=(0.09, 0.001, 0.9))
    e2 = _by_suite(_cmp("E2", "E0", 0.025, p_adj=0.01), **rest, libero_10=(0.10, 0.001, 0.9))
    control = _by_suite(_cmp("E2", "E1", 0.0025, p_adj=0.9), **rest, libero_10=(0.01, 0.8, 0.5))
    tables = _tables(paired=pd.DataFrame([*e1, *e2]))
    tables["vs_world"] = pd.concat(
        [tables["vs_world"][tables["vs_world"]["ref_exp"] != "E1"], pd.DataFrame(control)]
    )
    frame = verdicts(tables, DESIGN).set_index("id")
    assert frame.loc["V1", "verdict"] == "contradicted" and "libero_10" in frame.loc["V1", "reason"]
    v4 = frame.loc["V4"]
    assert v4["verdict"] == "inconclusive", v4["reason"]
    assert "confounded by capacity overall, in libero_10" in v4["reason"]
    assert "not shown to beat" not in v4["reason"] and "no capacity effect" not in v4["reason"]
    assert (
        "E1 vs E0 @ libero_10: higher" in v4["claims"]
        and "E1 vs E0 @ libero_10: higher" in frame.loc["V1", "claims"]
    )


def test_conflicting_claims_never_stand_side_by_side():
    """An inferred claim yields to a measured one that denies it; two measured claims that conflict leave both
    verdicts inconclusive, each naming the other."""
    from wmvla.analysis.claims import Claim
    from wmvla.analysis.outcomes import Verdict
    from wmvla.analysis.verdicts import consistent

    credited = Claim("memory of E2", "libero_10", "matters", inferred=True)
    v4 = Verdict(
        "V4",
        "q",
        "t",
        "n",
        "supported",
        "E2 beats E0",
        claims=(Claim("E2 vs E0", "libero_10", "higher"), credited),
    )
    v5 = Verdict(
        "V5",
        "q",
        "t",
        "n",
        "contradicted",
        "ignored",
        claims=(Claim("memory of E2", "every scope", "ignored"),),
    )
    v4_after, v5_after = consistent([v4, v5])
    assert v4_after.verdict == "inconclusive" and credited not in v4_after.claims
    assert "does not matter at rollout (V5)" in v4_after.reason and v5_after == v5
    a = Verdict("V6.X", "q", "t", "n", "supported", "r", claims=(Claim("X vs E2", "overall", "higher"),))
    b = Verdict(
        "V9.X", "q", "t", "n", "supported", "r", claims=(Claim("X vs E2", "every scope", "equivalent"),)
    )
    after = consistent([a, b])
    assert [v.verdict for v in after] == ["inconclusive", "inconclusive"]
    assert "(V9.X)" in after[0].reason and "(V6.X)" in after[1].reason
