"""What the study will cost — GPU-hours, CPU-hours, wall time — said before the budget is spent, and what it
did cost once jobs have run, rule by rule.

Why here (DAG-time, pure Python): the forecast is jobs × time per job × GPUs/CPUs per job, and the study
config says the jobs and their resources. The time per job comes from the best source there is, and every
figure says which: `measured` (the jobs' own Snakemake benchmark files), `forecast` (the rates the gates
measured on the cluster's nodes: seconds per training step, env steps per second, start-up), or `limit`
(the config's `runtime`: an upper bound, before a pilot exists).
"""

import csv
import glob
import json
import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wmvla.study.artifacts import study_artifacts
from wmvla.study.config import (
    experiment,
    perturbation_kinds,
    perturbed_runs,
    perturbed_suites,
    runs,
    study_encoders,
    train_steps,
)
from wmvla.study.paths import JOB_LOGS, benchmark, latent_cache_dir
from wmvla.study.resources import LIBERO_MAX_STEPS, eval_tasks
from wmvla.study.targets import experiment_gate, latent_gate
from wmvla.study.tiny_models import TINY_MODELS

# The config's `resources` section each rule asks Slurm for (rules absent here run on the submitting host).
RULE_STAGE = {
    "dataset": "data",
    "latents": "latents",
    "gate_latents": "latent_gate",
    "preflight": "preflight",
    "gate_scene": "scene",
    "gate_init_policy": "eval",
    "gate_experiment": "gates",
    "train": "train",
    "eval": "eval",
    "eval_perturbed": "eval",
    "offline_check": "eval",
}
# DAG order, for the wall time: each stage waits for the one before it.
STAGES = (
    ("hub",),
    ("init_checkpoint", "tiny_model", "dataset"),
    ("latents", "gate_scene", "preflight"),
    ("gate_latents", "gate_init_policy", "gate_experiment", "study_gates", "experiment_cleared"),
    ("perturbation_cleared", "train"),  # a perturbed suite's clearance: a local summary, beside the trainings
    ("eval", "eval_perturbed", "offline_check", "gates"),
    ("tables", "verdicts", "figure", "cost", "all"),
)


def job_counts(config: dict, figures: int) -> dict[str, int]:
    """Jobs per rule, as `snakemake -n` plans the study (`figures`: how many figures it draws)."""
    named = [config["policy"]["vlm_model_name"], *study_encoders(config)]
    counts = {
        "hub": len(study_artifacts(config)),
        "init_checkpoint": int(bool(config["policy"]["init"])),
        "tiny_model": sum(name in TINY_MODELS for name in dict.fromkeys(named)),
        "dataset": int(config["dataset"]["source"] == "record"),
        "latents": len(study_encoders(config)),
        "preflight": 1,
        "gate_scene": len(config["suites"]) + len(perturbed_suites(config)),
        "gate_init_policy": len(config["suites"]) if config["policy"]["init"] else 0,
        "gate_experiment": len(config["experiments"]),
        "gate_latents": len(study_encoders(config)),
        "study_gates": 1,
        "experiment_cleared": len(config["experiments"]),
        "perturbation_cleared": len(perturbed_suites(config)),
        "train": len(runs(config)),
        "eval": sum(len(experiment(config, e)["eval_modes"]) for _, e, _ in runs(config)),
        "eval_perturbed": len(perturbed_runs(config)),
        "offline_check": len(runs(config)),
        "gates": 1,
        "tables": 1,
        "verdicts": 1,
        "figure": figures,
        "cost": 1,
        "all": 1,
    }
    return {rule: n for rule, n in counts.items() if n}


@dataclass
class RuleCost:
    """One rule's jobs and what they cost (seconds per job; hours in all)."""

    rule: str
    jobs: int
    gpus: int  # per job
    cpus: int  # per job
    seconds: float | None  # expected per job (mean over the rule's jobs), from `source`
    source: str  # measured | forecast | limit | unknown
    low: float | None = None  # forecast spread (p10 .. p90 of the measured rates)
    high: float | None = None
    worst: float | None = None  # the longest expected job (what the time limit must hold)
    limit_s: float | None = None  # the config's runtime
    measured_jobs: int = 0
    measured_s: float | None = None  # mean of the benchmark files
    measured_max_rss_mb: float | None = None
    advice: str = ""  # a runtime limit that does not fit the forecast, and one that does
    notes: list[str] = field(default_factory=list)

    @property
    def gpu_hours(self) -> float | None:
        return None if self.seconds is None else self.jobs * self.seconds * self.gpus / 3600

    @property
    def cpu_hours(self) -> float | None:
        return None if self.seconds is None else self.jobs * self.seconds * self.cpus / 3600

    def row(self) -> dict:
        return {
            **asdict(self),
            "gpu_hours": self.gpu_hours,
            "cpu_hours": self.cpu_hours,
            "notes": "; ".join(self.notes),
        }


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def gate_rates(config: dict) -> dict[str, dict]:
    """The rates each experiment gate and latent gate of the study recorded (absent until they ran)."""
    rates = {exp: _read_json(experiment_gate(config, exp)).get("rates", {}) for exp in config["experiments"]}
    for encoder in study_encoders(config):
        rates[f"latents:{encoder}"] = _read_json(latent_gate(config, encoder)).get("rates", {})
    return rates


def measured(config: dict, rule: str) -> list[dict[str, float]]:
    """Every benchmark file the rule's jobs wrote (seconds, peak RSS, CPU time per job)."""
    if rule not in JOB_LOGS:
        return []
    rows, wanted = [], _benchmark_regex(config, rule)
    for path in sorted(glob.glob(re.sub(r"\{\w+\}", "*", benchmark(rule)))):
        if not wanted.fullmatch(path):
            continue  # another rule's file in the same directory (`gates/{exp}` vs `gates/scene_{suite}`)
        with open(path) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                rows.append(
                    {k: float(v) for k, v in row.items() if k in ("s", "max_rss", "cpu_time") and v != "NA"}
                )
    return rows


def _benchmark_regex(config: dict, rule: str) -> re.Pattern:
    """The rule's benchmark paths, with its wildcards restricted to the study's values where the config
    names them."""
    values = {
        "study": [config["study"]],
        "suite": [*config["suites"], *perturbed_suites(config)],
        "perturbation": perturbation_kinds(config),
        "exp": list(config["experiments"]),
        "seed": [str(s) for s in config["seeds"]],
        "encoder": study_encoders(config),
    }

    def wildcard(name: str) -> str:
        return "(" + "|".join(map(re.escape, values[name])) + ")" if name in values else "[^/]+"

    parts = re.split(r"\{(\w+)\}", benchmark(rule))  # literal, wildcard name, literal, …
    return re.compile("".join(re.escape(p) if i % 2 == 0 else wildcard(p) for i, p in enumerate(parts)))


def _train_seconds(config: dict, exp: str, rates: dict) -> tuple[float, float, float] | None:
    """Expected seconds of one training of `exp` (median, p10, p90): its start-up plus its steps at the
    gate's measured seconds per step (checkpoint saves beyond the gate's one are not counted)."""
    train = rates.get(exp, {}).get("train")
    if not train:
        return None
    steps, per_step = train_steps(config), train["seconds_per_step"]
    return tuple(train["startup_s"] + steps * per_step[k] for k in ("median", "p10", "p90"))


def _episode_steps(config: dict, suite: str, gate_suite: str, measured_steps: float) -> float:
    """Env steps an episode of `suite` is expected to take, from the gate's episodes on `gate_suite` (a policy
    trained a few steps runs to the episode's limit: an upper bound for a trained one)."""
    length = config["eval"]["episode_length"]
    if length is not None:
        return min(measured_steps, length)
    return measured_steps * LIBERO_MAX_STEPS[suite] / LIBERO_MAX_STEPS[gate_suite]


def _eval_seconds(config: dict, exp: str, suite: str, rates: dict) -> float | None:
    """Expected seconds of one evaluation: start-up plus its episodes' env steps at the gate's env steps/s."""
    ev = rates.get(exp, {}).get("eval")
    if not ev:
        return None
    tasks = eval_tasks(config, suite)
    steps = _episode_steps(config, suite, config["suites"][0], ev["mean_episode_steps"])
    return ev["startup_s"] + tasks * config["eval"]["n_episodes"] * steps / ev["env_steps_per_s"]


def _latents_seconds(config: dict, encoder: str, rates: dict) -> float | None:
    cache = rates.get(f"latents:{encoder}", {}).get("latents")
    meta = _read_json(latent_cache_dir(config, encoder) / "meta.json")
    if not cache or not meta.get("num_frames"):
        return None
    return cache.get("startup_s", 0.0) + meta["num_frames"] / cache["clips_per_s"]


def rate_forecasts(config: dict, rates: dict) -> dict[str, list[float]]:
    """Per rule, the expected seconds of each of its jobs that the gates' rates can forecast."""
    per_job: dict[str, list] = {"train": [], "eval": [], "latents": []}
    for suite, exp, _ in runs(config):
        per_job["train"].append(_train_seconds(config, exp, rates))
        for _ in experiment(config, exp)["eval_modes"]:
            per_job["eval"].append(_eval_seconds(config, exp, suite, rates))
    # a perturbed evaluation: the plain suite's tasks and episodes, at the plain suite's episode length
    per_job["eval_perturbed"] = [_eval_seconds(config, e, s, rates) for s, e, _, _ in perturbed_runs(config)]
    per_job["latents"] = [_latents_seconds(config, e, rates) for e in study_encoders(config)]
    return {rule: jobs for rule, jobs in per_job.items() if jobs and all(j is not None for j in jobs)}


def _advice(rule: str, worst: float, limit_s: float) -> str:
    """A runtime limit below the longest expected job, or ten times above it, and one that fits."""
    fits = max(5, math.ceil(1.5 * worst / 60))  # minutes: half again the longest job, for its noise
    why = f"resources.{RULE_STAGE[rule]}.runtime to {fits} min (limit {limit_s / 60:.0f} min, longest job"
    why += f" expected to take {worst / 60:.1f} min)"
    if worst > limit_s:
        return "raise " + why
    if worst < limit_s / 10:
        return "lower " + why
    return ""


def rule_costs(config: dict, figures: int, with_measured: bool = True) -> list[RuleCost]:
    """Every rule's jobs and cost, with the best source for each (see the module's docstring)."""
    rates, out = gate_rates(config), []
    forecasts = rate_forecasts(config, rates)
    for rule, jobs in job_counts(config, figures).items():
        res = config["resources"].get(RULE_STAGE.get(rule, ""), {})
        gpus = res.get("gpu", 0)
        cost = RuleCost(rule, jobs, gpus, res.get("cpus", 1) * max(1, gpus), None, "unknown")
        if res:
            cost.limit_s = res["runtime"] * 60.0
            cost.seconds, cost.worst, cost.source = cost.limit_s, cost.limit_s, "limit"
        if rule in forecasts:
            times = forecasts[rule]
            medians = [t[0] if isinstance(t, tuple) else t for t in times]
            cost.seconds, cost.worst, cost.source = statistics.mean(medians), max(medians), "forecast"
            if all(isinstance(t, tuple) for t in times):
                cost.low, cost.high = (
                    statistics.mean(t[1] for t in times),
                    statistics.mean(t[2] for t in times),
                )
            if cost.limit_s:
                cost.advice = _advice(rule, cost.worst, cost.limit_s)
        if with_measured and (done := measured(config, rule)):
            cost.measured_jobs, cost.measured_s = len(done), statistics.mean(d["s"] for d in done)
            cost.measured_max_rss_mb = max(d.get("max_rss", 0.0) for d in done)
        out.append(cost)
    return out


@dataclass(frozen=True)
class StudyCost:
    rules: list[RuleCost]
    gpus: int  # GPUs the study may use at once
    jobs_at_once: int  # the profile's `jobs`

    def total(self, attribute: str) -> float:
        return sum(getattr(r, attribute) or 0.0 for r in self.rules)

    def wall_hours(self) -> float:
        """Stage by stage in DAG order: a stage takes its longest job, or its GPU (CPU) time over the GPUs
        (jobs) that run at once, whichever is longer. An estimate: it ignores queue waits and overlap."""
        by_rule = {r.rule: r for r in self.rules}
        hours = 0.0
        for stage in STAGES:
            costs = [by_rule[rule] for rule in stage if rule in by_rule and by_rule[rule].seconds is not None]
            if not costs:
                continue
            gpu_jobs = [c for c in costs if c.gpus]
            slots = max(1, min(self.gpus, self.jobs_at_once))
            spread = sum(c.jobs * c.seconds * c.gpus for c in gpu_jobs) / slots
            spread += sum(c.jobs * c.seconds for c in costs if not c.gpus) / self.jobs_at_once
            hours += max(max(c.worst or c.seconds for c in costs), spread) / 3600
        return hours

    def advice(self) -> list[str]:
        return [f"{r.rule}: {r.advice}" for r in self.rules if r.advice]


def study_cost(config: dict, figures: int, gpus: int, jobs_at_once: int = 100) -> StudyCost:
    return StudyCost(rule_costs(config, figures), gpus, jobs_at_once)
