"""Training-step cost of `smolvla_world` relative to `smolvla`, measured side by side in one run.

Same batch, same SmolVLA weights, interleaved repetitions; prints median step times and ratios for
F1 (pred, N=1), F3a (8 prefix tokens) and an imagination bank of N=4, at the tiny config and at real
SmolVLA dimensions (SmolVLM2-500M text/vision sizes, 16 layers, random weights, D = 1408 latents).

Usage: .venv/bin/python bench/train_step.py [--scale tiny|real|both] [--repeats 5] [--batch 2]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.datasets

from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

from lerobot_policy_smolvla_world import SmolVLAWorldConfig, SmolVLAWorldPolicy
from tests.datasets import synthetic_dataset
from tests.policies import libero_batch, smolvla_kwargs
from wmvla.latents.cache import CacheRequest, build_cache
from wmvla.latents.encoders import load_encoder
from wmvla.models.tiny import TinySmolVLMSpec, build_tiny_smolvlm, build_tiny_vjepa2

# SmolVLM2-500M-Video-Instruct sizes (text: Llama-style 960 wide; vision: SigLIP 768 wide, 512 px).
REAL = TinySmolVLMSpec(
    text_hidden=960,
    text_intermediate=2560,
    text_layers=16,
    text_heads=15,
    text_kv_heads=5,
    vision_hidden=768,
    vision_layers=12,
    vision_heads=12,
    image_size=512,
    patch_size=16,
    scale_factor=4,
)
VARIANTS = {
    "F1 pred N=1": {},
    "F3a 8 tokens": {"world_prefix_tokens": 8},
    "F1 pred N=4": {"world_num_hypotheses": 4, "world_hypothesis_method": "mixture"},
}


class SyntheticLatents:
    """Random windows at the real latent size D=1408 (vitg), standing in for the cache reader: no
    real-size encoder can be built here, and the reader's gather cost is measured by bench/latents.py."""

    def __init__(self, dim: int, t_ctx: int, k: int) -> None:
        self.dim, self.t_ctx, self.k = dim, t_ctx, k

    def windows(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        b = index.shape[0]
        return {
            "z_hist": torch.randn(b, self.t_ctx, self.dim),
            "z_future": torch.randn(b, self.k, self.dim),
            "hist_mask": torch.ones(b, self.t_ctx, dtype=torch.bool),
            "future_mask": torch.ones(b, self.k, dtype=torch.bool),
        }


def _batch(b: int, image: int, chunk: int) -> dict:
    return {**libero_batch(b, image, tokens=16, chunk=chunk, seed=None), "index": torch.arange(b) * 3}


def _step(policy, optimizer, batch) -> float:
    t0 = time.perf_counter()
    loss, _ = policy.forward(dict(batch))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return time.perf_counter() - t0


def measure(scale: str, tmp: Path, repeats: int, batch_size: int) -> None:
    spec = REAL if scale == "real" else TinySmolVLMSpec()
    image, chunk = spec.image_size, 50 if scale == "real" else 10
    vlm = build_tiny_smolvlm(tmp / f"smolvlm-{scale}", spec)
    if scale == "tiny":  # the whole chain: a real cache from the tiny encoder
        dataset = synthetic_dataset(tmp / "ds", lengths=(20, 20), image_size=32)
        encoder = load_encoder("vjepa2-tiny", build_tiny_vjepa2(tmp / "vjepa2-tiny"))
        request = CacheRequest("test/synthetic", "vjepa2-tiny", 4)
        cache = build_cache(dataset, request, encoder, tmp / "cache").path
        world = {"world_latents_path": str(cache), "world_encoder": "vjepa2-tiny", "world_dim": 64}
        world |= {"world_prophet_width": 64, "world_fusion_heads": 4, "world_prefix_num_heads": 4}
    else:  # real sizes: D = 1408, the default Prophet (width 512) and fusion heads
        world = {"world_latents_path": "synthetic", "world_dim": 1408}
    common = smolvla_kwargs(vlm, chunk=chunk, image=image, layers=spec.text_layers)

    torch.manual_seed(0)
    policies = {"smolvla": SmolVLAPolicy(SmolVLAConfig(**common))}
    base_state = policies["smolvla"].state_dict()
    for name, overrides in VARIANTS.items():
        policy = SmolVLAWorldPolicy(SmolVLAWorldConfig(**common, **world, **overrides))
        policy.load_state_dict(base_state, strict=False)
        if scale == "real":
            policy._latents = SyntheticLatents(1408, policy.config.world_t_ctx, policy.config.world_k)
        policies[name] = policy
    optimizers = {
        n: torch.optim.AdamW([p for p in pol.parameters() if p.requires_grad]) for n, pol in policies.items()
    }
    batch = _batch(batch_size, image, chunk)
    times: dict[str, list[float]] = {n: [] for n in policies}
    for i in range(repeats + 1):  # interleaved, first round is warm-up
        for name, policy in policies.items():
            t = _step(policy, optimizers[name], batch)
            if i:
                times[name].append(t)
    base = statistics.median(times["smolvla"])
    print(f"\n[{scale}] batch {batch_size}, chunk {chunk}, {image}px, {repeats} interleaved repeats")
    print(f"  {'smolvla':14s} median {base * 1e3:9.1f} ms   1.000x")
    for name in VARIANTS:
        t = statistics.median(times[name])
        print(f"  {name:14s} median {t * 1e3:9.1f} ms   {t / base:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["tiny", "real", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for scale in ("tiny", "real") if args.scale == "both" else (args.scale,):
            measure(scale, Path(tmp), args.repeats, args.batch)


if __name__ == "__main__":
    main()
