"""How long `wmvla status` takes on a full-size study: the full config's 192 runs at mixed stages (written as
their jobs would leave them: tests/status_tree.py), against the same config on an empty tree.

The empty tree is the command's fixed cost (start-up, reading the config, the cost model); the full tree adds
reading every run's files. Interleaved over repeats, whole processes; prints the medians, their ratio and the
full tree's time against the issue's budget (about a second, at most 2 s).

Usage: .venv/bin/python bench/status.py [--repeats 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.status_tree

from tests.status_tree import build_tree, planned_stages
from wmvla.lease.holder import Holder, process_start
from wmvla.study.config import load_study_config

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config_file = REPO / "config/config.yaml"
    config = load_study_config(config_file)
    holder = subprocess.Popen(["sleep", "3600"])  # the jobs in progress: a holder that runs
    cmd = [str(Path(sys.executable).parent / "wmvla"), "status", "--configfile", str(config_file)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            full, empty = Path(tmp) / "full", Path(tmp) / "empty"
            full.mkdir(), empty.mkdir()
            os.chdir(full)
            build_tree(config, planned_stages(config), Holder(os.uname().nodename, holder.pid,
                                                              process_start(holder.pid)))  # fmt: skip
            times: dict[str, list[float]] = {"empty tree": [], "192 runs": []}
            for _ in range(args.repeats):
                for name, where in (("empty tree", empty), ("192 runs", full)):
                    started = time.perf_counter()
                    subprocess.run(cmd, cwd=where, check=True, capture_output=True)
                    times[name].append(time.perf_counter() - started)
    finally:
        holder.kill()
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"wmvla status of the full config, {args.repeats} repeats, whole process")
    for name, seconds in median.items():
        print(f"  {name:11s} {seconds:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times[name])})")
    print(f"  192 runs / empty tree: {median['192 runs'] / median['empty tree']:.2f}x; "
          f"192 runs against the {BUDGET_S:.0f} s budget: {median['192 runs'] / BUDGET_S:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
