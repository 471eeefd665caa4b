"""Evaluate a checkpoint in the LIBERO simulator, episode by episode, resumably (`lerobot-wm-eval`).

What comes from LeRobot unchanged: config parsing (`--policy.path` loads the checkpoint's own config,
`--policy.<key>=...` overrides apply on top), the policy and its saved processors, LIBERO's env
(fixed init states, settle steps, per-suite max steps), the env processors, and `rollout()` itself.
What is ours, and why: the order of episodes — each (task, init state) is one record, written as its
batch finishes, so that a preempted job resumes where it stopped (`lerobot-eval` keeps everything in
memory until the end) — and the result file with the identities the paired statistics need.
"""

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lerobot.configs import parser
from lerobot.configs.eval import EvalPipelineConfig
from tqdm import tqdm

from wmvla.errors import WmvlaError
from wmvla.eval.episode_log import EpisodeLog
from wmvla.eval.results import build_result, write_result
from wmvla.provenance import now, provenance_record

log = logging.getLogger(__name__)

PLAIN_POLICY_MODE = "pred"  # a policy without world memory is evaluated "as trained"
DEFAULT_CAMERAS = {"agentview_image": "image", "robot0_eye_in_hand_image": "image2"}  # LeRobot's mapping


class EvalConfigError(WmvlaError, ValueError):
    """The evaluation request is inconsistent (no checkpoint, wrong env, file name ≠ rollout mode…)."""


@dataclass
class WmEvalConfig(EvalPipelineConfig):
    """`lerobot-eval`'s config plus where the result goes and how many episodes to film."""

    result: Path | None = None  # eval/<mode>.json; its per-episode log and videos are written next to it
    videos_per_task: int = 0  # film the first k init states of every task (MP4, env's first camera)


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
    return getattr(policy_cfg, "world_memory_mode_rollout", None) or PLAIN_POLICY_MODE


def checkpoint_step(pretrained_model_dir: Path) -> int | None:
    """Training step of a LeRobot checkpoint (`<step>/pretrained_model` next to `training_state`)."""
    step_file = Path(pretrained_model_dir).resolve().parent / "training_state" / "training_step.json"
    if not step_file.is_file():
        return None
    return int(json.loads(step_file.read_text())["step"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


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
    """What decides an outcome besides the weights: recorded with every result, equal across arms."""
    from lerobot.envs.libero import TASK_SUITE_MAX_STEPS

    env, policy = cfg.env, cfg.policy
    return {
        "n_action_steps": getattr(policy, "n_action_steps", None),
        "num_steps": getattr(policy, "num_steps", None),  # flow-matching denoising steps
        "episode_length": env.episode_length or TASK_SUITE_MAX_STEPS.get(env.task),
        "control_freq": env.fps,
        "image_size": [env.observation_height, env.observation_width],
        "cameras": env.camera_name_mapping or DEFAULT_CAMERAS,
        "init_states": env.init_states,
        "hard_reset": env.hard_reset,
    }


def simulator_packages() -> dict[str, str | None]:
    """The simulator's package versions and rendering backend (known before anything renders)."""
    from wmvla.sim import simulator_versions

    return {k: v for k, v in simulator_versions().items() if not k.startswith("gl_")}


def make_plan(cfg: WmEvalConfig) -> EvalPlan:
    from lerobot.envs.libero import get_task_init_states

    from wmvla.data.suites import libero_suite

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


def load_policy(cfg: WmEvalConfig):
    """The checkpoint's policy and its own saved processors (never rebuilt from an init checkpoint)."""
    from lerobot.policies import make_policy, make_pre_post_processors

    policy = make_policy(cfg=cfg.policy, env_cfg=cfg.env, rename_map=cfg.rename_map)
    policy.eval()
    preprocessor, postprocessor = make_pre_post_processors(
        policy_cfg=cfg.policy,
        pretrained_path=str(cfg.policy.pretrained_path),
        preprocessor_overrides={
            "device_processor": {"device": str(policy.config.device)},
            "rename_observations_processor": {"rename_map": cfg.rename_map},
        },
    )
    return policy, preprocessor, postprocessor


def make_task_env(env_cfg: Any, task_id: int, n_envs: int, use_async: bool):
    """One task's vector env whose sub-envs can be pointed at any init state (`set_attr`).

    Why not `make_env`: it builds every task's env up front and hides async envs behind a lazy proxy
    without `set_attr`; the envs themselves are LeRobot's, built by its own LIBERO factory.
    """
    import gymnasium as gym
    from lerobot.envs.libero import create_libero_envs
    from lerobot.envs.utils import freeze_after_episode_end

    if use_async and n_envs > 1:

        def env_cls(fns):
            return gym.vector.AsyncVectorEnv(
                [freeze_after_episode_end(fn) for fn in fns],
                context="forkserver",
                shared_memory=True,
                autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
            )
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
        episode_length=env_cfg.episode_length,
        camera_name_mapping=env_cfg.camera_name_mapping,
        is_libero_plus=env_cfg.is_libero_plus,
    )
    return envs[env_cfg.task][task_id]


def _rendering() -> dict[str, str | None]:
    from wmvla.sim import gl_strings

    strings = gl_strings()
    return strings if any(strings.values()) else {}  # async envs render in their own processes


class Evaluation:
    """One checkpoint × one suite × one rollout mode: runs the pending episodes, then writes the result."""

    def __init__(self, cfg: WmEvalConfig) -> None:
        validate(cfg)
        self.cfg, self.plan, self.mode = cfg, make_plan(cfg), rollout_mode(cfg.policy)
        self.result_path = Path(cfg.result)
        self.videos_dir = self.result_path.with_suffix(".videos")
        self.overrides = parser.get_cli_overrides("policy") or []
        weights = Path(cfg.policy.pretrained_path, "model.safetensors")
        identity = {
            "checkpoint": str(cfg.policy.pretrained_path),
            "weights_sha256": _sha256(weights),
            "policy_overrides": self.overrides,
            **dataclasses.asdict(self.plan),
            "protocol": evaluation_protocol(cfg),
            "simulator": simulator_packages(),  # resuming under another simulator is another evaluation
        }
        self.log = EpisodeLog(self.result_path.with_suffix(".episodes.jsonl"), identity)
        self._gl: dict[str, str | None] = {}  # OpenGL vendor/renderer, once this process has rendered

    def run(self) -> Path:
        from lerobot.envs import make_env_pre_post_processors

        started = now()
        plan, cfg = self.plan, self.cfg
        todo = list(plan.batches(self.log.finished()))
        total = len(plan.task_ids) * plan.episodes_per_task
        progress = tqdm(total=total, initial=total - sum(len(ids) for _, ids in todo), unit="episode")
        progress.set_description(f"{plan.suite} {self.mode}")
        self._show_rate(progress)
        if todo:
            policy, preprocessor, postprocessor = load_policy(cfg)
            env_pre, env_post = make_env_pre_post_processors(env_cfg=cfg.env, policy_cfg=cfg.policy)
            processors = (env_pre, env_post, preprocessor, postprocessor)
            for task_id in dict.fromkeys(t for t, _ in todo):
                env = make_task_env(cfg.env, task_id, plan.batch_size, cfg.eval.use_async_envs)
                try:
                    for _, ids in (batch for batch in todo if batch[0] == task_id):
                        records = self._run_batch(env, policy, processors, task_id, ids)
                        self._gl = self._gl or _rendering()
                        self.log.append(records)
                        progress.update(len(records))
                        self._show_rate(progress)
                finally:
                    env.close()
        progress.close()
        return self._write_result(started)

    def _show_rate(self, progress: tqdm) -> None:
        done = self.log.episodes
        if done:
            progress.set_postfix(sr=f"{sum(e['success'] for e in done) / len(done):.3f}")

    def _run_batch(self, env, policy, processors, task_id: int, ids: list[int]) -> list[dict[str, Any]]:
        """Roll out init states `ids` of one task (padded to the env count; extras are discarded)."""
        from lerobot.scripts.lerobot_eval import rollout
        from lerobot.utils.random_utils import set_seed

        plan = self.plan
        padded = ids + [ids[-1]] * (env.num_envs - len(ids))
        env.set_attr("init_state_id", padded)
        if list(env.get_attr("init_state_id")) != padded:  # the next reset must start from these states
            raise RuntimeError(f"could not point the LIBERO envs at init states {padded}")
        seeds = [plan.env_seed(task_id, j) for j in padded]
        set_seed(seeds[0])  # the policy's sampling noise: same draw for this batch on every resume
        filmed = [i for i, j in enumerate(ids) if j < self.cfg.videos_per_task]
        frames: list[np.ndarray] = []
        env_pre, env_post, preprocessor, postprocessor = processors
        with torch.no_grad():
            data = rollout(
                env=env,
                policy=policy,
                env_preprocessor=env_pre,
                env_postprocessor=env_post,
                preprocessor=preprocessor,
                postprocessor=postprocessor,
                seeds=seeds,
                render_callback=(lambda e: frames.append(np.stack(e.call("render")))) if filmed else None,
            )
        done_at = torch.argmax(data["done"].to(int), dim=1)  # first done step (forced at max steps)
        steps = torch.arange(data["done"].shape[1])
        success = (data["success"] & (steps[None, :] <= done_at[:, None])).any(dim=1)
        records = []
        for i, j in enumerate(ids):
            record = {
                "task_id": task_id,
                "init_state_id": j,
                "success": bool(success[i]),
                "steps": int(done_at[i]) + 1,
                "env_seed": seeds[i],
            }
            if i in filmed:
                record["video"] = self._write_video(frames, i, record)
            records.append(record)
        return records

    def _write_video(self, frames: list[np.ndarray], env_index: int, record: dict[str, Any]) -> str:
        from lerobot.utils.io_utils import write_video

        name = f"task{record['task_id']}_init{record['init_state_id']}.mp4"
        self.videos_dir.mkdir(parents=True, exist_ok=True)
        clip = [f[env_index] for f in frames[: record["steps"] + 1]]  # reset frame + one per step
        write_video(self.videos_dir / name, clip, fps=self.cfg.env.fps)
        return f"{self.videos_dir.name}/{name}"

    def _write_result(self, started: str) -> Path:
        from wmvla.data.suites import suite_tasks

        episodes = sorted(self.log.episodes, key=lambda e: (e["task_id"], e["init_state_id"]))
        names = suite_tasks(self.plan.suite)
        checkpoint = Path(self.cfg.policy.pretrained_path)
        result = build_result(
            episodes,
            suite=self.plan.suite,
            mode=self.mode,
            seed=self.plan.seed,
            checkpoint_step=checkpoint_step(checkpoint),
            task_names={t: names[t] for t in self.plan.task_ids},
            source="lerobot-wm-eval",
            provenance=provenance_record(
                self.log.identity, started, {"policy_type": self.cfg.policy.type, **self._gl}
            ),
        )
        write_result(result, self.result_path)
        overall = result["overall"]
        log.info(
            "%s: SR %.3f [%.3f, %.3f] over %d episodes",
            self.result_path,
            overall["sr"],
            *overall["sr_ci95"],
            overall["n_episodes"],
        )
        return self.result_path
