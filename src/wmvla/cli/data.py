"""`wmvla data …`: the smoke recording, the dataset contract, a suite's episodes."""

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

from wmvla.cli.parsing import command, subgroup

log = logging.getLogger("wmvla")


def _record_smoke(args: argparse.Namespace) -> None:
    from wmvla.data.checks import check_libero_dataset
    from wmvla.data.record_smoke import SmokeSpec, record_smoke_dataset
    from wmvla.provenance import provenance

    spec = SmokeSpec(
        repo_id=args.repo_id,
        suite=args.suite,
        task_ids=tuple(args.task_ids),
        episodes_per_task=args.episodes_per_task,
        steps_per_episode=args.steps,
        image_size=args.image_size,
        seed=args.seed,
    )
    with provenance(args.out, asdict(spec)):
        record_smoke_dataset(args.out, spec)
        summary = check_libero_dataset(args.out)
    log.info("recorded %d episodes, %d frames", summary.num_episodes, summary.num_frames)


def _check(args: argparse.Namespace) -> None:
    from wmvla.data.checks import check_libero_dataset

    print(json.dumps(check_libero_dataset(args.root).to_json(), indent=2))


def _episodes(args: argparse.Namespace) -> None:
    from wmvla.data.suites import suite_split

    episodes = suite_split(args.root, args.suite, args.split, args.holdout_every)
    print("[" + ",".join(map(str, episodes)) + "]")


def register(groups: argparse._SubParsersAction) -> None:
    data = subgroup(groups, "data", "datasets")
    p = command(data, "record-smoke", _record_smoke, "record the smoke dataset in LIBERO")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--repo-id", default="wmvla/libero_smoke")
    p.add_argument("--suite", default="libero_spatial")
    p.add_argument("--task-ids", type=int, nargs="+", default=[0, 1])
    p.add_argument("--episodes-per-task", type=int, default=2)
    p.add_argument("--steps", type=int, default=40, help="env steps per episode")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)

    p = command(data, "check", _check, "check a dataset against the LIBERO contract")
    p.add_argument("root", type=Path)

    p = command(data, "episodes", _episodes, "print the episode indices of one LIBERO suite")
    p.add_argument("root", type=Path)
    p.add_argument("--suite", required=True)
    p.add_argument("--split", choices=("all", "train", "holdout"), default="all")
    p.add_argument("--holdout-every", type=int, help="every n-th episode is held out (train/holdout splits)")
