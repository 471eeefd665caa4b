"""World encoders side by side: V-JEPA 2 and the Cosmos tokenizer (measured ratios and counted FLOPs).

1. Measured on the tiny random-weight models the smoke study builds, repetitions interleaved:
   - cache building: encode time per clip (batches of 32 clips, each model's own clip length);
   - rollouts: the online encoder's share (frame preprocessing + encoding the T_ctx history clips) of a
     tiny smolvla_world policy's time per action chunk, one env.
2. Counted for the real architectures (their published configs on meta tensors: no weights needed) with
   torch's FlopCounterMode: FLOPs per clip at 256 px, per action chunk of a rollout (T_ctx clips), and for
   the cache of full LIBERO; cache sizes are frames × D × 2 bytes (fp16 rows).

Usage: .venv/bin/python bench/encoders.py [--repeats 5] [--frames 273465]
"""

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.policies

from lerobot_policy_smolvla_world import SmolVLAWorldConfig, SmolVLAWorldPolicy
from tests.policies import TINY_WORLD, libero_batch, smolvla_kwargs
from wmvla.latents.encoders import load_encoder
from wmvla.latents.registry import encoder_spec
from wmvla.models.tiny import build_tiny_cosmos, build_tiny_smolvlm, build_tiny_vjepa2

TINY = {"vjepa2-tiny": build_tiny_vjepa2, "cosmos-tiny": build_tiny_cosmos}
FULL = {"vjepa2-vitg": "V-JEPA 2 ViT-g", "cosmos-cv8x8x8": "Cosmos CV8x8x8"}
LIBERO_FRAMES = 273_465  # lerobot/libero (= HuggingFaceVLA/libero): 1,693 episodes
T_CTX = 4  # world_t_ctx: history clips the online encoder encodes per action chunk


def temporal_window(name: str, study_temporal_window: int = 4) -> int:
    return encoder_spec(name).temporal_window or study_temporal_window


def time_clip_encoding(encoders: dict, repeats: int, batch: int = 32) -> dict[str, float]:
    """Median seconds per clip of each encoder (preprocessing excluded: done once per frame, not per clip)."""
    g = torch.Generator().manual_seed(0)
    clips = {}
    for name, encoder in encoders.items():
        frames = encoder.preprocess(
            torch.randint(0, 256, (temporal_window(name), 64, 64, 3), dtype=torch.uint8, generator=g)
        )
        clips[name] = frames[None].expand(batch, *frames.shape).contiguous()
        encoder.encode(clips[name][:2])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(repeats):
        for name, encoder in encoders.items():
            start = time.perf_counter()
            encoder.encode(clips[name])
            times[name].append((time.perf_counter() - start) / batch)
    return {name: statistics.median(t) for name, t in times.items()}


@contextlib.contextmanager
def time_spent_in(encoder) -> Iterator[list[float]]:
    """Seconds the block spends in the encoder's `preprocess` and `encode` (in a one-element list)."""
    spent = [0.0]

    def timed(method):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        return call

    for method in ("preprocess", "encode"):
        setattr(encoder, method, timed(getattr(encoder, method)))
    try:
        yield spent
    finally:
        for method in ("preprocess", "encode"):
            delattr(encoder, method)


def online_share(vlm: Path, encoder_dirs: dict[str, Path], repeats: int) -> dict[str, float]:
    """Median share of a tiny world policy's action-chunk time spent in its online encoder, per encoder."""
    batch = libero_batch(1)
    policies = {}
    for name, path in encoder_dirs.items():
        world = {**TINY_WORLD, "world_encoder": name, "world_dim": encoder_spec(name).dim}
        config = SmolVLAWorldConfig(
            **smolvla_kwargs(vlm, chunk=10),
            **world,
            world_encoder_path=str(path),
            world_temporal_window=temporal_window(name),
            world_t_ctx=T_CTX,
        )
        torch.manual_seed(0)
        policies[name] = SmolVLAWorldPolicy(config).eval()
        policies[name].predict_action_chunk(batch)  # warm-up: loads the encoder
    shares: dict[str, list[float]] = {name: [] for name in policies}
    for _ in range(repeats):
        for name, policy in policies.items():
            with time_spent_in(policy._online.encoder) as spent:
                start = time.perf_counter()
                policy.predict_action_chunk(batch)
                total = time.perf_counter() - start
            shares[name].append(spent[0] / total)
    return {name: statistics.median(s) for name, s in shares.items()}


def flops_per_clip(name: str) -> tuple[float, float]:
    """(FLOPs per clip at 256 px, encoder parameters) of a real encoder, counted on meta tensors."""
    if name == "vjepa2-vitg":
        from transformers import VJEPA2Config, VJEPA2Model

        # facebook/vjepa2-vitg-fpc64-256/config.json: ViT-g/16, 40 layers of width 1408, 256 px crops
        config = VJEPA2Config(
            hidden_size=1408, num_hidden_layers=40, num_attention_heads=22, mlp_ratio=48 / 11, crop_size=256
        )
        with torch.device("meta"):
            model = VJEPA2Model(config)
            clip = torch.empty(1, temporal_window(name), 3, 256, 256)
        assert config.hidden_size == encoder_spec(name).dim
        params = sum(p.numel() for n, p in model.named_parameters() if n.startswith("encoder."))
        with FlopCounterMode(display=False) as counter:
            model.get_vision_features(clip)
    else:
        from diffusers import AutoencoderKLCosmos

        model = AutoencoderKLCosmos().to("meta")  # diffusers' defaults are the CV8x8x8 architecture
        params = sum(
            p.numel() for n, p in model.named_parameters() if n.startswith(("encoder.", "quant_conv"))
        )
        with FlopCounterMode(display=False) as counter:
            model.encode(torch.empty(1, 3, temporal_window(name), 256, 256, device="meta"))
    return float(counter.get_total_flops()), float(params)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=LIBERO_FRAMES, help="frames of the full dataset")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        dirs = {name: build(Path(tmp) / name) for name, build in TINY.items()}
        encoders = {name: load_encoder(name, path) for name, path in dirs.items()}
        per_clip = time_clip_encoding(encoders, args.repeats)
        shares = online_share(build_tiny_smolvlm(Path(tmp) / "smolvlm-tiny"), dirs, args.repeats)

    print(f"tiny models, CPU, 1 thread, 64 px, {args.repeats} interleaved repeats (medians)")
    for name in TINY:
        print(
            f"  {name:12s} clip of {temporal_window(name)} frames: {per_clip[name] * 1e3:6.1f} ms/clip;"
            f" online encoder share of an action chunk: {shares[name]:.0%}"
        )
    print(
        f"  cosmos-tiny / vjepa2-tiny time per clip: {per_clip['cosmos-tiny'] / per_clip['vjepa2-tiny']:.2f}x"
    )

    print(
        f"real architectures, FLOPs counted at 256 px; full dataset {args.frames:,} frames, fp16 cache rows"
    )
    counted = {name: flops_per_clip(name) for name in FULL}
    for name, label in FULL.items():
        flops, params = counted[name]
        dim = encoder_spec(name).dim
        print(
            f"  {label:15s} {params / 1e6:6.0f} M encoder params; {flops / 1e9:7.1f} GFLOP per clip of"
            f" {temporal_window(name)} frames; {T_CTX * flops / 1e12:5.2f} TFLOP per action chunk"
            f" (T_ctx = {T_CTX});"
            f" cache {args.frames * flops / 1e15:6.1f} PFLOP, {args.frames * dim * 2 / 1e6:5.0f} MB (D={dim})"
        )
    ratio = counted["cosmos-cv8x8x8"][0] / counted["vjepa2-vitg"][0]
    print(f"  Cosmos / V-JEPA 2 FLOPs per clip: {ratio:.2f}x")


if __name__ == "__main__":
    main()
