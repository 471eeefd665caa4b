"""A batch of LIBERO episodes rolled out rendering only the frames something reads (`lerobot-wm-eval`).

Why not LeRobot's `rollout()`: it renders and preprocesses both cameras at every step, yet the policy reads
an observation once per action chunk (`n_action_steps`); the world-branch arms' online encoder reads the world
camera at the `T_ctx + m - 1` steps before each chunk boundary; a filmed episode needs every frame of the
filmed camera. This loop steps the same envs with the same policy calls in the same order — `select_action`
every step, `reset` at the start, the same seeds — so physics, rewards, success and episode ends are those of
`rollout()`; it only tells each env which cameras to render next (`wmvla.sim.render_gate`) and hands the
policy exactly the frames it reads (nothing at a step whose observation nobody reads).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from lerobot.envs.utils import NEW_ROLLOUT_OPTION, preprocess_observation
from lerobot.utils.constants import ACTION, OBS_IMAGES

from wmvla.world.memory import reads_scene


@dataclass(frozen=True)
class FrameNeeds:
    """Which cameras must be rendered for the frame of episode step t (t = 0: the reset frame)."""

    n_action_steps: int  # the policy reads an observation when its action queue is empty: every n steps
    policy_cameras: tuple[str, ...]  # env cameras behind the policy's image features
    world_camera: str | None = None  # env camera the online world encoder reads (None: no world branch)
    world_frames: int = 0  # frames it reads up to and including each chunk boundary: T_ctx + m - 1
    filmed_camera: str | None = None  # env camera of the videos (every frame of a filmed episode)

    def __post_init__(self) -> None:
        if self.n_action_steps < 1:
            raise ValueError(f"n_action_steps must be >= 1, got {self.n_action_steps}")

    def policy_reads(self, t: int) -> bool:
        return t % self.n_action_steps == 0

    def world_reads(self, t: int) -> bool:
        """The encoder reads frame t if the next chunk boundary is fewer than `world_frames` steps away."""
        return self.world_camera is not None and (-t) % self.n_action_steps < self.world_frames

    def cameras(self, t: int, filmed: bool = False) -> tuple[str, ...]:
        needed = set(self.policy_cameras) if self.policy_reads(t) else set()
        if self.world_reads(t):
            needed.add(self.world_camera)
        if filmed and self.filmed_camera:
            needed.add(self.filmed_camera)
        return tuple(sorted(needed))


def frame_needs(policy_config: Any, env: Any, videos: bool) -> FrameNeeds:
    """What the policy config (`n_action_steps`, image features, world camera, temporal_window and T_ctx, and
    whether its rollout memory reads the scene at all) and the env's cameras (their names and mapping) say
    must be rendered; nothing per arm is written by hand."""
    mapping, cameras = env.get_attr("camera_name_mapping")[0], env.get_attr("camera_name")[0]
    to_env = {f"{OBS_IMAGES}.{key}": camera for camera, key in mapping.items()}
    unknown = [key for key in policy_config.image_features if key not in to_env]
    if unknown:
        raise ValueError(
            f"the policy reads {unknown}, which no camera of the env provides ({sorted(to_env)})"
        )
    world = getattr(policy_config, "world_camera", None)
    if not reads_scene(getattr(policy_config, "world_memory_mode_rollout", None) or "pred"):
        world = None  # learned or zeroed memory: nothing reads the world camera
    if world is not None and world not in to_env:
        raise ValueError(f"the world camera {world} is no camera of the env ({sorted(to_env)})")
    temporal_window, t_ctx = (
        getattr(policy_config, "world_temporal_window", 0),
        getattr(policy_config, "world_t_ctx", 0),
    )
    return FrameNeeds(
        n_action_steps=policy_config.n_action_steps,
        policy_cameras=tuple(sorted(to_env[key] for key in policy_config.image_features)),
        world_camera=to_env[world] if world else None,
        world_frames=t_ctx + temporal_window - 1 if world else 0,
        filmed_camera=cameras[0] if videos else None,  # LeRobot's LiberoEnv.render(): the first camera
    )


def _read_only(observation: dict, cameras: tuple[str, ...], mapping: dict[str, str]) -> dict:
    """The observation without the images of cameras not rendered for this frame."""
    keep = {mapping[camera] for camera in cameras}
    return {**observation, "pixels": {k: v for k, v in observation["pixels"].items() if k in keep}}


def _successes(info: dict, n_envs: int) -> list[bool]:
    """`is_success` of each env after a step, as LeRobot's rollout reads it from a vector env's info."""
    final = info.get("final_info")
    source = final if isinstance(final, dict) else info
    if "is_success" in source:
        value = source["is_success"]
        return [bool(v) for v in value] if hasattr(value, "__len__") else [bool(value)] * n_envs
    return [False] * n_envs


@dataclass
class SparseRollout:
    """One batch of episodes: the envs (wrapped in render gates), the policy and its processors."""

    env: Any  # gymnasium vector env of RenderGate-wrapped LiberoEnvs
    policy: Any
    processors: tuple[Any, Any, Any, Any]  # env pre/post, policy pre/post (LeRobot's)
    needs: FrameNeeds
    filmed: tuple[bool, ...]  # per env: record every frame for a video

    def _gate(self, t: int) -> None:
        cameras = [self.needs.cameras(t, filmed) for filmed in self.filmed]
        if cameras != getattr(self, "_gated", None):  # one call per change, not per step
            self.env.set_attr("render_cameras", cameras)
            self._gated = cameras

    def _policy_input(self, observation: dict, t: int) -> dict:
        """What the policy reads at step t, through LeRobot's processors; {} when it reads nothing."""
        cameras = tuple(sorted(set(self.needs.policy_cameras) if self.needs.policy_reads(t) else set()))
        if self.needs.world_reads(t):
            cameras = tuple(sorted({*cameras, self.needs.world_camera}))
        if not cameras:
            return {}
        env_pre, _, pre, _ = self.processors
        mapping = self.env.get_attr("camera_name_mapping")[0]
        batch = preprocess_observation(_read_only(observation, cameras, mapping))
        batch["task"] = list(self.env.call("task_description"))
        return pre(env_pre(batch))

    def run(self, seeds: list[int], on_frame=None) -> dict[str, torch.Tensor]:
        """Roll out to the end of every episode; `done` and `success` per env and step, as `rollout()`."""
        _, env_post, _, post = self.processors
        self.policy.reset()
        observation, _ = self.env.reset(seed=seeds, options={NEW_ROLLOUT_OPTION: True})
        if on_frame is not None:
            on_frame(self.env)
        done = np.zeros(self.env.num_envs, dtype=bool)
        max_steps = self.env.call("_max_episode_steps")[0]
        dones, successes = [], []
        for t in range(max_steps):
            if np.all(done):
                break
            with torch.inference_mode():
                action = self.policy.select_action(self._policy_input(observation, t))
            action = env_post({ACTION: post(action)})[ACTION].to("cpu").numpy()
            self._gate(t + 1)
            observation, _, terminated, truncated, info = self.env.step(action)
            if on_frame is not None:
                on_frame(self.env)
            done = terminated | truncated | done
            if t + 1 == max_steps:
                done = np.ones_like(done, dtype=bool)
            dones.append(torch.from_numpy(done.copy()))
            successes.append(torch.tensor(_successes(info, self.env.num_envs)))
        return {"done": torch.stack(dones, dim=1), "success": torch.stack(successes, dim=1)}
