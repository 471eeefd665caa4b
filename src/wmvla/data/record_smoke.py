"""Record the smoke dataset: a few short LIBERO episodes from the real simulator, in LeRobot format.

Why: the Hub datasets cannot be downloaded on offline machines, yet the pipeline must be exercised
on data that has the exact keys, shapes, image orientation and state convention the policy sees at
evaluation time. Observations therefore go through the same LeRobot path `lerobot-eval` uses
(`make_env` → `preprocess_observation` → LIBERO env processor). A seeded, smooth random-walk
policy explores; the same spec gives the same dataset.
"""

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from wmvla.data.features import ACTION_DIM, IMAGE_KEYS, STATE_KEY, libero_features
from wmvla.errors import OutputExistsError, WmvlaError

log = logging.getLogger(__name__)


class SmokeSpecError(WmvlaError, ValueError):
    """The recording spec is impossible (e.g. zero steps)."""


@dataclass(frozen=True)
class SmokeSpec:
    """What to record. Episodes use LIBERO's fixed init states 0..episodes_per_task-1 of each task."""

    repo_id: str = "wmvla/libero_smoke"
    suite: str = "libero_spatial"
    task_ids: tuple[int, ...] = (0, 1)
    episodes_per_task: int = 2
    steps_per_episode: int = 40
    image_size: int = 64
    fps: int = 20  # LIBERO's control frequency: one frame per env step
    seed: int = 0
    # Random-walk policy: action_t = momentum * action_{t-1} + (1 - momentum) * N(0, scale).
    momentum: float = 0.8
    action_scale: float = 0.6
    gripper_flip_prob: float = 0.05

    def __post_init__(self) -> None:
        for name in ("episodes_per_task", "steps_per_episode", "image_size", "fps"):
            if getattr(self, name) <= 0:
                raise SmokeSpecError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.task_ids:
            raise SmokeSpecError("task_ids must name at least one task")


class ExploratoryPolicy:
    """Smooth, seeded random actions in LIBERO's normalised delta-EEF space, with gripper toggles."""

    def __init__(self, spec: SmokeSpec, rng: np.random.Generator):
        self.spec, self.rng = spec, rng
        self.motion = np.zeros(ACTION_DIM - 1)
        self.gripper = -1.0  # open

    def __call__(self) -> np.ndarray:
        s = self.spec
        noise = self.rng.normal(0.0, s.action_scale, size=ACTION_DIM - 1)
        self.motion = s.momentum * self.motion + (1.0 - s.momentum) * noise
        if self.rng.random() < s.gripper_flip_prob:
            self.gripper = -self.gripper
        return np.clip(np.append(self.motion, self.gripper), -1.0, 1.0).astype(np.float32)


def _to_uint8_hwc(image: torch.Tensor) -> np.ndarray:
    """Undo `preprocess_observation`'s uint8→[0,1] scaling exactly (values are k/255)."""
    return (image[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def _record_task(dataset, spec: SmokeSpec, task_id: int, progress: tqdm) -> None:
    from lerobot.envs.configs import LiberoEnv as LiberoEnvConfig
    from lerobot.envs.factory import make_env
    from lerobot.envs.utils import preprocess_observation

    env_cfg = LiberoEnvConfig(
        task=spec.suite,
        task_ids=[task_id],
        observation_height=spec.image_size,
        observation_width=spec.image_size,
        episode_length=spec.steps_per_episode,
    )
    env = make_env(env_cfg, n_envs=1)[spec.suite][task_id]
    env_preprocessor, _ = env_cfg.get_env_processors()
    try:
        (instruction,) = env.call("task_description")
        for episode in range(spec.episodes_per_task):
            rng = np.random.default_rng([spec.seed, task_id, episode])
            policy = ExploratoryPolicy(spec, rng)
            raw, _ = env.reset(seed=[spec.seed])
            for _ in range(spec.steps_per_episode):
                obs = env_preprocessor(preprocess_observation(raw))
                action = policy()
                dataset.add_frame(
                    {
                        IMAGE_KEYS[0]: _to_uint8_hwc(obs[IMAGE_KEYS[0]]),
                        IMAGE_KEYS[1]: _to_uint8_hwc(obs[IMAGE_KEYS[1]]),
                        STATE_KEY: obs[STATE_KEY][0].numpy().astype(np.float32),
                        "action": action,
                        "task": instruction,
                    }
                )
                raw, _, terminated, truncated, _ = env.step(action[None])
                progress.update(1)
                if terminated[0] or truncated[0]:
                    break
            dataset.save_episode()
            log.info("task %d episode %d: %s", task_id, episode, instruction)
    finally:
        env.close()


def record_smoke_dataset(out_dir: Path, spec: SmokeSpec) -> Path:
    """Record into a temporary sibling directory and move it into place only when complete."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise OutputExistsError(f"{out_dir} already exists; remove it to record again")
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)

    dataset = LeRobotDataset.create(
        repo_id=spec.repo_id,
        fps=spec.fps,
        features=libero_features(spec.image_size),
        root=staging,
        robot_type="panda",
        use_videos=False,
    )
    total = len(spec.task_ids) * spec.episodes_per_task * spec.steps_per_episode
    with tqdm(total=total, desc="recording smoke dataset", unit="step") as progress:
        for task_id in spec.task_ids:
            _record_task(dataset, spec, task_id, progress)
    dataset.finalize()
    staging.rename(out_dir)
    return out_dir
