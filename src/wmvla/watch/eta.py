"""When a running study should end: what is left of its trainings and evaluations, at the cost model's time
per job (wmvla.study.cost: measured by the jobs that ran, else forecast from the gates' rates, else the
config's time limit), over the jobs it runs at once.

An estimate, said as one: it ignores queue waits and that evaluations wait for their trainings (so it is a
floor when few runs are left), and a job in progress counts by the share of its steps or episodes done.
"""

from dataclasses import dataclass

from wmvla.study.cost import rule_costs
from wmvla.watch.status import Job, RunStatus

RULES = ("train", "eval", "eval_perturbed")  # the jobs of a run: what is left of a study is mostly these


@dataclass(frozen=True)
class Remaining:
    job_hours: float  # hours of jobs left (GPU-hours where the jobs take one GPU each)
    wall_hours: float  # over `slots` jobs at once, or the longest job left
    sources: dict[str, str]  # rule → where its time per job comes from ("measured (12 jobs)", "forecast"…)
    unknown: list[str]  # rules left with no time per job at all


def _rule(job: Job) -> str:
    if job.name == "train":
        return "train"
    return "eval_perturbed" if "/" in job.name else "eval"


def remaining(config: dict, runs: list[RunStatus], slots: int) -> Remaining:
    """What is left of `runs`, in hours of jobs and of wall time on `slots` jobs at once."""
    per_job, sources = {}, {}
    for cost in rule_costs(config, figures=0):
        if cost.rule not in RULES:
            continue
        if cost.measured_jobs:
            per_job[cost.rule], sources[cost.rule] = (
                cost.measured_s,
                f"measured ({cost.measured_jobs} job{'s' * (cost.measured_jobs > 1)})",
            )
        elif cost.seconds is not None:
            per_job[cost.rule], sources[cost.rule] = cost.seconds, cost.source
    left: list[float] = []
    unknown = set()
    for run in runs:
        for job in (run.train, *run.evals):
            if job.state == "done":
                continue
            rule = _rule(job)
            if rule not in per_job:
                unknown.add(rule)
                continue
            left.append((1.0 - job.fraction) * per_job[rule])
    total = sum(left)
    wall = max(max(left, default=0.0), total / max(1, slots))
    return Remaining(total / 3600, wall / 3600, sources, sorted(unknown))
