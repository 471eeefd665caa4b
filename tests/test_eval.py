"""`lerobot-wm-eval`: result files, episode plan, resumable log, the checkpoint's own processors, overrides.

The slow test runs the real LIBERO simulator: an evaluation killed after k episodes resumes without
redoing them and ends with the same result as an uninterrupted one.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

from lerobot_policy_smolvla_world import SmolVLAWorldConfig, SmolVLAWorldPolicy
from wmvla.eval.config import (
    EvalConfigError,
    EvalPlan,
    check_checkpoint_argument,
    parse_eval_config,
    validate,
)
from wmvla.eval.episode_log import EpisodeLog
from wmvla.eval.results import build_result
from wmvla.eval.runner import load_policy
from wmvla.files import checkpoint_step

from .policies import TINY_WORLD, save_checkpoint, smolvla_kwargs, tiny_eval_args


def _stats(scale: float) -> dict:
    return {
        "observation.state": {"mean": torch.full((8,), 0.1 * scale), "std": torch.full((8,), scale)},
        "action": {"mean": torch.full((7,), -scale), "std": torch.full((7,), 2 * scale)},
    }


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_smolvlm, tiny_vjepa2):
    """An init `smolvla` checkpoint (stats ×1) and a world checkpoint made from it, saved with stats ×5."""
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    base_cfg = SmolVLAConfig(**smolvla_kwargs(tiny_smolvlm))
    init = save_checkpoint(SmolVLAPolicy(base_cfg), _stats(1.0), root / "init")
    world_cfg = SmolVLAWorldConfig(
        **smolvla_kwargs(tiny_smolvlm),
        **TINY_WORLD,
        init_from_policy_path=str(init),
        world_encoder_path=str(tiny_vjepa2),
    )
    world = SmolVLAWorldPolicy(world_cfg)
    for gate in world.model.world.gates().values():
        gate.data.fill_(1.0)  # open: the memory visibly shapes the actions
    step_dir = root / "train" / "checkpoints" / "000010"
    save_checkpoint(world, _stats(5.0), step_dir / "pretrained_model")
    (step_dir / "training_state").mkdir()
    (step_dir / "training_state" / "training_step.json").write_text('{"step": 10}')
    (step_dir / "pretrained_model" / "train_config.json").write_text("{}")  # as lerobot-train saves it
    (root / "train" / "checkpoints" / "last").symlink_to("000010")
    return {"init": init, "world": root / "train" / "checkpoints" / "last" / "pretrained_model"}


def _eval_argv(checkpoint: Path, result: Path, *extra: str, episodes=2, length=8) -> list[str]:
    return tiny_eval_args(checkpoint, result, *extra, episodes=episodes, length=length, seed=7)


def _parse(monkeypatch, argv: list[str]):
    monkeypatch.setattr(sys, "argv", ["lerobot-wm-eval", *argv])
    return parse_eval_config()


# --- the result file ------------------------------------------------------------------------------


def test_result_has_episodes_tasks_and_wilson_cis():
    outcomes = {(2, 0): True, (2, 1): False, (2, 2): True, (0, 0): False, (0, 1): False}
    episodes = [
        {"task_id": t, "init_state_id": j, "success": s, "steps": 9} for (t, j), s in outcomes.items()
    ]
    result = build_result(
        episodes,
        suite="libero_spatial",
        mode="pred",
        seed=3,
        checkpoint_step=200,
        task_names={0: "a", 2: "c"},
        source="test",
        provenance={},
    )
    by_task = {t["task_id"]: t for t in result["tasks"]}
    assert by_task[2]["sr"] == pytest.approx(2 / 3) and by_task[0]["sr"] == 0.0 and by_task[2]["task"] == "c"
    assert result["overall"]["n_episodes"] == 5 and result["overall"]["successes"] == 2
    low, high = result["overall"]["sr_ci95"]
    assert 0 < low < 0.4 < high < 1


def test_checkpoint_step_follows_the_last_link(checkpoints):
    assert checkpoint_step(checkpoints["world"]) == 10
    assert checkpoint_step(checkpoints["init"]) is None


def test_plan_skips_finished_episodes_and_keeps_seeds_per_episode():
    plan = EvalPlan("libero_spatial", (0, 3), episodes_per_task=5, batch_size=2, seed=100)
    assert list(plan.batches(set())) == [
        (0, [0, 1]),
        (0, [2, 3]),
        (0, [4]),
        (3, [0, 1]),
        (3, [2, 3]),
        (3, [4]),
    ]
    assert list(plan.batches({(0, 0), (0, 1), (0, 2), (3, 4)})) == [(0, [3, 4]), (3, [0, 1]), (3, [2, 3])]
    assert plan.env_seed(3, 4) == 3104 and plan.env_seed(0, 4) != plan.env_seed(3, 4)


# --- the episode log ------------------------------------------------------------------------------


def test_episode_log_resumes_ignores_a_cut_line_and_sets_aside_another_evaluation(tmp_path):
    path = tmp_path / "pred.episodes.jsonl"
    identity = {"checkpoint": "a", "task_ids": (0, 1)}
    first = EpisodeLog(path, identity)
    first.append([{"task_id": 0, "init_state_id": 0, "success": True}])
    with path.open("a") as f:
        f.write('{"task_id": 0, "init_stat')  # killed mid-write
    resumed = EpisodeLog(path, {"checkpoint": "a", "task_ids": [0, 1]})  # tuple vs list: same identity
    assert resumed.finished() == {(0, 0)}
    resumed.append([{"task_id": 0, "init_state_id": 1, "success": False}])
    assert EpisodeLog(path, identity).finished() == {(0, 0), (0, 1)}

    other = EpisodeLog(path, {"checkpoint": "b", "task_ids": [0, 1]})  # retrained checkpoint
    assert other.finished() == set() and path.with_name(path.name + ".stale").exists()


# --- config, checkpoint, processors, overrides ----------------------------------------------------


def test_result_file_must_be_named_after_the_rollout_mode(checkpoints, monkeypatch, tmp_path):
    cfg = _parse(monkeypatch, _eval_argv(checkpoints["world"], tmp_path / "eval" / "pred.json"))
    validate(cfg)
    cfg = _parse(
        monkeypatch,
        _eval_argv(checkpoints["world"], tmp_path / "pred.json", "--policy.world_memory_mode_rollout=zero"),
    )
    with pytest.raises(EvalConfigError, match=r"name the file zero\.json"):
        validate(cfg)
    with pytest.raises(EvalConfigError, match="is not a saved policy"):
        check_checkpoint_argument(_eval_argv(tmp_path, tmp_path / "pred.json"))
    with pytest.raises(EvalConfigError, match="give the checkpoint"):
        check_checkpoint_argument(["--env.type=libero"])
    check_checkpoint_argument(["--policy.path=HuggingFaceVLA/smolvla_libero"])  # a Hub id: LeRobot's job


def _observation(b: int = 1) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "observation.images.image": torch.rand(b, 3, 64, 64, generator=g),
        "observation.images.image2": torch.rand(b, 3, 64, 64, generator=g),
        "observation.state": torch.randn(b, 8, generator=g),
        "task": ["pick up the bowl"] * b,
    }


def test_checkpoint_is_evaluated_with_its_own_processors_and_overrides(checkpoints, monkeypatch, tmp_path):
    """Saved with stats ×5 from an init checkpoint with stats ×1: the eval must use ×5, and it must not
    need the init checkpoint at all (it is moved away here)."""
    moved = checkpoints["init"].rename(checkpoints["init"].with_name("init-moved"))
    try:
        memories, encoders = {}, {}
        for mode in ("pred", "zero"):
            cfg = _parse(
                monkeypatch,
                _eval_argv(
                    checkpoints["world"],
                    tmp_path / f"{mode}.json",
                    f"--policy.world_memory_mode_rollout={mode}",
                ),
            )
            policy, pre, post = load_policy(cfg)
            assert policy.config.world_memory_mode_rollout == mode
            assert torch.allclose(post(torch.zeros(1, 7)), torch.full((1, 7), -5.0))  # ×5 mean, not ×1
            captured = []
            enter = policy.model.world_memory
            monkeypatch.setattr(
                policy.model,
                "world_memory",
                lambda mem, mask, stats=False, seen=captured, enter=enter: (
                    seen.append(mem) or enter(mem, mask)
                ),
            )
            torch.manual_seed(0)
            policy.select_action(pre(_observation()))
            memories[mode] = captured[0]
            encoders[mode] = policy._online  # a zeroed memory reads no scene: no online encoder is built
        assert memories["zero"].abs().max() == 0 and memories["pred"].abs().max() > 0
        assert encoders["zero"] is None and encoders["pred"] is not None
    finally:
        moved.rename(checkpoints["init"])


# --- the real simulator ---------------------------------------------------------------------------


def _run_eval(
    argv: list[str], cwd: Path, kill_after: int | None = None
) -> subprocess.CompletedProcess | None:
    cmd = [str(Path(sys.executable).parent / "lerobot-wm-eval"), *argv]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if kill_after is None:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    result = Path(cwd, next(a for a in argv if a.startswith("--result=")).split("=", 1)[1])
    log = result.with_suffix(".episodes.jsonl")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) > kill_after:  # header + k episodes
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    return None


def _comparable(result_file: Path) -> dict:
    result = json.loads(result_file.read_text())
    return {k: v for k, v in result.items() if k != "provenance"}


@pytest.mark.slow
def test_killed_evaluation_resumes_without_redoing_finished_episodes(checkpoints, tmp_path):
    k, n = 1, 3
    resumed = tmp_path / "a" / "eval" / "pred.json"
    argv = _eval_argv(checkpoints["world"], resumed, "--videos_per_task=1", episodes=n)
    _run_eval(argv, tmp_path, kill_after=k)
    log = resumed.with_suffix(".episodes.jsonl")
    before = log.read_text().splitlines()
    assert not resumed.exists() and len(before) == 1 + k

    done = _run_eval(argv, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming after {k} finished episode(s)" in done.stderr
    after = log.read_text().splitlines()
    assert after[: 1 + k] == before and len(after) == 1 + n  # the first k lines untouched, none twice
    assert (resumed.parent / "pred.videos" / "task0_init0.mp4").stat().st_size > 0

    straight = tmp_path / "b" / "eval" / "pred.json"
    once = _run_eval(_eval_argv(checkpoints["world"], straight, "--videos_per_task=1", episodes=n), tmp_path)
    assert once.returncode == 0, once.stderr[-3000:]
    assert _comparable(resumed) == _comparable(straight)
    result = _comparable(resumed)
    assert [(e["task_id"], e["init_state_id"]) for e in result["episodes"]] == [(0, 0), (0, 1), (0, 2)]
    assert all(1 <= e["steps"] <= 8 for e in result["episodes"]) and result["checkpoint_step"] == 10


@pytest.mark.slow
def test_the_init_policy_gate_evaluates_the_checkpoint_then_gates_its_success_rate(checkpoints, tmp_path):
    """`wmvla gates init-policy … -- <lerobot-wm-eval args>`: one command does both steps of the gate job."""
    result, record = tmp_path / "init_policy" / "libero_spatial" / "pred.json", tmp_path / "gate.json"
    argv = _eval_argv(checkpoints["init"], result, episodes=1, length=4)
    wmvla = [str(Path(sys.executable).parent / "wmvla"), "gates", "init-policy", f"--result={result}"]
    gate = [*wmvla, "--min-sr=0.5", f"--out={record}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    enforced = subprocess.run([*gate, "--enforce=true", "--", *argv], env=env, capture_output=True, text=True)
    assert enforced.returncode == 2 and "init_policy_sr[libero_spatial]: FAILED (value 0.0" in enforced.stderr
    assert json.loads(result.read_text())["overall"]["n_episodes"] == 1 and not record.exists()
    overridden = subprocess.run(
        [*gate, "--enforce=false"], env=env, capture_output=True, text=True
    )  # no eval
    assert overridden.returncode == 0, overridden.stderr[-2000:]
    assert json.loads(record.read_text())["gates"][0]["passed"] is False  # recorded for the report
