"""Peak memory of the latent-cache gate on a full-size cache, side by side with reading the cache whole.

A synthetic cache of full LIBERO's size for V-JEPA 2 ViT-g (273,465 frames × 1,408 dims, fp16, shards of
4,096 rows, 1,693 episodes) is written once; then, each in a fresh process, (1) the gate as the study runs it
(`wmvla.gates.latents.latent_gates`, a shard at a time) and (2) the whole-array way it used to read the cache
(every shard concatenated into one float32 array, then the same statistics). Prints each one's peak resident
memory (getrusage of the child) and their ratio, against the cache's float32 size.

Usage: .venv/bin/python bench/latent_gate.py [--frames 273465] [--dim 1408] [--keep DIR]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LIBERO_FRAMES, VITG_DIM, SHARD, EPISODES = 273_465, 1408, 4096, 1693

STREAMING = """
import sys
from wmvla.gates.latents import latent_gates
gates = latent_gates(sys.argv[1], max_consecutive_cos=0.9999, min_relative_std=0.001)
print([g.value for g in gates])
"""
WHOLE = """
import json, sys
from pathlib import Path
import numpy as np
cache = Path(sys.argv[1])
meta = json.loads((cache / "meta.json").read_text())
z = np.concatenate([np.load(cache / s["file"]) for s in meta["shards"]]).astype(np.float32)
finite = np.isfinite(z).all(axis=1)
good = z[finite]
relative_std = float(good.std(axis=0).mean() / np.sqrt((good**2).mean()))
a, b = z[:-1][finite[:-1] & finite[1:]], z[1:][finite[:-1] & finite[1:]]
cos = float(((a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).mean())
print([int((~finite).sum()), relative_std, cos])
"""


def write_cache(root: Path, frames: int, dim: int) -> Path:
    """A cache in the project's format (meta.json + fp16 shards) of random latents with slow drift."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    shards = []
    for k, first in enumerate(range(0, frames, SHARD)):
        rows = min(SHARD, frames - first)
        z = rng.standard_normal((rows, dim), dtype=np.float32).astype(np.float16)
        np.save(root / f"shard_{k:05d}.npy", z)
        shards.append({"file": f"shard_{k:05d}.npy", "rows": [first, first + rows]})
    bounds = np.linspace(0, frames, EPISODES + 1).astype(int)
    meta = {
        "format_version": 1,
        "encoder": {"name": "vjepa2-vitg", "dim": dim},
        "num_frames": frames,
        "episodes": {"start": bounds[:-1].tolist(), "end": bounds[1:].tolist()},
        "shard_size": SHARD,
        "shards": shards,
        "nonfinite_rows": [],
    }
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def peak_rss_mb(code: str, cache: Path) -> tuple[float, float, str]:
    """Peak resident memory (MB) and seconds of `code` run on `cache` in a fresh Python process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(cache)], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB, the largest child so far
    if peak <= before:
        raise RuntimeError("the child's peak was not above an earlier child's: run each in its own bench")
    return peak / 1024, seconds, out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=LIBERO_FRAMES)
    parser.add_argument("--dim", type=int, default=VITG_DIM)
    parser.add_argument("--keep", type=Path, help="write (or reuse) the synthetic cache here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.keep or Path(tmp) / "cache"
        if not (cache / "meta.json").is_file():
            write_cache(cache, args.frames, args.dim)
        float32_mb = args.frames * args.dim * 4 / 2**20
        print(
            f"cache: {args.frames:,} frames × {args.dim} dims, fp16 on disk; as float32 {float32_mb:,.0f} MB"
        )
        # the smaller one first: getrusage(RUSAGE_CHILDREN) reports the largest child so far
        streaming, s_seconds, s_values = peak_rss_mb(STREAMING, cache)
        whole, w_seconds, w_values = peak_rss_mb(WHOLE, cache)
        print(f"gate, a shard at a time: peak {streaming:,.0f} MB in {s_seconds:.1f} s  {s_values}")
        print(f"whole array (as before): peak {whole:,.0f} MB in {w_seconds:.1f} s  {w_values}")
        print(
            f"peak ratio whole / shard-at-a-time: {whole / streaming:.1f}x; "
            f"shard-at-a-time peak = {streaming / float32_mb:.2f}x the cache's float32 size"
        )


if __name__ == "__main__":
    main()
