"""LIBERO task envs exactly as an evaluation builds and resets them.

Why one module: the evaluation, the node preflight and the scene checks must see the same thing — LeRobot's
LIBERO env, pointed at a fixed init state, reset as `lerobot-wm-eval` resets it.
"""

import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from wmvla.sim.instructions import instructed, instruction_from_bddl, policy_instructions
from wmvla.sim.perturbations import is_perturbed, split_suite
from wmvla.sim.render_gate import gated
from wmvla.sim.setup import apply_environment_defaults
from wmvla.sim.versions import simulator_versions


@dataclass
class Scene:
    """One reset LIBERO episode: the vector env (one sub-env) and its first observation."""

    env: Any  # gymnasium vector env holding one lerobot.envs.libero.LiberoEnv
    observation: dict[str, Any]

    @property
    def libero_env(self) -> Any:
        """LeRobot's LiberoEnv (its `_env` is LIBERO's own OffScreenRenderEnv, built at reset)."""
        return self.env.envs[0].unwrapped

    def frame(self, camera: str = "image") -> np.ndarray:
        """The first rendered frame of a camera, uint8 (H, W, 3), as the policy's processors receive it."""
        return np.asarray(self.observation["pixels"][camera][0])

    def close(self) -> None:
        self.env.close()


def suite_episode_length(suite: str, given: int | None) -> int | None:
    """The episode length an evaluation of `suite` runs: `given`, else its plain suite's (LeRobot's
    `TASK_SUITE_MAX_STEPS`; a suite LeRobot does not know, such as a LIBERO-PRO variant, would get 500)."""
    if given is not None:
        return given
    from lerobot.envs.libero import TASK_SUITE_MAX_STEPS

    return TASK_SUITE_MAX_STEPS.get(split_suite(suite)[0])


def make_task_env(env_cfg: Any, task_id: int, n_envs: int, use_async: bool, gate_renders: bool = False):
    """One task's vector env whose sub-envs can be pointed at any init state (`set_attr`); with
    `gate_renders`, each sub-env renders only the cameras it is told to (`wmvla.sim.render_gate`). A
    LIBERO-PRO variant runs its plain suite's episode length unless given one, and its envs describe the
    task by the variant's own instruction (`wmvla.sim.instructions`).

    Why not `make_env`: it builds every task's env up front and hides async envs behind a lazy proxy
    without `set_attr`; the envs themselves are LeRobot's, built by its own LIBERO factory.
    """
    import gymnasium as gym
    from lerobot.envs.libero import create_libero_envs
    from lerobot.envs.utils import freeze_after_episode_end

    own = policy_instructions(env_cfg.task)[task_id] if instruction_from_bddl(env_cfg.task) else None

    def wrapped(fns):
        fns = instructed(fns, own) if own is not None else fns
        return gated(fns) if gate_renders else fns

    if use_async and n_envs > 1:

        def env_cls(fns):
            return gym.vector.AsyncVectorEnv(
                [freeze_after_episode_end(fn) for fn in wrapped(fns)],
                context="forkserver",
                shared_memory=True,
                autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
            )
    elif gate_renders or own is not None:

        def env_cls(fns):
            return gym.vector.SyncVectorEnv(wrapped(fns), autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    else:
        env_cls = gym.vector.SyncVectorEnv
    envs = create_libero_envs(
        task=env_cfg.task,
        n_envs=n_envs,
        camera_name=env_cfg.camera_name,
        init_states=env_cfg.init_states,
        gym_kwargs={**env_cfg.gym_kwargs, "task_ids": [task_id]},
        env_cls=env_cls,
        control_mode=env_cfg.control_mode,
        episode_length=(  # a plain suite's left to LeRobot, as always
            suite_episode_length(env_cfg.task, env_cfg.episode_length)
            if is_perturbed(env_cfg.task)
            else env_cfg.episode_length
        ),
        camera_name_mapping=env_cfg.camera_name_mapping,
        is_libero_plus=env_cfg.is_libero_plus,
    )
    return envs[env_cfg.task][task_id]


def reset_scene(suite: str, task_id: int, init_state_id: int, image_size: int, seed: int = 0) -> Scene:
    """LeRobot's LIBERO env for one task, reset on LIBERO's fixed init state `init_state_id`."""
    from lerobot.envs.configs import LiberoEnv

    apply_environment_defaults()
    config = LiberoEnv(task=suite, observation_height=image_size, observation_width=image_size)
    env = make_task_env(config, task_id, n_envs=1, use_async=False)
    env.set_attr("init_state_id", [init_state_id])
    observation, _ = env.reset(seed=[seed])
    return Scene(env, observation)


def probe(suite: str, image_size: int) -> dict[str, Any]:
    """Render the first frame of a suite's task 0 (init state 0): what the node preflight runs."""
    started = time.perf_counter()
    scene = reset_scene(suite, 0, 0, image_size)
    try:
        frame = scene.frame()
        return {
            "suite": suite,
            "shape": list(frame.shape),
            "mean_rgb": [round(float(v), 2) for v in frame.reshape(-1, 3).mean(axis=0)],
            "std": round(float(frame.std()), 2),
            "seconds": round(time.perf_counter() - started, 2),
            **simulator_versions(),
        }
    finally:
        scene.close()


if __name__ == "__main__":  # `python -m wmvla.sim.envs <suite> <size>`: one probe, as JSON on the last line
    from wmvla.sim.pro import use_simulator_for

    use_simulator_for(sys.argv[1])
    result = probe(sys.argv[1], int(sys.argv[2]))
    print(json.dumps(result))
