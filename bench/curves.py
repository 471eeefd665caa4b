"""Cost of a training's live curves: `lerobot-wm-train` with TensorBoard curves against without.

Both arms run the same tiny smolvla_world training as the smoke study's (200 steps of batch 2, a log step
every 10), as separate processes, interleaved over repeats; both write `progress.json` (what `wmvla status`
reads), only one the curves. Prints the median wall time of each and their ratio: the curves' share of a
smoke training's wall time (the issue's budget: at most 5%). The whole process is timed, so importing
TensorBoard's writer counts.

Usage: .venv/bin/python bench/curves.py [--steps 200] [--log-every 10] [--repeats 3]
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


def command(paths: dict[str, Path], steps: int, log_every: int, out: Path, curves: Path | None) -> list[str]:
    return [
        str(Path(sys.executable).parent / "lerobot-wm-train"),
        *tiny_world_train_args(paths["dataset"], paths["vlm"], paths["cache"], paths["encoder"]),
        f"--steps={steps}",
        f"--save_freq={steps}",
        f"--log_freq={log_every}",
        f"--output_dir={out}",
        *([f"--curves_dir={curves}"] if curves else []),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {"vlm": build_tiny_smolvlm(root / "vlm"), "encoder": build_tiny_vjepa2(root / "enc")}
        paths["dataset"] = synthetic_dataset(root / "ds", lengths=(30, 30, 30), image_size=64)
        request = CacheRequest("test/synthetic", "vjepa2-tiny", 4)
        encoder = load_encoder("vjepa2-tiny", paths["encoder"])
        paths["cache"] = build_cache(paths["dataset"], request, encoder, root / "cache", 16, 32).path
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        times: dict[str, list[float]] = {"without curves": [], "with curves": []}
        for r in range(args.repeats):
            for name in times:
                curves = root / f"curves_{r}" if name == "with curves" else None
                cmd = command(paths, args.steps, args.log_every, root / f"run_{r}_{len(name)}", curves)
                started = time.perf_counter()
                run = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if run.returncode:
                    raise SystemExit(run.stderr[-2000:])
                times[name].append(time.perf_counter() - started)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"tiny smolvla_world, {args.steps} steps of batch 2, a log step every {args.log_every}, on CPU; "
          f"{args.repeats} repeats, whole process")  # fmt: skip
    for name, seconds in median.items():
        print(f"  {name:15s} {seconds:7.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times[name])})")
    ratio = median["with curves"] / median["without curves"]
    print(f"  with / without curves: {ratio:.3f}x ({(ratio - 1) * 100:+.1f}% of the training's wall time)")


if __name__ == "__main__":
    main()
