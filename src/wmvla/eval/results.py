"""The evaluation result file `eval/<mode>.json` (DESIGN.md §4 "Evaluation result").

Why a file of our own: `lerobot-eval`'s `eval_info.json` reports success lists per task but no
suite/seed/checkpoint/init-state identity and no confidence intervals, which the paired statistics
across experiments need.
"""

from pathlib import Path
from typing import Any

from statsmodels.stats.proportion import proportion_confint

from wmvla.files import write_json
from wmvla.sim.perturbations import split_suite

RESULT_SCHEMA_VERSION = 1


def _rate(successes: int, trials: int) -> dict[str, Any]:
    """Success rate with its Wilson 95% interval (statsmodels; the method `wmvla.analysis.stats` names)."""
    low, high = (float(x) for x in proportion_confint(successes, trials, alpha=0.05, method="wilson"))
    return {"n_episodes": trials, "successes": successes, "sr": successes / trials, "sr_ci95": [low, high]}


def episodes_from_lerobot_eval(eval_info: dict) -> list[dict[str, Any]]:
    """Per-episode records from `eval_info.json`.

    Episode j of a task starts from LIBERO init state j: LeRobot's LIBERO env ties each sub-env to
    init state `episode_index` and advances by the number of envs at every reset.
    """
    episodes = []
    for task in sorted(eval_info.get("per_task", []), key=lambda t: t["task_id"]):
        successes = task["metrics"].get("successes")
        if successes is None:
            raise ValueError(f"eval_info.json task {task['task_id']} has no per-episode `successes`")
        for j, success in enumerate(successes):
            episodes.append({"task_id": int(task["task_id"]), "init_state_id": j, "success": bool(success)})
    if not episodes:
        raise ValueError("eval_info.json holds no episodes (`per_task` is empty)")
    return episodes


def build_result(
    episodes: list[dict[str, Any]],
    *,
    suite: str,
    mode: str,
    seed: int,
    checkpoint_step: int | None,
    task_names: dict[int, str],
    source: str,
    provenance: dict[str, Any],
    instructions: dict[int, str] | None = None,
) -> dict[str, Any]:
    """Aggregate per-episode records into per-task and overall success rates with Wilson CIs.

    `suite` is the evaluated suite (a LIBERO-PRO variant's own name, e.g. `libero_spatial_lan`) and its
    perturbation is recorded beside it; each task keeps its plain name (`task`, LIBERO's task language) and
    the `instruction` its policy was given, which for a reworded or new task differs from it.
    """
    task_ids = sorted({e["task_id"] for e in episodes})
    tasks = []
    for tid in task_ids:
        outcomes = [e["success"] for e in episodes if e["task_id"] == tid]
        named = {"task_id": tid, "task": task_names.get(tid), "instruction": (instructions or {}).get(tid)}
        tasks.append({**named, **_rate(sum(outcomes), len(outcomes))})
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "suite": suite,
        "perturbation": split_suite(suite)[1],
        "mode": mode,
        "seed": seed,
        "checkpoint_step": checkpoint_step,
        "tasks": tasks,
        "episodes": episodes,
        "overall": _rate(sum(e["success"] for e in episodes), len(episodes)),
        "source": source,
        "provenance": provenance,
    }


def write_result(result: dict[str, Any], path: Path) -> Path:
    """Write atomically so an interrupted job never leaves a truncated result behind."""
    return write_json(path, result)
