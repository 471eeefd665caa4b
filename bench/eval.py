"""Evaluation cost with LeRobot's rollout() (both cameras rendered at every step) against the rollout that
renders only the frames something reads, side by side, on the smoke study's checkpoints: E0, E1 (learned
memory), E2 with its predicted memory and E2 with its memory zeroed, as the study evaluates them; E1 and
E2/zero, whose memory reads nothing of the scene, beside E0 (no world camera, no online encoder).

The same checkpoint, episodes (LIBERO init states), seeds and protocol both ways, runs interleaved; prints env
steps per second while stepping (policy + simulator + rendering; resets excluded: a hard reset rebuilds the
scene and renders every camera either way), the same with resets, camera renders per env step, the ratios,
and whether every episode's record (success, steps) is the same both ways. One env (sync): the env time in
resets is then wall time.

Usage (after `make smoke`): MUJOCO_GL=egl .venv/bin/python bench/eval.py [--size 256] [--episodes 2]
    [--length 100] [--repeats 2] [--study .]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from wmvla.sim.setup import apply_environment_defaults

apply_environment_defaults()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lerobot.utils.import_utils import register_third_party_plugins  # noqa: E402

from wmvla.eval.config import parse_eval_config  # noqa: E402
from wmvla.eval.runner import Evaluation  # noqa: E402

CHECKPOINT = "results/smoke/libero_spatial/{arm}/seed0/train/checkpoints/000200/pretrained_model"
MODES = {"every step": True, "frames read": False}
ARMS = {
    "E0": ("E0", None),
    "E1": ("E1", None),
    "E2": ("E2", "pred"),
    "E2/zero": ("E2", "zero"),
}  # memory mode
RATES = ("stepping", "with resets")


def evaluate(
    checkpoint: Path, memory: str | None, result: Path, every_step: bool, args: argparse.Namespace
) -> dict:
    """One lerobot-wm-eval run in this process: its per-episode records and rollout cost."""
    argv = [
        f"--policy.path={checkpoint}",
        "--policy.device=cpu",
        "--policy.n_action_steps=10",
        "--env.type=libero",
        "--env.task=libero_spatial",
        "--env.task_ids=[0]",
        f"--env.observation_height={args.size}",
        f"--env.observation_width={args.size}",
        f"--env.episode_length={args.length}",
        f"--eval.n_episodes={args.episodes}",
        "--eval.batch_size=1",
        "--seed=0",
        f"--render_every_step={str(every_step).lower()}",
        f"--result={result}",
    ]
    if memory is not None:  # None: as trained
        argv.append(f"--policy.world_memory_mode_rollout={memory}")
    sys.argv = ["lerobot-wm-eval", *argv]
    evaluation = Evaluation(parse_eval_config())
    records = json.loads(evaluation.run().read_text())["episodes"]
    stats = evaluation.rollout_stats
    return {
        "records": [(e["task_id"], e["init_state_id"], e["success"], e["steps"]) for e in records],
        "stepping": stats["env_steps"] / (stats["seconds"] - stats["reset_seconds"]),
        "with resets": stats["env_steps"] / stats["seconds"],
        "renders_per_step": stats["renders"] / stats["env_steps"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, help="camera images, px (the full study's 256)")
    parser.add_argument("--episodes", type=int, default=2, help="LIBERO init states of task 0")
    parser.add_argument("--length", type=int, default=100, help="env steps per episode at most")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--study", type=Path, default=Path("."), help="the checkout that ran `make smoke`")
    args = parser.parse_args()
    os.chdir(args.study)  # the checkpoints name their tiny VLM and encoder relative to it
    register_third_party_plugins()
    arms = {name: (Path(CHECKPOINT.format(arm=arm)), memory) for name, (arm, memory) in ARMS.items()}
    if missing := [str(p) for p, _ in arms.values() if not (p / "model.safetensors").is_file()]:
        raise SystemExit(f"no smoke checkpoint at {missing}: run `make smoke` first (or give --study)")

    runs: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="wmvla-bench-eval-") as tmp:
        for r in range(args.repeats):
            for arm, (checkpoint, memory) in arms.items():
                for mode, every_step in MODES.items():
                    name = (
                        "pred" if memory in (None, "pred") else memory
                    )  # the result is named after the mode
                    result = Path(tmp, f"{arm.replace('/', '-')}-{r}-{every_step}", "eval", f"{name}.json")
                    runs.setdefault((arm, mode), []).append(
                        evaluate(checkpoint, memory, result, every_step, args)
                    )

    print(
        f"LIBERO libero_spatial task 0, {args.size} px, {args.episodes} episode(s) of <= {args.length} "
        "steps, "
        f"n_action_steps 10, {args.repeats} repeats (medians)"
    )
    for arm in arms:
        for m in MODES:
            rates = [f"{statistics.median(r[kind] for r in runs[(arm, m)]):6.2f}" for kind in RATES]
            renders = statistics.median(run["renders_per_step"] for run in runs[(arm, m)])
            print(f"  {arm} {m:11s}: env steps/s {' / '.join(rates)} ({' / '.join(RATES)}), "
                  f"{renders:.2f} camera renders per step")  # fmt: skip
        ratios = [
            statistics.median(r[kind] for r in runs[(arm, "frames read")])
            / statistics.median(r[kind] for r in runs[(arm, "every step")])
            for kind in RATES
        ]
        same = all(
            run["records"] == runs[(arm, "every step")][0]["records"] for m in MODES for run in runs[(arm, m)]
        )
        print(
            f"  {arm} speed-up {ratios[0]:.2f}x stepping, {ratios[1]:.2f}x with resets; "
            f"per-episode records identical: {same}"
        )
        records = runs[(arm, "frames read")][0]["records"]
        print(f"  {arm} records (task, init state, success, steps): {records}")
    e0 = statistics.median(r["stepping"] for r in runs[("E0", "frames read")])
    for arm in arms:
        if arm != "E0":
            ratio = statistics.median(r["stepping"] for r in runs[(arm, "frames read")]) / e0
            print(f"  {arm} rendering the frames read: {ratio:.2f}x E0's env steps/s while stepping")


if __name__ == "__main__":
    main()
