"""Import a stock `lerobot-eval` run (E0 baseline) into the project's result format."""

import json
import logging
from pathlib import Path

from wmvla.data.suites import suite_tasks
from wmvla.errors import WmvlaError
from wmvla.eval.results import build_result, episodes_from_lerobot_eval, write_result
from wmvla.provenance import git_state, package_versions

log = logging.getLogger(__name__)


class EvalImportError(WmvlaError, ValueError):
    """The lerobot-eval output or the checkpoint is not what the import expects."""


def checkpoint_step(pretrained_model_dir: Path) -> int | None:
    """Training step of a LeRobot checkpoint (`<step>/pretrained_model` next to `training_state`)."""
    step_file = Path(pretrained_model_dir).resolve().parent / "training_state" / "training_step.json"
    if not step_file.is_file():
        return None
    return int(json.loads(step_file.read_text())["step"])


def import_lerobot_eval(
    eval_info: Path, checkpoint: Path, suite: str, mode: str, seed: int, out: Path
) -> Path:
    eval_info = Path(eval_info)
    if not eval_info.is_file():
        raise EvalImportError(f"{eval_info} does not exist; did lerobot-eval finish?")
    info = json.loads(eval_info.read_text())
    try:
        episodes = episodes_from_lerobot_eval(info)
    except (KeyError, ValueError) as err:
        raise EvalImportError(f"{eval_info}: {err}") from err
    groups = {t.get("task_group") for t in info["per_task"]}
    if groups != {suite}:
        raise EvalImportError(f"{eval_info} evaluated {sorted(map(str, groups))}, expected {suite!r}")
    task_ids = sorted({e["task_id"] for e in episodes})
    tasks = suite_tasks(suite)
    if task_ids[-1] >= len(tasks):
        raise EvalImportError(f"{eval_info}: task id {task_ids[-1]} does not exist in {suite}")
    result = build_result(
        episodes,
        suite=suite,
        mode=mode,
        seed=seed,
        checkpoint_step=checkpoint_step(checkpoint),
        task_names={tid: tasks[tid] for tid in task_ids},
        source=f"lerobot-eval ({eval_info})",
        provenance={
            **git_state(Path(__file__).resolve().parent),
            "packages": package_versions(),
            "checkpoint": str(checkpoint),
            "eval_seconds": info.get("overall", {}).get("eval_s"),
        },
    )
    path = write_result(result, out)
    overall = result["overall"]
    log.info("%s: SR %.3f over %d episodes", out, overall["sr"], overall["n_episodes"])
    return path
