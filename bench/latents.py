"""Latent cache throughput, measured side by side in one run (ratios; absolute seconds mean little here).

1. Cache builder vs a naive per-clip loop (decode the clip's m frames, preprocess, encode batch 1),
   both on the same synthetic dataset with the tiny V-JEPA 2; frames decoded are counted.
2. Reader gather time for a batch of 64 windows vs one training step of a tiny SmolVLA at batch 64.

Usage: .venv/bin/python bench/latents.py [--episodes 6] [--frames 60] [--image-size 128]
"""

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.datasets

from tests.datasets import synthetic_dataset
from tests.policies import libero_batch, smolvla_kwargs
from wmvla.latents.cache import CacheRequest, build_cache
from wmvla.latents.encoders import VideoEncoder, load_encoder
from wmvla.latents.reader import WorldLatents
from wmvla.latents.windows import clip_frame_rows
from wmvla.models.tiny import build_tiny_smolvlm, build_tiny_vjepa2

CAMERA = "observation.images.image"
TEMPORAL_WINDOW = 4


def naive_build(root: Path, encoder: VideoEncoder, n: int, starts: np.ndarray) -> tuple[float, int]:
    """One clip at a time: decode its frames from PNG, preprocess the clip, encode it alone."""
    files = sorted((root / "data").rglob("*.parquet"))
    cells = [c["bytes"] for f in files for c in pq.read_table(f, columns=[CAMERA]).column(CAMERA).to_pylist()]
    decoded = 0
    t0 = time.perf_counter()
    for row in range(n):
        frame_rows = clip_frame_rows(np.array([row]), starts[row : row + 1], TEMPORAL_WINDOW)[0]
        frames = []
        for r in frame_rows:
            frames.append(np.asarray(Image.open(io.BytesIO(cells[r])).convert("RGB")))
            decoded += 1
        clip = encoder.preprocess(torch.from_numpy(np.stack(frames)))
        encoder.encode(clip[None])
    return time.perf_counter() - t0, decoded


def tiny_train_step_seconds(vlm_dir: Path, batch: int, repeats: int) -> float:
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    config = SmolVLAConfig(**smolvla_kwargs(vlm_dir, chunk=10))
    policy = SmolVLAPolicy(config)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-4)
    data = libero_batch(batch, tokens=12, chunk=10, seed=None)
    times = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        loss, _ = policy.forward(data)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--frames", type=int, default=60, help="frames per episode")
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = synthetic_dataset(
            tmp / "ds", lengths=(args.frames,) * args.episodes, image_size=args.image_size
        )
        encoder = load_encoder("vjepa2-tiny", build_tiny_vjepa2(tmp / "vjepa2-tiny"))
        request = CacheRequest("test/synthetic", "vjepa2-tiny", TEMPORAL_WINDOW)
        n = args.episodes * args.frames

        warm_up = torch.zeros(TEMPORAL_WINDOW, 64, 64, 3, dtype=torch.uint8)
        encoder.encode(encoder.preprocess(warm_up)[None])
        report = build_cache(root, request, encoder, tmp / "cache", batch_size=64, shard_size=4096)
        naive_s, naive_decoded = naive_build(
            root, encoder, n, np.repeat(np.arange(0, n, args.frames), args.frames)
        )
        print(f"dataset: {args.episodes} episodes x {args.frames} frames ({n}), {args.image_size}px")
        print(f"builder: {n / report.seconds:8.1f} clips/s, frames decoded {report.frames_decoded}")
        print(f"naive:   {n / naive_s:8.1f} clips/s, frames decoded {naive_decoded}")
        print(f"builder / naive throughput: {naive_s / report.seconds:.2f}x")

        reader = WorldLatents(report.path, request, t_ctx=4, k=8)
        rng = np.random.default_rng(0)
        gathers = []
        for _ in range(200):
            batch = rng.integers(0, n, size=64)
            t0 = time.perf_counter()
            reader.windows(batch)
            gathers.append(time.perf_counter() - t0)
        step = tiny_train_step_seconds(build_tiny_smolvlm(tmp / "smolvlm-tiny"), batch=64, repeats=10)
        gather = statistics.median(gathers)
        print(f"reader gather (batch 64, T_ctx 4, K 8): median {gather * 1e3:.3f} ms")
        print(f"tiny SmolVLA train step (batch 64):     median {step * 1e3:.1f} ms")
        print(f"gather / train step: {gather / step:.4f}")


if __name__ == "__main__":
    main()
