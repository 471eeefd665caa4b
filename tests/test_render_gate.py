"""Rendering only the frames something reads changes nothing but the rendering: the same episodes, records
and actions as LeRobot's rollout() (rendering both cameras at every step), for E0 and a world-branch arm."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy
from lerobot.utils import io_utils

from lerobot_policy_smolvla_world import SmolVLAWorldConfig, SmolVLAWorldPolicy
from wmvla.eval import runner
from wmvla.eval.config import parse_eval_config
from wmvla.eval.rollout import FrameNeeds, frame_needs

from .policies import TINY_WORLD, save_checkpoint, smolvla_kwargs, tiny_eval_args

CHUNK = 10  # n_action_steps of the smoke study: the world encoder reads 7 frames of 10, the policy 1


def test_frame_needs_follow_the_chunk_the_world_window_and_the_videos():
    needs = FrameNeeds(CHUNK, ("agentview_image", "wrist_image"), "agentview_image", 7, "agentview_image")
    plain = FrameNeeds(CHUNK, ("agentview_image", "wrist_image"))
    assert [t for t in range(21) if plain.cameras(t)] == [0, 10, 20]  # the policy reads once per chunk
    assert [t for t in range(21) if needs.world_reads(t)] == [
        0,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        14,
        15,
        16,
        17,
        18,
        19,
        20,
    ]
    assert needs.cameras(10) == ("agentview_image", "wrist_image") and needs.cameras(5) == (
        "agentview_image",
    )
    assert needs.cameras(2) == () and needs.cameras(2, filmed=True) == ("agentview_image",)


class _Env:
    """The two attributes of LeRobot's LIBERO vector env that frame_needs reads."""

    def get_attr(self, name: str) -> list:
        mapping = {"agentview_image": "image", "robot0_eye_in_hand_image": "image2"}
        return [mapping if name == "camera_name_mapping" else list(mapping)]


@pytest.mark.parametrize(
    ("mode", "world"), [("pred", True), ("random", True), ("zero", False), ("learned", False)]
)
def test_a_memory_that_reads_no_scene_renders_no_world_camera(mode, world):
    """E1's learned tokens and the zeroed memory need neither the world camera nor its encoder; `random`
    takes ẑ's scale, so it still reads the scene."""
    config = SimpleNamespace(
        n_action_steps=CHUNK,
        image_features=["observation.images.image", "observation.images.image2"],
        world_camera="observation.images.image",
        world_temporal_window=4,
        world_t_ctx=4,
        world_memory_mode_rollout=mode,
    )
    needs = frame_needs(config, _Env(), videos=False)
    assert (needs.world_camera == "agentview_image") is world
    assert [t for t in range(CHUNK) if needs.cameras(t)] == ([0, 4, 5, 6, 7, 8, 9] if world else [0])


def _stats(scale: float) -> dict:
    return {
        "observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)},
        "action": {"mean": torch.full((7,), 0.1 * scale), "std": torch.full((7,), scale)},
    }


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_smolvlm, tiny_vjepa2) -> dict[str, Path]:
    """E0 (smolvla) and E2 (smolvla_world, gates open so the memory shapes the actions), chunk 10."""
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    e0 = save_checkpoint(
        SmolVLAPolicy(SmolVLAConfig(**smolvla_kwargs(tiny_smolvlm, chunk=CHUNK))), _stats(1), root / "E0"
    )
    world_cfg = SmolVLAWorldConfig(
        **smolvla_kwargs(tiny_smolvlm, chunk=CHUNK), **TINY_WORLD, world_encoder_path=str(tiny_vjepa2)
    )
    world = SmolVLAWorldPolicy(world_cfg)
    for gate in world.model.world.gates().values():
        gate.data.fill_(1.0)
    return {"E0": e0, "E2": save_checkpoint(world, _stats(1), root / "E2")}


def _evaluate(monkeypatch, checkpoint: Path, result: Path, every_step: bool, batch: int, async_envs: bool):
    """Run lerobot-wm-eval in this process; returns the result and every action the policy chose."""
    actions: list[torch.Tensor] = []
    load = runner.load_policy

    def recording_load(cfg):
        policy, pre, post = load(cfg)
        select = policy.select_action
        policy.select_action = lambda batch, *a, **k: actions.append(out := select(batch, *a, **k)) or out
        return policy, pre, post

    monkeypatch.setattr(runner, "load_policy", recording_load)
    filmed: list[np.ndarray] = []  # the frames handed to the video writer (its MP4 encoding is not exact)
    write = io_utils.write_video
    monkeypatch.setattr(
        io_utils, "write_video", lambda path, clip, **kw: filmed.extend(clip) or write(path, clip, **kw)
    )
    argv = tiny_eval_args(
        checkpoint, result,
        f"--eval.use_async_envs={str(async_envs).lower()}",
        "--videos_per_task=1",
        f"--render_every_step={str(every_step).lower()}",
        episodes=batch, length=24, seed=3, batch=batch,
    )  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["lerobot-wm-eval", *argv])
    evaluation = runner.Evaluation(parse_eval_config())
    path = evaluation.run()
    return json.loads(path.read_text()), torch.stack(actions), evaluation.rollout_stats, np.stack(filmed)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arm", "batch", "async_envs"), [("E0", 1, False), ("E2", 1, False), ("E2", 2, True)]
)
def test_rendering_only_what_is_read_gives_the_same_episodes(
    monkeypatch, checkpoints, tmp_path, arm, batch, async_envs
):
    runs = {}
    for every_step in (True, False):
        result = tmp_path / ("every" if every_step else "read") / "eval" / "pred.json"
        runs[every_step] = _evaluate(monkeypatch, checkpoints[arm], result, every_step, batch, async_envs)
    (every, every_actions, every_stats, every_frames) = runs[True]
    (read, read_actions, read_stats, read_frames) = runs[False]
    strip = ("video",)
    assert [{k: v for k, v in e.items() if k not in strip} for e in read["episodes"]] == [
        {k: v for k, v in e.items() if k not in strip} for e in every["episodes"]
    ]  # success, steps, init state and seed of every episode
    torch.testing.assert_close(read_actions, every_actions, rtol=0, atol=0)  # the same frames were read
    assert read_stats["env_steps"] == every_stats["env_steps"]
    assert read_stats["renders"] < every_stats["renders"]
    # the filmed episode: every frame, reset included, the same frames both ways, all of them in the video
    assert len(read_frames) == read["episodes"][0]["steps"] + 1 and np.array_equal(read_frames, every_frames)
    assert len(_frames(tmp_path / "read/eval/pred.videos/task0_init0.mp4")) == len(read_frames)


def _frames(video: Path) -> np.ndarray:
    with av.open(str(video)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
