"""LIBERO scenes exactly as an evaluation starts them, and the simulator stack that renders them.

Why one module: the evaluation, the node preflight and the scene checks must see the same thing — LeRobot's
LIBERO env, pointed at a fixed init state, reset as `lerobot-wm-eval` resets it — and every artifact made
in the simulator records which MuJoCo, robosuite, LIBERO and OpenGL produced it.
"""

import importlib.metadata
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

SIMULATOR_PACKAGES = ("mujoco", "robosuite", "hf-libero")


@dataclass
class Scene:
    """One reset LIBERO episode: the vector env (one sub-env) and its first observation."""

    env: Any  # gymnasium vector env holding one lerobot.envs.libero.LiberoEnv
    observation: dict[str, Any]

    @property
    def libero_env(self) -> Any:
        """LeRobot's LiberoEnv (its `_env` is LIBERO's own OffScreenRenderEnv, built at reset)."""
        return self.env.envs[0]

    def frame(self, camera: str = "image") -> np.ndarray:
        """The first rendered frame of a camera, uint8 (H, W, 3), as the policy's processors receive it."""
        return np.asarray(self.observation["pixels"][camera][0])

    def close(self) -> None:
        self.env.close()


def reset_scene(suite: str, task_id: int, init_state_id: int, image_size: int, seed: int = 0) -> Scene:
    """LeRobot's LIBERO env for one task, reset on LIBERO's fixed init state `init_state_id`."""
    from lerobot.envs.configs import LiberoEnv

    from wmvla.eval.runner import make_task_env
    from wmvla.libero_setup import apply_environment_defaults

    apply_environment_defaults()
    config = LiberoEnv(task=suite, observation_height=image_size, observation_width=image_size)
    env = make_task_env(config, task_id, n_envs=1, use_async=False)
    env.set_attr("init_state_id", [init_state_id])
    observation, _ = env.reset(seed=[seed])
    return Scene(env, observation)


def gl_strings() -> dict[str, str | None]:
    """Vendor and renderer of the OpenGL context current in this thread (after a render), if any."""
    try:
        from OpenGL import GL

        return {
            key: GL.glGetString(name).decode()
            for key, name in (("gl_vendor", GL.GL_VENDOR), ("gl_renderer", GL.GL_RENDERER))
        }
    except Exception:  # no current context, or no PyOpenGL: unknown rather than wrong
        return {"gl_vendor": None, "gl_renderer": None}


def simulator_versions() -> dict[str, str | None]:
    """The simulator stack: package versions and the rendering backend (GL strings after a render)."""
    versions: dict[str, str | None] = {}
    for name in SIMULATOR_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {**versions, "mujoco_gl": os.environ.get("MUJOCO_GL"), **gl_strings()}


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


if __name__ == "__main__":  # `python -m wmvla.sim <suite> <size>`: one probe, as JSON on the last line
    result = probe(sys.argv[1], int(sys.argv[2]))
    print(json.dumps(result))
