"""Render a LIBERO camera at a step only when something will read that frame.

Why: one LeRobot `LiberoEnv` step is ~90% rendering (two cameras at 256 px, each ~10× the 25 MuJoCo
substeps of physics), yet with `n_action_steps = 10` the policy reads an observation once per chunk. The
gate wraps LeRobot's env unchanged and swaps each camera observable's sensor (robosuite) for one that
renders only if the camera is in `render_cameras`, else hands back its last frame — which nobody reads.
Physics, observable timing, rewards, success and episode ends are untouched: the sensor is called at the
same substep as before, it just skips the GL work. `render_cameras = None` renders every camera every
step (LeRobot's behaviour); a reset always renders every camera.
"""

import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

GATED = "_wmvla_render_gate"  # marks a sensor this module installed


class RenderGate(gym.Wrapper):
    """One LeRobot LiberoEnv whose camera renders follow `render_cameras` (set before each step)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.render_cameras: tuple[str, ...] | None = None  # None: all cameras (LeRobot's behaviour)
        self.renders = 0  # camera images actually rendered since the env was built (not counting resets)
        self.reset_seconds = 0.0  # time spent in resets (scene rebuild, init state, settle steps): not gated
        self._installing = False  # robosuite calls a new sensor once to check it: that call renders nothing

    def reset(self, **kwargs: Any):
        self.render_cameras = None  # the reset frame (and a soft reset's settle steps) render every camera
        started = time.perf_counter()
        observation, info = self.env.reset(**kwargs)
        self._install()
        self.reset_seconds += time.perf_counter() - started
        return observation, info

    def _robosuite_env(self) -> Any:
        return self.env.unwrapped._env.env  # LeRobot LiberoEnv → LIBERO OffScreenRenderEnv → robosuite env

    def _install(self) -> None:
        """Gate every camera observable (a hard reset builds new observables, so after each reset)."""
        suite_env = self._robosuite_env()
        self._installing = True
        try:
            for camera in self.env.unwrapped.camera_name:
                observable = suite_env._observables[camera]  # robosuite keeps no public handle on the sensor
                if not getattr(observable._sensor, GATED, False):
                    gated = self._gated_sensor(camera, observable._sensor, np.array(observable.obs))
                    suite_env.modify_observable(camera, "sensor", gated)
        finally:
            self._installing = False

    def _gated_sensor(self, camera: str, render: Callable, first_frame: np.ndarray) -> Callable:
        last = {"frame": first_frame}

        def sensor(obs_cache: dict) -> np.ndarray:
            if not self._installing and (self.render_cameras is None or camera in self.render_cameras):
                last["frame"] = render(obs_cache)
                self.renders += 1
            return last["frame"]  # a frame nobody reads this step

        sensor.__modality__ = render.__modality__  # robosuite's `sensor` decorator
        setattr(sensor, GATED, True)
        return sensor


def gated(factories: Sequence[Callable[[], gym.Env]]) -> list[Callable[[], gym.Env]]:
    """Env factories (LeRobot's, one per sub-env) whose envs come wrapped in a RenderGate."""
    return [lambda factory=factory: RenderGate(factory()) for factory in factories]
