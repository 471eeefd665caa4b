"""Rollout cost of `smolvla_world` relative to `smolvla`, in the real LIBERO simulator, side by side.

Tiny models (random weights, the same SmolVLA weights in both policies), one env, the same task, init
state and seeds; repetitions interleaved. Prints per-env-step wall time (whole rollout step: policy +
simulator + rendering) and policy time per step, as medians and ratios, and the encoder calls per action
chunk for the online encoder (encodes at chunk boundaries) and for encoding every step as frames arrive.

Usage: MUJOCO_GL=egl .venv/bin/python bench/rollout.py [--steps 60] [--repeats 3] [--chunk 10]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.policies

from wmvla.sim.setup import apply_environment_defaults

apply_environment_defaults()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lerobot.configs.types import PolicyFeature  # noqa: E402
from lerobot.envs import make_env_pre_post_processors  # noqa: E402
from lerobot.envs.configs import LiberoEnv  # noqa: E402
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig  # noqa: E402
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy  # noqa: E402
from lerobot.policies.smolvla.processor_smolvla import make_smolvla_pre_post_processors  # noqa: E402
from lerobot.scripts.lerobot_eval import rollout  # noqa: E402

from lerobot_policy_smolvla_world import SmolVLAWorldConfig, SmolVLAWorldPolicy  # noqa: E402
from tests.policies import smolvla_kwargs  # noqa: E402
from wmvla.latents.encoders import load_encoder  # noqa: E402
from wmvla.latents.online import OnlineWorldEncoder  # noqa: E402
from wmvla.latents.windows import clip_frame_rows  # noqa: E402
from wmvla.models.tiny import build_tiny_smolvlm, build_tiny_vjepa2  # noqa: E402
from wmvla.sim.envs import make_task_env  # noqa: E402


class PerStepWorldEncoder(OnlineWorldEncoder):
    """The obvious alternative: encode the clip ending at each frame as it arrives, keep the latents."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._latents: list[list[torch.Tensor]] = [[] for _ in range(self.n_envs)]

    def reset(self, env_ids=None) -> None:
        super().reset(env_ids)
        for i in range(self.n_envs) if env_ids is None else env_ids:
            self._latents[i] = []

    def observe(self, frames: torch.Tensor) -> None:
        super().observe(frames)
        clip_t = clip_frame_rows(self._steps - 1, np.zeros(self.n_envs, np.int64), self.temporal_window)
        z_now = self.encoder.encode(torch.stack([self._gather(i, clip_t[i]) for i in range(self.n_envs)]))
        for i in range(self.n_envs):
            self._latents[i].append(z_now[i])

    def history(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows, masks = [], []
        for latents in self._latents:
            recent = latents[-self.t_ctx :]
            pad = [torch.zeros_like(recent[0])] * (self.t_ctx - len(recent))
            rows.append(torch.stack(pad + recent))
            masks.append(torch.tensor([False] * len(pad) + [True] * len(recent)))
        return torch.stack(rows), torch.stack(masks)


def build_policies(root: Path, chunk: int):
    vlm = build_tiny_smolvlm(root / "smolvlm-tiny")
    encoder_dir = build_tiny_vjepa2(root / "vjepa2-tiny")
    kwargs = smolvla_kwargs(vlm, chunk=chunk)
    kwargs["input_features"] = {
        k: PolicyFeature(v.type, v.shape) for k, v in kwargs["input_features"].items()
    }
    torch.manual_seed(0)
    plain = SmolVLAPolicy(SmolVLAConfig(**kwargs))
    world_cfg = SmolVLAWorldConfig(
        **kwargs,
        world_encoder="vjepa2-tiny",
        world_encoder_path=str(encoder_dir),
        world_dim=64,
        world_prophet_width=64,
        world_prophet_heads=4,
        world_fusion_heads=4,
        world_prefix_num_heads=4,
    )
    world = SmolVLAWorldPolicy(world_cfg)
    world.load_state_dict(plain.state_dict(), strict=False)
    # Gates stay closed (0): the branch still does all its work (encoder, Prophet, cross-attention), but
    # the actions equal SmolVLA's, so both policies drive the same trajectory and the simulator does the
    # same work — otherwise different contacts and renders make the per-step comparison pure noise.
    stats = {
        "observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)},
        "action": {"mean": torch.zeros(7), "std": torch.full((7,), 0.1)},
    }
    processors = {
        name: make_smolvla_pre_post_processors(p.config, stats)
        for name, p in (("plain", plain), ("world", world))
    }
    return {"plain": plain.eval(), "world": world.eval()}, processors


def timed_rollout(env, policy, processors, env_processors, seed: int) -> dict[str, float]:
    """One rollout; wall time per env step, policy time per step, number of steps."""
    spent = [0.0]
    select = policy.select_action

    def timed_select(batch, *args, **kwargs):
        start = time.perf_counter()
        out = select(batch, *args, **kwargs)
        spent[0] += time.perf_counter() - start
        return out

    policy.select_action = timed_select
    torch.manual_seed(seed)
    env.set_attr("init_state_id", [0])
    start = time.perf_counter()
    data = rollout(env, policy, *env_processors, *processors, seeds=[seed])
    wall = time.perf_counter() - start
    del policy.select_action
    steps = data["done"].shape[1]
    return {"step": wall / steps, "policy": spent[0] / steps, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=60, help="env steps per rollout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=10, help="actions per chunk (n_action_steps)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the simulator and the policy share the machine as on a cluster eval job

    with tempfile.TemporaryDirectory() as tmp:
        policies, processors = build_policies(Path(tmp), args.chunk)
        env_cfg = LiberoEnv(
            task="libero_spatial", observation_height=64, observation_width=64, episode_length=args.steps
        )
        env = make_task_env(env_cfg, task_id=0, n_envs=1, use_async=False)
        env_processors = make_env_pre_post_processors(env_cfg=env_cfg, policy_cfg=policies["plain"].config)
        try:
            timed_rollout(
                env, policies["plain"], processors["plain"], env_processors, 0
            )  # warm-up: build the env
            runs: dict[str, list[dict]] = {"plain": [], "world": []}
            for r in range(args.repeats):
                for name in ("plain", "world"):
                    runs[name].append(timed_rollout(env, policies[name], processors[name], env_processors, r))

            world = policies["world"]
            encoders: dict[str, list[tuple[float, float]]] = {"chunk boundaries": [], "every step": []}
            for r in range(args.repeats):
                for name, cls in (
                    ("chunk boundaries", OnlineWorldEncoder),
                    ("every step", PerStepWorldEncoder),
                ):
                    encoder = load_encoder("vjepa2-tiny", world.config.world_encoder_path)
                    world._online = cls(
                        encoder, world.config.world_temporal_window, world.config.world_t_ctx, 1
                    )
                    result = timed_rollout(env, world, processors["world"], env_processors, r)
                    chunks = -(-result["steps"] // args.chunk)
                    encoders[name].append((encoder.calls / chunks, result["policy"]))
        finally:
            env.close()

    median = {
        n: {k: statistics.median(r[k] for r in rs) for k in ("step", "policy")} for n, rs in runs.items()
    }
    print(
        f"LIBERO libero_spatial task 0, 64 px, {args.steps} steps, chunk {args.chunk}, {args.repeats} repeats"
    )
    for name in ("plain", "world"):
        step, policy = median[name]["step"] * 1e3, median[name]["policy"] * 1e3
        print(f"  {name:5s}  per env step {step:7.1f} ms   policy {policy:6.1f} ms")
    print(f"  world/plain per env step: {median['world']['step'] / median['plain']['step']:.3f}x")
    print(f"  world/plain policy time:  {median['world']['policy'] / median['plain']['policy']:.3f}x")
    calls_chunk, calls_step = (statistics.median(c for c, _ in encoders[n]) for n in encoders)
    policy_chunk, policy_step = (statistics.median(t for _, t in encoders[n]) for n in encoders)
    print(
        f"  encoder calls per chunk: {calls_chunk:.2f} at chunk boundaries vs {calls_step:.2f}"
        f" encoding every step (T_ctx = {policies['world'].config.world_t_ctx})"
    )
    print(f"  world policy time per step, every-step / chunk-boundary: {policy_step / policy_chunk:.3f}x")


if __name__ == "__main__":
    main()
