"""Read the study's per-run files into tidy pandas frames (one row per episode, frame-mode or log step).

Files are given explicitly (the DAG knows them); suite, experiment and seed come from their place in
the results tree, `results/<study>/<suite>/<exp>/seed<s>/…` (DESIGN.md §5).
"""

import json
import re
from pathlib import Path

import pandas as pd

from wmvla.errors import WmvlaError
from wmvla.sim.perturbations import KINDS, PLAIN, split_suite

RUN_PATH = re.compile(r"(?P<suite>[^/]+)/(?P<exp>[^/]+)/seed(?P<seed>\d+)/")


class ResultsError(WmvlaError, ValueError):
    """A results file is missing, malformed, or not where the results tree puts it."""


def run_identity(path: Path) -> dict[str, object]:
    """suite, exp, seed of a file under `<suite>/<exp>/seed<s>/`."""
    matches = list(RUN_PATH.finditer(Path(path).as_posix()))
    if not matches:
        raise ResultsError(f"{path} is not under <suite>/<exp>/seed<s>/")
    m = matches[-1]
    return {"suite": m["suite"], "exp": m["exp"], "seed": int(m["seed"])}


def _json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path} is not valid JSON: {err}") from None


EPISODE_COLUMNS = [
    "suite",
    "perturbation",
    "exp",
    "seed",
    "mode",
    "checkpoint_step",
    "task_id",
    "task",
    "init_state_id",
    "success",
    "steps",
]


def episodes_frame(eval_files: list[Path]) -> pd.DataFrame:
    """One row per evaluated episode: suite, exp, seed, mode, checkpoint_step, task_id, init_state_id…
    (built column by column in one go: a full study has hundreds of files of hundreds of episodes)."""
    columns: dict[str, list] = {name: [] for name in EPISODE_COLUMNS}
    simulators: dict[str, list[str]] = {}
    for path in eval_files:
        result, run = _json(path), run_identity(path)
        perturbation = _perturbation(path, result, run["suite"])
        simulator = simulator_of(result)
        if simulator is not None:
            simulators.setdefault(simulator, []).append(str(path))
        episodes = result["episodes"]
        names = {t["task_id"]: t.get("task") for t in result["tasks"]}
        fixed = {
            **run,
            "perturbation": perturbation,
            "mode": result["mode"],
            "checkpoint_step": result.get("checkpoint_step"),
        }
        for name, value in fixed.items():
            columns[name].extend([value] * len(episodes))
        for name in ("task_id", "init_state_id", "success", "steps"):
            columns[name].extend(episode.get(name) for episode in episodes)
        columns["task"].extend(names.get(episode["task_id"]) for episode in episodes)
    if not columns["suite"]:
        raise ResultsError("no evaluated episodes in the given files")
    if len(simulators) > 1:  # paired comparisons across simulators would compare the simulators
        groups = "; ".join(f"{sim}: {len(f)} file(s), e.g. {f[0]}" for sim, f in simulators.items())
        raise ResultsError(f"evaluations made under different simulators cannot be compared: {groups}")
    frame = pd.DataFrame(columns)
    return frame.assign(success=frame["success"].astype(bool))


def _perturbation(path: Path, result: dict, suite: str) -> str:
    """The perturbation an evaluation ran under (PLAIN: LIBERO's own suite), checked against its place in
    the results tree: `<suite>/…/eval/<mode>.json`, or `…/eval/<perturbation>/<mode>.json` for the suite's
    perturbed variant (`<suite>_<perturbation>` in the result)."""
    evaluated = str(result.get("suite"))
    base, kind = split_suite(evaluated)
    placed = Path(path).parent.name
    expected = PLAIN if placed == "eval" or placed not in KINDS else placed
    if base != suite or kind != expected:
        where = suite if expected == PLAIN else f"{suite} under perturbation {expected}"
        raise ResultsError(f"{path} holds suite {evaluated!r}, its path says {where}")
    return kind


def simulator_of(result: dict) -> str | None:
    """The simulator stack an evaluation ran in ("mujoco 3.3.2, robosuite 1.4.0, …"), if recorded."""
    stack = (result.get("provenance") or {}).get("config", {}).get("simulator")
    if not stack:
        return None
    keys = ("mujoco", "robosuite", "hf-libero", "mujoco_gl")
    return ", ".join(f"{k} {stack[k]}" for k in keys if k in stack)


def offline_frame(offline_files: list[Path]) -> pd.DataFrame:
    """One row per run × memory mode of the offline check."""
    rows = []
    for path in offline_files:
        check, run = _json(path), run_identity(path)
        for mode in check["modes"]:
            ci = mode.get("action_loss_minus_pred_ci95") or [None, None]
            rows.append(
                {
                    **run,
                    "policy_type": check["policy_type"],
                    "mode": mode["mode"],
                    "n_frames": mode["n_frames"],
                    "action_loss": mode["action_loss"],
                    "world_loss": mode.get("world_loss"),
                    "world_cos": mode.get("world_cos"),
                    "action_loss_minus_pred": mode.get("action_loss_minus_pred"),
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                }
            )
    return pd.DataFrame(rows)


def training_frame(metrics_files: list[Path]) -> pd.DataFrame:
    """Long format: suite, exp, seed, step, metric, value — one row per logged number."""
    rows = []
    for path in metrics_files:
        run = run_identity(path)
        for line_no, line in enumerate(Path(path).read_text().splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ResultsError(f"{path}:{line_no} is not JSON: {err}") from None
            step = record.pop("step")
            record.pop("samples", None)
            rows += [{**run, "step": step, "metric": k, "value": v} for k, v in record.items()]
    return pd.DataFrame(rows, columns=["suite", "exp", "seed", "step", "metric", "value"])


CHECK_COLUMNS = ["name", "status", "value", "threshold", "question", "detail", "overridden"]


def checks_frame(gates_file: Path | None) -> pd.DataFrame:
    """One row per node-preflight check and sanity gate, from the gates summary (`gates.json`)."""
    if gates_file is None:
        return pd.DataFrame(columns=CHECK_COLUMNS)
    summary = _json(gates_file)
    overridden = set(summary.get("overridden", []))
    status = {True: "passed", False: "FAILED", None: "skipped"}
    rows = [
        {
            "name": gate["name"],
            "status": status[gate["passed"]],
            "value": gate["value"],
            "threshold": gate["threshold"],
            "question": gate["question"],
            "detail": gate["detail"],
            "overridden": gate["name"] in overridden,
        }
        for gate in summary["gates"]
    ]
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)
