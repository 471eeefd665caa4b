"""What `lerobot-wm-eval` is asked to do: its config (LeRobot's eval config plus ours), the checks on it, the
episodes it runs, and the protocol it records.

Why apart from the runner: these are pure functions of the parsed config, testable without a simulator.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lerobot.configs import parser
from lerobot.configs.eval import EvalPipelineConfig

from wmvla.data.suites import libero_suite
from wmvla.errors import WmvlaError
from wmvla.sim.envs import suite_episode_length
from wmvla.sim.versions import simulator_versions

AS_TRAINED = "pred"  # the evaluation mode of a policy rolled out with the memory it was trained with
DEFAULT_CAMERAS = {"agentview_image": "image", "robot0_eye_in_hand_image": "image2"}  # LeRobot's mapping


class EvalConfigError(WmvlaError, ValueError):
    """The evaluation request is inconsistent (no checkpoint, wrong env, file name ≠ rollout mode…)."""


@dataclass
class WmEvalConfig(EvalPipelineConfig):
    """`lerobot-eval`'s config plus where the result goes and how many episodes to film."""

    result: Path | None = None  # eval/<mode>.json; its per-episode log and videos are written next to it
    videos_per_task: int = 0  # film the first k init states of every task (MP4, env's first camera)
    # LeRobot's rollout(), rendering and preprocessing both cameras at every step (for comparison and
    # debugging); by default only the frames something reads are rendered (wmvla.eval.rollout).
    render_every_step: bool = False


@dataclass(frozen=True)
class EvalPlan:
    """Which episodes an evaluation runs: init states 0..n-1 of every task, in batches of vector envs."""

    suite: str
    task_ids: tuple[int, ...]
    episodes_per_task: int
    batch_size: int
    seed: int

    def batches(self, finished: set[tuple[int, int]]) -> Iterator[tuple[int, list[int]]]:
        """(task_id, init_state_ids) of every batch still to run; finished episodes are skipped."""
        for task_id in self.task_ids:
            pending = [j for j in range(self.episodes_per_task) if (task_id, j) not in finished]
            for start in range(0, len(pending), self.batch_size):
                yield task_id, pending[start : start + self.batch_size]

    def env_seed(self, task_id: int, init_state_id: int) -> int:
        """The same episode gets the same seed in every experiment and on every resume (paired)."""
        return self.seed + 1000 * task_id + init_state_id


@parser.wrap()
def parse_eval_config(cfg: WmEvalConfig) -> WmEvalConfig:
    """The config of `lerobot-wm-eval`, parsed from `sys.argv` by LeRobot's own parser.

    (LeRobot reads `--policy.path` from `sys.argv` itself, so there is no argv parameter.)
    """
    return cfg


def rollout_mode(policy_cfg: Any) -> str:
    """The evaluation mode a result is named after: `pred`, the policy as trained — the Prophet's predictions
    for E2, the learned memory tokens for E1, no memory for plain SmolVLA — or the ablation that replaced
    its memory at rollout (`zero`, `random`)."""
    from wmvla.world.settings import default_rollout_mode

    rollout = getattr(policy_cfg, "world_memory_mode_rollout", None)
    if rollout is None:
        return AS_TRAINED
    trained = policy_cfg.world_memory_mode_train
    if rollout == default_rollout_mode(trained):
        return AS_TRAINED
    if rollout == "pred":
        raise EvalConfigError(
            f"--policy.world_memory_mode_rollout=pred on a policy trained with {trained!r} memory: an "
            "evaluation is as trained (leave the mode unset) or an ablation (zero, random)"
        )
    return rollout


def check_checkpoint_argument(argv: list[str]) -> None:
    """Fail clearly on a `--policy.path` that is no checkpoint, before LeRobot's parser tries the Hub.

    A Hub id is `owner/name`; anything else is a local path and must hold a saved policy.
    """
    paths = [a.split("=", 1)[1] for a in argv if a.startswith("--policy.path=")]
    if not paths:
        raise EvalConfigError("give the checkpoint to evaluate: --policy.path=<dir>/pretrained_model")
    path = Path(paths[-1])
    looks_local = path.exists() or path.is_absolute() or paths[-1].startswith(".") or len(path.parts) > 2
    missing = [f for f in ("config.json", "model.safetensors") if not (path / f).is_file()]
    if looks_local and missing:
        raise EvalConfigError(f"--policy.path={path} is not a saved policy (no {' or '.join(missing)})")


def validate(cfg: WmEvalConfig) -> None:
    if cfg.policy is None or cfg.policy.pretrained_path is None:
        raise EvalConfigError("give the checkpoint to evaluate: --policy.path=<dir>/pretrained_model")
    if cfg.env.type != "libero":
        raise EvalConfigError(f"lerobot-wm-eval runs LIBERO; got --env.type={cfg.env.type}")
    if not cfg.env.task or "," in cfg.env.task:
        raise EvalConfigError(f"give exactly one LIBERO suite as --env.task (got {cfg.env.task!r})")
    if not cfg.env.init_states:
        raise EvalConfigError("--env.init_states=false: episodes must start from LIBERO's fixed init states")
    if cfg.result is None or Path(cfg.result).suffix != ".json":
        raise EvalConfigError("give the result file: --result=<dir>/eval/<mode>.json")
    mode = rollout_mode(cfg.policy)
    if Path(cfg.result).stem != mode:
        raise EvalConfigError(
            f"--result={cfg.result} but the policy rolls out with memory mode {mode!r}: "
            f"name the file {mode}.json or set --policy.world_memory_mode_rollout"
        )
    if cfg.videos_per_task < 0:
        raise EvalConfigError(f"--videos_per_task must be >= 0, got {cfg.videos_per_task}")


def evaluation_protocol(cfg: WmEvalConfig) -> dict[str, Any]:
    """What decides an outcome besides the weights: recorded with every result, equal across arms. The
    episode length is the one run: given, else the (plain) suite's (`wmvla.sim.envs.suite_episode_length`)."""
    env, policy = cfg.env, cfg.policy
    return {
        "n_action_steps": getattr(policy, "n_action_steps", None),
        "num_steps": getattr(policy, "num_steps", None),  # flow-matching denoising steps
        "episode_length": suite_episode_length(env.task, env.episode_length),
        "control_freq": env.fps,
        "image_size": [env.observation_height, env.observation_width],
        "cameras": env.camera_name_mapping or DEFAULT_CAMERAS,
        "init_states": env.init_states,
        "hard_reset": env.hard_reset,
        "rendering": "every step" if cfg.render_every_step else "frames read",
    }


def simulator_packages() -> dict[str, str | None]:
    """The simulator's package versions and rendering backend (known before anything renders)."""
    return {k: v for k, v in simulator_versions().items() if not k.startswith("gl_")}


def make_plan(cfg: WmEvalConfig) -> EvalPlan:
    from lerobot.envs.libero import get_task_init_states

    suite = libero_suite(cfg.env.task)
    task_ids = tuple(cfg.env.task_ids) if cfg.env.task_ids is not None else tuple(range(suite.n_tasks))
    if unknown := [t for t in task_ids if not 0 <= t < suite.n_tasks]:
        raise EvalConfigError(f"{cfg.env.task} has tasks 0..{suite.n_tasks - 1}; unknown task ids {unknown}")
    states = min(len(get_task_init_states(suite, t)) for t in task_ids)
    if cfg.eval.n_episodes > states:
        raise EvalConfigError(
            f"--eval.n_episodes={cfg.eval.n_episodes} but LIBERO has {states} fixed init states per task"
        )
    return EvalPlan(cfg.env.task, task_ids, cfg.eval.n_episodes, cfg.eval.batch_size, cfg.seed or 0)
