"""Cost of resumable training: `lerobot-wm-train` with frequent checkpoints against one final checkpoint.

Both arms run the same tiny smolvla_world training (same data, cache, seed, steps) as separate processes,
interleaved over repeats; prints the median wall time of each and their ratio. At the smoke scale a
checkpoint (weights, optimizer state, processors) is small, so the ratio is an upper bound of what saving
costs relative to stepping only where steps are cheap too; at full scale a step of batch 64 on SmolVLA is
far costlier than writing one ~3 GB checkpoint every 2,500 steps.

Usage: .venv/bin/python bench/checkpoint.py [--steps 100] [--every 10] [--repeats 2]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.datasets

from tests.datasets import synthetic_dataset
from tests.policies import tiny_world_train_args
from wmvla.latents.cache import CacheRequest, build_cache
from wmvla.latents.encoders import load_encoder
from wmvla.models.tiny import build_tiny_smolvlm, build_tiny_vjepa2


def command(
    vlm: Path, encoder: Path, cache: Path, dataset: Path, steps: int, every: int, out: Path
) -> list[str]:
    return [
        str(Path(sys.executable).parent / "lerobot-wm-train"),
        *tiny_world_train_args(dataset, vlm, cache, encoder),
        f"--steps={steps}",
        f"--save_freq={every}",
        "--log_freq=10",
        f"--output_dir={out}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--every", type=int, default=10, help="save_freq of the checkpointing arm")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        vlm, encoder = build_tiny_smolvlm(root / "vlm"), build_tiny_vjepa2(root / "enc")
        dataset = synthetic_dataset(root / "ds", lengths=(30, 30, 30), image_size=64)
        request = CacheRequest("test/synthetic", "vjepa2-tiny", 4)
        cache = build_cache(
            dataset, request, load_encoder("vjepa2-tiny", encoder), root / "cache", 16, 32
        ).path
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        times: dict[str, list[float]] = {"final only": [], f"every {args.every}": []}
        for r in range(args.repeats):
            for name, every in (("final only", args.steps), (f"every {args.every}", args.every)):
                out = root / f"run_{r}_{every}"
                started = time.perf_counter()
                run = subprocess.run(command(vlm, encoder, cache, dataset, args.steps, every, out),
                                     capture_output=True, text=True, env=env)  # fmt: skip
                if run.returncode:
                    raise SystemExit(run.stderr[-2000:])
                times[name].append(time.perf_counter() - started)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"tiny smolvla_world, {args.steps} steps of batch 2 on CPU, {args.repeats} repeats, whole process")
    for name, seconds in median.items():
        print(f"  checkpoints {name:12s} {seconds:7.1f} s")
    ratio = median[f"every {args.every}"] / median["final only"]
    print(
        f"  every-{args.every} / final-only wall time: {ratio:.3f}x ({args.steps // args.every} saves vs 1)"
    )


if __name__ == "__main__":
    main()
