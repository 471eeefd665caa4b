"""Evaluate a checkpoint in the LIBERO simulator, episode by episode, resumably (`lerobot-wm-eval`).

What comes from LeRobot unchanged: config parsing (`--policy.path` loads the checkpoint's own config,
`--policy.<key>=...` overrides apply on top), the policy and its saved processors, LIBERO's env
(fixed init states, settle steps, per-suite max steps) and the env processors; `rollout()` itself with
`--render_every_step=true`. What is ours, and why: the rollout that renders only the frames something reads
(wmvla.eval.rollout: the same episodes at a fraction of the rendering), the order of episodes — each
(task, init state) is one record, written as its batch finishes, so that a preempted job resumes where it
stopped (`lerobot-eval` keeps everything in memory until the end) — and the result file with the
identities the paired statistics need.
"""

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lerobot.configs import parser
from tqdm import tqdm

from wmvla.data.suites import suite_tasks
from wmvla.eval.config import (
    WmEvalConfig,
    evaluation_protocol,
    make_plan,
    rollout_mode,
    simulator_packages,
    validate,
)
from wmvla.eval.episode_log import EpisodeLog
from wmvla.eval.results import build_result, write_result
from wmvla.eval.rollout import SparseRollout, frame_needs
from wmvla.files import checkpoint_step, sha256_file
from wmvla.hub.localize import check_loadable_offline
from wmvla.provenance import now, provenance_record
from wmvla.sim.envs import make_task_env
from wmvla.sim.instructions import policy_instructions
from wmvla.sim.versions import gl_strings

log = logging.getLogger(__name__)


def load_policy(cfg: WmEvalConfig):
    """The checkpoint's policy and its own saved processors (never rebuilt from an init checkpoint)."""
    from lerobot.policies import make_policy, make_pre_post_processors

    check_loadable_offline(Path(cfg.policy.pretrained_path), cfg.policy.vlm_model_name)
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


def _rendering() -> dict[str, str | None]:
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
            "weights_sha256": sha256_file(weights),
            "policy_overrides": self.overrides,
            **dataclasses.asdict(self.plan),
            "protocol": evaluation_protocol(cfg),
            "simulator": simulator_packages(),  # resuming under another simulator is another evaluation
        }
        self.log = EpisodeLog(self.result_path.with_suffix(".episodes.jsonl"), identity)
        self.instructions = policy_instructions(self.plan.suite)  # a LIBERO-PRO variant's own, by task id
        self._gl: dict[str, str | None] = {}  # OpenGL vendor/renderer, once this process has rendered
        # this process's rollouts: wall seconds, and the env seconds spent in resets (summed over envs)
        self.rollout_stats = dict(batches=0, env_steps=0, renders=0, seconds=0.0, reset_seconds=0.0)

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
                env = make_task_env(
                    cfg.env, task_id, plan.batch_size, cfg.eval.use_async_envs, gate_renders=True
                )
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
        from lerobot.utils.random_utils import set_seed

        plan = self.plan
        padded = ids + [ids[-1]] * (env.num_envs - len(ids))
        env.set_attr("init_state_id", padded)
        if list(env.get_attr("init_state_id")) != padded:  # the next reset must start from these states
            raise RuntimeError(f"could not point the LIBERO envs at init states {padded}")
        if set(told := env.call("task_description")) != {self.instructions[task_id]}:  # what the policy reads
            raise RuntimeError(
                f"the envs describe task {task_id} as {told}, not {self.instructions[task_id]!r}"
            )
        seeds = [plan.env_seed(task_id, j) for j in padded]
        set_seed(seeds[0])  # the policy's sampling noise: same draw for this batch on every resume
        filmed = [i for i, j in enumerate(ids) if j < self.cfg.videos_per_task]
        frames: list[np.ndarray] = []
        on_frame = (lambda e: frames.append(np.stack(e.call("render")))) if filmed else None
        renders, resets = sum(env.get_attr("renders")), sum(env.get_attr("reset_seconds"))
        started = time.perf_counter()
        with torch.no_grad():
            data = self._rollout(
                env, policy, processors, seeds, on_frame, [i in filmed for i in range(len(padded))]
            )
        spent = {
            "seconds": time.perf_counter() - started,
            "renders": sum(env.get_attr("renders")) - renders,
            "reset_seconds": sum(env.get_attr("reset_seconds")) - resets,
        }
        self._count(data, spent, env.num_envs)
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

    def _rollout(
        self, env, policy, processors, seeds, on_frame, filmed: list[bool]
    ) -> dict[str, torch.Tensor]:
        """LeRobot's rollout() (every frame rendered), or the one that renders only the frames read."""
        if self.cfg.render_every_step:
            from lerobot.scripts.lerobot_eval import rollout

            env_pre, env_post, pre, post = processors
            return rollout(env, policy, env_pre, env_post, pre, post, seeds=seeds, render_callback=on_frame)
        needs = frame_needs(policy.config, env, videos=any(filmed))
        return SparseRollout(env, policy, processors, needs, tuple(filmed)).run(seeds, on_frame)

    def _count(self, data: dict[str, torch.Tensor], spent: dict[str, float], n_envs: int) -> None:
        """What this process's rollouts cost: what the cost forecast reads from the result's provenance."""
        stats = self.rollout_stats
        stats["batches"] += 1
        stats["env_steps"] += int(data["done"].shape[1]) * n_envs
        stats["renders"] += int(spent["renders"])
        for key in ("seconds", "reset_seconds"):
            stats[key] = round(stats[key] + spent[key], 3)

    def _write_video(self, frames: list[np.ndarray], env_index: int, record: dict[str, Any]) -> str:
        from lerobot.utils.io_utils import write_video

        name = f"task{record['task_id']}_init{record['init_state_id']}.mp4"
        self.videos_dir.mkdir(parents=True, exist_ok=True)
        clip = [f[env_index] for f in frames[: record["steps"] + 1]]  # reset frame + one per step
        write_video(self.videos_dir / name, clip, fps=self.cfg.env.fps)
        return f"{self.videos_dir.name}/{name}"

    def _write_result(self, started: str) -> Path:
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
            instructions={t: self.instructions[t] for t in self.plan.task_ids},
            source="lerobot-wm-eval",
            provenance=provenance_record(
                self.log.identity,
                started,
                {"policy_type": self.cfg.policy.type, **self._gl, "rollout": self.rollout_stats},
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
