"""Aggregation and figures on hand-made result files whose every number is known in advance."""

import json
from pathlib import Path

import numpy as np
import pytest

from wmvla.analysis import collect
from wmvla.analysis.figures import DRAWERS, FigureDataError, draw
from wmvla.analysis.names import FIGURES
from wmvla.analysis.report import build_tables, read_tables, write_tables
from wmvla.analysis.stats import mcnemar_exact, wilson_interval
from wmvla.design import Design

# successes of init states 0..4 of tasks 0 and 1, per (suite, exp, mode, seed)
OUTCOMES = {
    ("libero_spatial", "E0", "pred", 0): ([1, 0, 0, 1, 0], [0, 0, 0, 0, 1]),  # 3/10
    ("libero_spatial", "E0", "pred", 1): ([1, 1, 0, 0, 0], [0, 0, 0, 0, 0]),  # 2/10
    ("libero_spatial", "E2", "pred", 0): ([1, 1, 1, 1, 0], [1, 0, 0, 0, 1]),  # 6/10
    ("libero_spatial", "E2", "pred", 1): ([1, 1, 1, 0, 0], [1, 1, 0, 0, 0]),  # 5/10
    ("libero_spatial", "E2", "zero", 0): ([1, 0, 0, 1, 0], [0, 0, 0, 0, 1]),  # 3/10
    ("libero_spatial", "E2", "zero", 1): ([1, 1, 0, 0, 0], [0, 0, 0, 0, 0]),  # 2/10
    ("libero_goal", "E0", "pred", 0): ([0, 0, 0, 0, 0], [1, 1, 1, 1, 1]),  # 5/10
    ("libero_goal", "E2", "pred", 0): ([0, 0, 0, 0, 1], [1, 1, 1, 1, 1]),  # 6/10
}


# the same runs of libero_spatial under LIBERO-PRO's lan perturbation (eval/lan/pred.json)
PERTURBED = {
    ("libero_spatial", "E0", "pred", 0): ([0, 0, 0, 1, 0], [0, 0, 0, 0, 0]),  # 1/10 (plain 3/10)
    ("libero_spatial", "E0", "pred", 1): ([1, 0, 0, 0, 0], [0, 0, 0, 0, 0]),  # 1/10 (plain 2/10)
    ("libero_spatial", "E2", "pred", 0): ([1, 1, 1, 1, 0], [1, 0, 0, 0, 0]),  # 5/10 (plain 6/10)
    ("libero_spatial", "E2", "pred", 1): ([1, 1, 1, 1, 0], [1, 1, 0, 0, 0]),  # 6/10 (plain 5/10)
}


def _write_eval(root: Path, suite, exp, mode, seed, outcomes, perturbation: str | None = None) -> Path:
    episodes = [
        {"task_id": t, "init_state_id": j, "success": bool(s), "steps": 50 + j}
        for t, successes in enumerate(outcomes)
        for j, s in enumerate(successes)
    ]
    evals = root / suite / exp / f"seed{seed}" / "eval"
    path = (evals / perturbation if perturbation else evals) / f"{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tasks = [{"task_id": t, "task": f"{suite} task {t}"} for t in range(len(outcomes))]
    evaluated = f"{suite}_{perturbation}" if perturbation else suite
    result = {"suite": evaluated, "mode": mode, "seed": seed, "checkpoint_step": 100, "tasks": tasks}
    path.write_text(json.dumps({**result, "episodes": episodes}))
    return path


def _write_metrics(root: Path, suite, exp, seed, n_hyp=1) -> Path:
    path = root / suite / exp / f"seed{seed}" / "train" / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for step in range(10, 110, 10):  # 10 logs: world_loss 1.0, 0.9, … 0.1
        record = {
            "step": step,
            "samples": 2 * step,
            "world_loss": 1.1 - step / 100,
            "world_gate": step / 1000,
        }
        record |= {"loss_total": 2.0 - step / 100, "world_cos": step / 100}
        record |= {"world_attn_entropy": 1.0, "world_attn_pmax": 0.5}
        record |= {f"world_attn_hyp{i}": 1 / n_hyp for i in range(n_hyp)} if n_hyp > 1 else {}
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_offline(root: Path, suite, exp, seed) -> Path:
    path = root / suite / exp / f"seed{seed}" / "offline.json"
    modes = [{"mode": "pred", "n_frames": 40, "action_loss": 1.0, "world_loss": 0.5, "world_cos": 0.5}]
    for mode, diff in (("zero", 0.1), ("oracle", -0.2), ("shuffle", 0.05), ("random", 0.1)):
        modes.append(
            {
                "mode": mode,
                "n_frames": 40,
                "action_loss": 1.0 + diff,
                "action_loss_minus_pred": diff,
                "action_loss_minus_pred_ci95": [diff - 0.03, diff + 0.03],
            }
        )
    path.write_text(json.dumps({"policy_type": "smolvla_world", "modes": modes}))
    return path


@pytest.fixture
def eval_files(tmp_path):
    plain = [_write_eval(tmp_path / "results", *key, outcome) for key, outcome in OUTCOMES.items()]
    return plain + [_write_eval(tmp_path / "results", *k, o, "lan") for k, o in PERTURBED.items()]


@pytest.fixture
def study(tmp_path, eval_files):
    root, evals = tmp_path / "results", eval_files
    metrics = [_write_metrics(root, "libero_spatial", "E2", s) for s in (0, 1)]
    metrics.append(_write_metrics(root, "libero_spatial", "IB_mixture4", 0, n_hyp=4))
    offline = [_write_offline(root, "libero_spatial", "E2", s) for s in (0, 1)]
    return build_tables(
        evals, offline, metrics, Design(baseline="E0", world="E2"), cost_file=_write_cost(root)
    )


def _write_cost(root):
    """A cost table as `wmvla cost --csv` writes it (a forecast with its measured jobs, a limit)."""
    import csv

    from wmvla.study.cost import RuleCost

    rows = [
        RuleCost(
            "train",
            4,
            1,
            2,
            60.0,
            "forecast",
            low=50.0,
            high=80.0,
            worst=70.0,
            measured_jobs=4,
            measured_s=55.0,
        ).row(),
        RuleCost("eval", 5, 1, 2, 1800.0, "limit", limit_s=1800.0).row(),
        RuleCost("tables", 1, 0, 1, None, "unknown").row(),
    ]
    path = root / "cost.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(frame, **where):
    rows = frame
    for key, value in where.items():
        rows = rows[rows[key] == value]
    assert len(rows) == 1, (where, rows)
    return rows.iloc[0]


def test_per_run_and_per_task_rates_with_wilson(study):
    run = _row(study["runs"], suite="libero_spatial", exp="E2", mode="pred", seed=0)
    assert (run["successes"], run["n_episodes"], run["sr"]) == (6, 10, 0.6)
    assert (run["ci_low"], run["ci_high"]) == pytest.approx(wilson_interval(6, 10))
    task = _row(study["tasks"], suite="libero_spatial", exp="E2", mode="pred", task_id=0)
    assert (task["successes"], task["n_episodes"], task["task"]) == (7, 10, "libero_spatial task 0")


def test_per_experiment_mean_sd_over_seeds_and_all_suites(study):
    e2 = _row(study["experiments"], suite="libero_spatial", exp="E2", mode="pred")
    assert e2["n_seeds"] == 2 and e2["sr_seed_mean"] == pytest.approx(0.55)
    assert e2["sr_seed_sd"] == pytest.approx(0.0707107, rel=1e-5)  # sd of (0.6, 0.5)
    assert (e2["successes"], e2["n_episodes"]) == (11, 20)
    pooled = _row(study["experiments"], suite="all", exp="E2", mode="pred")
    assert (pooled["successes"], pooled["n_episodes"]) == (17, 30)
    goal = _row(study["experiments"], suite="libero_goal", exp="E0", mode="pred")
    assert goal["n_seeds"] == 1 and goal["sr_seed_sd"] != goal["sr_seed_sd"]  # NaN: no sd from one seed


def test_paired_comparison_counts_discordant_init_states(study):
    spatial = _row(study["paired"], suite="libero_spatial", exp="E2", mode="pred")
    # seed 0: E2 wins at (0,1), (0,2), (1,0); loses nowhere. seed 1: wins (0,2), (1,0), (1,1).
    assert (spatial["only_arm"], spatial["only_ref"], spatial["n_pairs"]) == (6, 0, 20)
    assert spatial["p_mcnemar"] == pytest.approx(mcnemar_exact(6, 0)) == pytest.approx(2 / 2**6)
    assert (spatial["n_runs"], spatial["min_seeds"]) == (2, 2)  # two pairs of training runs: the unit
    assert spatial["diff"] == pytest.approx(0.3) and spatial["scope"] == "suite"
    assert spatial["family"] == "vs baseline" and spatial["unit"] == "training run (suite × seed)"
    pooled = _row(study["paired"], suite="all", exp="E2", mode="pred")
    assert (pooled["only_arm"], pooled["only_ref"], pooled["n_pairs"]) == (7, 0, 30)
    assert pooled["scope"] == "overall"
    # libero_goal has one seed of every arm: its between-run variance is not estimable and none is borrowed
    # from the other suite — no inference there, nor overall; libero_spatial has two seeds of E0 and E2
    assert (pooled["n_runs"], pooled["min_seeds"]) == (3, 1) and np.isnan(pooled["p_runs"])
    assert np.isnan(pooled["diff_ci_low"]) and np.isnan(pooled["mde"]) and np.isnan(pooled["p_adj"])
    goal = _row(study["paired"], suite="libero_goal", exp="E2", mode="pred")
    assert np.isnan(goal["p_runs"]) and np.isnan(goal["diff_ci_low"])
    assert spatial["df"] == 2 and spatial["p_adj"] == pytest.approx(
        spatial["p_runs"]
    )  # the family's only test
    # E2's zero-memory rollouts equal E0's outcomes here: no discordant pair, p = 1
    zero = _row(study["paired"], suite="libero_spatial", exp="E2", mode="zero")
    assert (zero["only_arm"], zero["only_ref"], zero["p_mcnemar"]) == (0, 0, 1.0)
    assert zero["family"] == "other arms vs baseline"  # no verdict rests on it: outside the family
    assert not ((study["paired"]["exp"] == "E0") & (study["paired"]["mode"] == "pred")).any()


def test_rollout_ablation_is_paired_against_the_same_experiment(study):
    ablation = _row(study["ablations"], suite="libero_spatial", exp="E2", mode="zero")
    assert (ablation["ref_exp"], ablation["ref_mode"]) == ("E2", "pred")
    assert ablation["diff"] == pytest.approx(-0.3) and (ablation["only_arm"], ablation["only_ref"]) == (0, 6)


def test_training_summary_and_offline_rows(study):
    loss = _row(study["training"], exp="E2", seed=0, metric="world_loss")
    assert (loss["n_logs"], loss["last_step"]) == (10, 100)
    assert (loss["first"], loss["last"], loss["tail_mean"]) == pytest.approx((1.0, 0.1, 0.1))
    oracle = _row(study["offline"], exp="E2", seed=1, mode="oracle")
    assert oracle["action_loss_minus_pred"] == pytest.approx(-0.2) and oracle["ci_high"] == pytest.approx(
        -0.17
    )


def test_tables_round_trip_and_every_figure_is_drawn(study, tmp_path):
    paths = write_tables(study, tmp_path / "tables")
    assert {p.name for p in paths} >= {"runs.csv", "tasks.csv", "experiments.csv", "paired.csv"}
    tables = read_tables(tmp_path / "tables")
    assert set(DRAWERS) == set(FIGURES)  # the DAG declares exactly the figures that can be drawn
    written = draw(list(FIGURES), tables, ["E0", "E1", "E2", "IB_mixture4"], tmp_path / "figures")
    assert len(written) == 2 * len(FIGURES)
    assert all(p.stat().st_size > 5_000 for p in written)


def test_a_figure_without_data_is_an_error_not_an_empty_plot(study, tmp_path):
    study["training_log"] = study["training_log"].iloc[0:0]
    write_tables(study, tmp_path / "tables")
    with pytest.raises(FigureDataError, match="imagination-bank"):
        draw(["imagination_bank"], read_tables(tmp_path / "tables"), ["E0", "E2"], tmp_path / "figures")


def test_results_outside_the_tree_or_mislabelled_are_rejected(tmp_path):
    with pytest.raises(collect.ResultsError, match="is not under"):
        collect.run_identity(tmp_path / "pred.json")
    path = _write_eval(tmp_path / "results", "libero_goal", "E0", "pred", 0, ([1],))
    moved = tmp_path / "results" / "libero_10" / "E0" / "seed0" / "eval" / "pred.json"
    moved.parent.mkdir(parents=True)
    path.rename(moved)
    with pytest.raises(collect.ResultsError, match="holds suite 'libero_goal'"):
        collect.episodes_frame([moved])


def test_perturbed_evaluations_get_their_own_tables_and_leave_the_plain_ones_as_they_were(eval_files):
    design = Design(baseline="E0", world="E2")
    plain = build_tables(eval_files[: len(OUTCOMES)], [], [], design)
    tables = build_tables(eval_files, [], [], design)
    for name in ("experiments", "paired", "ablations", "runs", "tasks"):
        assert tables[name].equals(plain[name]), name
    assert plain["perturbations"].empty and plain["perturbation_rates"].empty
    rows = tables["perturbations"].set_index("contrast")
    # libero_spatial: under lan E2 − E0 per seed 0.4, 0.5; plain 0.3, 0.3 → interaction 0.1, 0.2
    assert rows.loc["difference", "diff"] == pytest.approx(0.45)
    assert rows.loc["interaction", "diff"] == pytest.approx(0.15)
    assert rows.loc["difference", "sr_arm"] == pytest.approx(0.55)
    rates = tables["perturbation_rates"].set_index(["perturbation", "suite", "exp"]).sort_index()
    assert rates.loc[("lan", "libero_spatial", "E0"), "sr"] == pytest.approx(0.1)
    assert rates.loc[("plain", "libero_spatial", "E0"), "sr"] == pytest.approx(0.25)


def test_a_perturbed_result_must_sit_where_its_perturbation_says(tmp_path):
    path = _write_eval(tmp_path / "results", "libero_goal", "E0", "pred", 0, ([1],), "lan")
    moved = path.parent.parent / "swap" / "pred.json"
    moved.parent.mkdir()
    path.rename(moved)
    with pytest.raises(collect.ResultsError, match=r"libero_goal_lan.*libero_goal under perturbation swap"):
        collect.episodes_frame([moved])


def test_a_report_refuses_inputs_of_another_study(tmp_path):
    from wmvla.study.ownership import ForeignArtifactError, check_report_inputs

    root = tmp_path / "results" / "smoke"
    evals = [_write_eval(root, *key, outcome) for key, outcome in OUTCOMES.items()]
    metrics = [_write_metrics(root, "libero_spatial", "E2", 0)]
    check_report_inputs(evals, [], metrics, "smoke")
    assert not build_tables(evals, [], metrics, Design(baseline="E0"))["runs"].empty
    foreign = json.loads(evals[0].read_text())
    evals[0].write_text(json.dumps({**foreign, "provenance": {"study": "full"}}))
    with pytest.raises(ForeignArtifactError, match="by study 'full', not 'smoke': a report covers one study"):
        check_report_inputs(evals, [], metrics, "smoke")
    evals[0].write_text(json.dumps(foreign))
    (metrics[0].parent / "provenance.json").write_text(json.dumps({"study": "full"}))
    with pytest.raises(ForeignArtifactError, match="E2/seed0/train was produced by study 'full'"):
        check_report_inputs(evals, [], metrics, "smoke")


def test_evaluations_from_different_simulators_are_not_compared(tmp_path):
    root = tmp_path / "results" / "full"
    evals = [_write_eval(root, *key, outcome) for key, outcome in OUTCOMES.items()]
    for path, mujoco in zip(evals[:2], ("3.3.2", "3.8.1"), strict=True):
        result = json.loads(path.read_text())
        simulator = {"mujoco": mujoco, "robosuite": "1.4.0", "hf-libero": "0.1.4", "mujoco_gl": "egl"}
        path.write_text(json.dumps({**result, "provenance": {"config": {"simulator": simulator}}}))
    with pytest.raises(collect.ResultsError, match="different simulators cannot be compared") as refused:
        collect.episodes_frame(evals)
    assert "mujoco 3.3.2, robosuite 1.4.0" in str(refused.value) and "mujoco 3.8.1" in str(refused.value)


def test_every_statistic_of_a_paired_row_is_the_libraries(eval_files, tmp_path):
    """A suite's spread, its difference's interval, test, TOST, weighted Holm, P(improvement) and detectable
    difference, and the overall's fixed weights and degrees of freedom, recomputed by direct library calls
    from the runs (a second seed of libero_goal makes every suite's between-run variance estimable)."""
    from rliable import metrics
    from scipy.optimize import brentq
    from scipy.stats import t
    from statsmodels.formula.api import ols
    from statsmodels.stats.power import ttest_power

    extra = {
        ("libero_goal", "E0", "pred", 1): ([0, 1, 0, 0, 0], [1, 1, 1, 0, 1]),
        ("libero_goal", "E2", "pred", 1): ([1, 1, 0, 0, 0], [1, 1, 1, 0, 1]),
    }
    files = [*eval_files, *(_write_eval(tmp_path / "results", *k, o) for k, o in extra.items())]
    paired = build_tables(files, [], [], Design(baseline="E0", world="E2"))["paired"]
    episodes = collect.episodes_frame(files).query("perturbation == 'plain'")  # the plain table's episodes
    runs = episodes.groupby(["suite", "exp", "mode", "seed"])["success"].mean().rename("sr").reset_index()
    keys = ["suite", "seed", "task_id", "init_state_id"]
    arm = episodes.query("exp == 'E2' and mode == 'pred'").sort_values(keys)
    ref = episodes.query("exp == 'E0' and mode == 'pred'").sort_values(keys)
    a, r = arm["success"].to_numpy(float), ref["success"].to_numpy(float)
    level = 0.05 * (0.6 / 2)  # the family holds E2 alone: its overall test 40% of α, each of 2 suites 30%
    suite_se, suite_df, suite_diff = {}, {}, {}
    for suite in ("libero_goal", "libero_spatial"):
        trained = runs.query("suite == @suite and mode == 'pred'")
        fit = ols("sr ~ C(exp)", data=trained).fit()  # one-way ANOVA of the runs on the arm
        d, sampling = [], []
        for seed in sorted(set(arm.loc[arm["suite"] == suite, "seed"])):
            mask = ((arm["suite"] == suite) & (arm["seed"] == seed)).to_numpy()  # one pair of training runs
            b, c, n = ((a > r) & mask).sum() + 0.5, ((a < r) & mask).sum() + 0.5, mask.sum() + 1
            d.append((a - r)[mask].mean())
            sampling.append(((b + c) / n - ((b - c) / n) ** 2) / n)  # half a discordant pair each way
        sd = max(np.sqrt(2 * fit.ssr / fit.df_resid), np.sqrt(np.mean(sampling)))  # never below the episodes
        suite_se[suite], suite_df[suite], suite_diff[suite] = sd / np.sqrt(len(d)), fit.df_resid, np.mean(d)
    row = _row(paired, suite="libero_spatial", exp="E2", mode="pred")
    se, df = suite_se["libero_spatial"], suite_df["libero_spatial"]
    assert row["diff"] == pytest.approx(suite_diff["libero_spatial"]) and row["df"] == df == 2
    half = t.ppf(0.975, df) * se
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
        (row["diff"] - half, row["diff"] + half)
    )
    assert row["p_runs"] == pytest.approx(2 * t.sf(abs(row["diff"]) / se, df))
    assert row["p_tost"] == pytest.approx(
        max(t.sf((row["diff"] + 0.02) / se, df), t.cdf((row["diff"] - 0.02) / se, df))
    )
    assert (row["holm_weight"], row["level"]) == pytest.approx((0.3, level))
    family = paired.query("family == 'vs baseline'")
    order = (family["p_runs"] / family["holm_weight"]).sort_values().index
    left, steps = 1.0, {}  # Holm's step-down with weights, by hand
    for i in order:
        steps[i] = min(1.0, family.loc[i, "p_runs"] * left / family.loc[i, "holm_weight"])
        left -= family.loc[i, "holm_weight"]
    adjusted = dict(zip(order, np.maximum.accumulate([steps[i] for i in order]), strict=True))
    assert row["p_adj"] == pytest.approx(adjusted[row.name])

    def rates(frame):
        spatial = frame.query("suite == 'libero_spatial'")
        return spatial.pivot_table(index="seed", columns="task_id", values="success").to_numpy()

    assert row["p_improvement"] == pytest.approx(metrics.probability_of_improvement(rates(arm), rates(ref)))
    power = lambda x: ttest_power(x / se, nobs=1, alpha=level / 2, df=df, alternative="larger")  # noqa: E731
    assert row["mde"] == pytest.approx(brentq(lambda x: power(x) - 0.8, 1e-6, 10), rel=1e-4)
    overall = _row(paired, suite="all", exp="E2", mode="pred")
    assert overall["diff"] == pytest.approx(np.mean(list(suite_diff.values())))  # equal weights
    terms = np.array([0.25 * suite_se[s] ** 2 for s in sorted(suite_se)])
    dfs = np.array([suite_df[s] for s in sorted(suite_se)])
    assert overall["se"] == pytest.approx(np.sqrt(terms.sum()))
    assert overall["df"] == pytest.approx(terms.sum() ** 2 / (terms**2 / dfs).sum())  # Welch–Satterthwaite
