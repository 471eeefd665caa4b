"""`wmvla train run`: one training of the study — its suite's episodes, `lerobot-wm-train`, provenance."""

import argparse
import json
from pathlib import Path

from wmvla.cli.parsing import command, subgroup
from wmvla.errors import WmvlaError


def _run(args: argparse.Namespace) -> None:
    from wmvla.data.suites import suite_split
    from wmvla.files import PROVENANCE_FILE
    from wmvla.provenance import now, write_provenance
    from wmvla.train.lerobot_wm_train import train

    started = now()
    try:
        description = json.loads(args.run)
    except json.JSONDecodeError as err:
        raise WmvlaError(f"--run is not JSON: {err}") from err
    episodes = suite_split(args.dataset, args.suite, args.split, args.holdout_every)
    train_args = args.train[1:] if args.train[:1] == ["--"] else args.train
    episodes_arg = "--dataset.episodes=[" + ",".join(map(str, episodes)) + "]"
    curves = [f"--curves_dir={args.curves}"] if args.curves else []
    trained = train([*train_args, episodes_arg, f"--output_dir={args.out}", *curves])
    if trained or not (args.out / PROVENANCE_FILE).is_file():  # the job that trained it records it
        record = {
            **description,
            "args": train_args,
            "suite": args.suite,
            "split": args.split,
            "episodes": episodes,
        }
        write_provenance(args.out, record, started)


def register(groups: argparse._SubParsersAction) -> None:
    train = subgroup(groups, "train", "training runs")
    p = command(
        train, "run", _run, "train one run on its suite's episodes (resumable), then record provenance"
    )
    p.add_argument("--dataset", type=Path, required=True, help="LeRobot dataset directory")
    p.add_argument("--suite", required=True, help="the LIBERO suite whose episodes it trains on")
    p.add_argument("--split", choices=("all", "train"), default="train")
    p.add_argument("--holdout-every", type=int, help="every n-th episode is held out of training")
    p.add_argument("--run", required=True, help="JSON naming the run (study, wildcards), for its provenance")
    p.add_argument("--out", type=Path, required=True, help="the finished run (lerobot-wm-train's output_dir)")
    p.add_argument("--curves", type=Path, help="the run's TensorBoard curves directory (none: no curves)")
    p.add_argument("train", nargs=argparse.REMAINDER, help="-- then lerobot-wm-train's arguments")
