"""`wmvla cost`: jobs × time per job × GPUs/CPUs, each time from the best source there is (measured, forecast
from the gates' rates, or the config's runtime limit), and runtime limits that do not fit are named."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wmvla.analysis.names import figure_names
from wmvla.study.config import load_study_config, perturbed_runs, runs
from wmvla.study.cost import job_counts, rule_costs, study_cost
from wmvla.study.paths import fill
from wmvla.study.targets import experiment_gate

FIGURES = 8


@pytest.fixture
def smoke(repo, tmp_path, monkeypatch):
    """The smoke config in an empty study directory (results and logs relative to it)."""
    monkeypatch.chdir(tmp_path)
    return load_study_config(repo / "config/smoke.yaml")


def _by_rule(config):
    return {cost.rule: cost for cost in rule_costs(config, FIGURES)}


def _gate_rates(config, exp, per_step=0.1, startup=20.0, env_steps_per_s=5.0):
    """An experiment gate's record as `wmvla gates experiment` writes it (the rates only)."""
    rates = {
        "train": {"seconds_per_step": {"median": per_step, "p10": 0.8 * per_step, "p90": 1.5 * per_step,
                                       "n": 6},
                  "startup_s": startup, "steps_timed": 6, "max_rss_mb": 900.0},
        "eval": {"env_steps_per_s": env_steps_per_s, "episodes_per_hour": 100.0, "mean_episode_steps": 30.0,
                 "renders_per_env_step": 0.4, "startup_s": 30.0, "episodes": 1, "max_rss_mb": 800.0},
    }  # fmt: skip
    path = experiment_gate(config, exp)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"gates": [], "rates": rates}))


def test_before_a_pilot_every_time_is_the_runtime_limit_and_says_so(smoke):
    costs = _by_rule(smoke)
    assert costs["train"].source == "limit" and costs["train"].seconds == 30 * 60
    trainings = len(runs(smoke))
    evaluations = sum(len(smoke["experiments"][exp]["eval_modes"]) for _, exp, _ in runs(smoke))
    assert costs["train"].jobs == trainings and costs["eval"].jobs == evaluations
    assert costs["figure"].jobs == FIGURES
    assert costs["tables"].source == "unknown" and costs["tables"].seconds is None  # no resources: absent
    cpus = smoke["resources"]["train"]["cpus"]
    assert costs["train"].cpu_hours == trainings * 0.5 * cpus and costs["train"].gpu_hours == 0  # a CPU study


def test_the_gates_rates_forecast_train_and_eval_and_measured_jobs_stand_beside(smoke, tmp_path):
    for exp in smoke["experiments"]:
        _gate_rates(smoke, exp)
    bench = tmp_path / fill("logs/{study}/libero_spatial/E0/seed0/train.benchmark.tsv", smoke)
    bench.parent.mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    bench.write_text(
        header + "49.80\t0:00:49\t1002.70\t6255.59\t932.57\t948.88\t9.66\t11.27\t114.58\t57.65\n"
    )
    costs = _by_rule(smoke)
    train, ev, perturbed = costs["train"], costs["eval"], costs["eval_perturbed"]
    assert train.source == "forecast" and train.seconds == pytest.approx(20 + 200 * 0.1)
    assert train.low == pytest.approx(20 + 200 * 0.08) and train.high == pytest.approx(20 + 200 * 0.15)
    assert ev.source == "forecast" and ev.seconds == pytest.approx(30 + 1 * 1 * 30 / 5.0)
    # its own row: the plain suite's tasks, episodes and episode length, at the arm's measured rates
    assert perturbed.jobs == len(perturbed_runs(smoke)) and (perturbed.gpus, perturbed.cpus) == (
        ev.gpus,
        ev.cpus,
    )
    assert perturbed.source == "forecast" and perturbed.seconds == pytest.approx(ev.seconds)
    assert (
        train.measured_jobs == 1
        and train.measured_s == pytest.approx(49.8)
        and train.measured_max_rss_mb > 1000
    )
    assert costs["offline_check"].source == "limit"  # no gate measures it
    scene = tmp_path / fill("logs/{study}/gates/scene_libero_spatial.benchmark.tsv", smoke)
    scene.parent.mkdir(parents=True)
    scene.write_text(header + "25.0\t0:00:25\t900\t0\t0\t0\t0\t0\t0\t20\n")
    costs = _by_rule(smoke)  # the scene check's file lies beside the experiment gates' (`gates/{exp}`)
    assert costs["gate_scene"].measured_jobs == 1 and costs["gate_experiment"].measured_jobs == 0
    for path in ("gates/scene_libero_spatial_lan", "libero_spatial/E0/seed0/eval_lan/pred"):  # the axis's
        bench = tmp_path / fill(f"logs/{{study}}/{path}.benchmark.tsv", smoke)
        bench.parent.mkdir(parents=True, exist_ok=True)
        bench.write_text(header + "25.0\t0:00:25\t900\t0\t0\t0\t0\t0\t0\t20\n")
    costs = _by_rule(smoke)  # a perturbed evaluation's file is not the plain evaluation's (`eval_{mode}`)
    assert costs["gate_scene"].measured_jobs == 2 and costs["eval_perturbed"].measured_jobs == 1
    assert costs["eval"].measured_jobs == 0
    assert "lower resources.train.runtime to 5 min" in train.advice  # 40 s against a 30 min limit


def test_a_runtime_below_the_forecast_is_named_with_a_limit_that_fits(smoke):
    smoke["resources"]["train"]["runtime"] = 3  # minutes
    for exp in smoke["experiments"]:
        _gate_rates(smoke, exp, per_step=1.5 if exp == "E2" else 0.1)  # E2 trains 200 steps in 5.3 min
    cost = study_cost(smoke, FIGURES, gpus=1)
    (advice,) = [line for line in cost.advice() if line.startswith("train:")]
    assert (
        "raise resources.train.runtime to 8 min" in advice
        and "longest job expected to take 5.3 min" in advice
    )
    assert cost.wall_hours() > 0 and cost.total("cpu_hours") > 0


def test_the_full_study_before_a_pilot_prints_its_upper_bound(repo):
    out = subprocess.run(
        [sys.executable, "-m", "wmvla.cli", "cost", str(repo / "config/config.yaml"), "--gpus", "64"],
        cwd=repo, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    full = load_study_config(repo / "config/config.yaml")
    figures = figure_names(full["experiments"], "E0", full["perturbations"]["kinds"])
    jobs = sum(job_counts(full, len(figures)).values())  # as the dry run plans them (test_workflow.py)
    cpus = full["resources"]["train"]["cpus"]  # a training: 1 GPU, its CPUs, up to its 24 h limit
    assert f"study full: {jobs} jobs" in out.stdout and re.search(
        rf"^train\s+{len(runs(full))}\s+1\s+{cpus}\s+24.0 h limit", out.stdout, re.M
    )
    evaluations = len(perturbed_runs(full))  # E0, E1, E2 x 4 suites x 3 seeds x 4 perturbations: 8 h each
    assert re.search(
        rf"^eval_perturbed\s+{evaluations}\s+1\s+8\s+8.0 h limit\s+{evaluations * 8:,.1f}", out.stdout, re.M
    )
    assert "'limit': the config's runtime, an upper bound" in out.stdout and "GPU-hours" in out.stdout
    assert "latent caches: unknown until the dataset is fetched" in out.stdout
