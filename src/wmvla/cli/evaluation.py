"""`wmvla eval offline`: held-out action loss of a checkpoint under every memory mode."""

import argparse
import logging
from dataclasses import asdict
from pathlib import Path

from wmvla.cli.parsing import command, subgroup

log = logging.getLogger("wmvla")


def _offline(args: argparse.Namespace) -> None:
    from wmvla.data.suites import suite_split
    from wmvla.eval.offline import OfflineRequest, run_offline_check
    from wmvla.eval.results import write_result
    from wmvla.provenance import now, provenance_record

    started = now()
    request = OfflineRequest(
        checkpoint=args.checkpoint,
        dataset=args.dataset,
        repo_id=args.repo_id,
        episodes=suite_split(args.dataset, args.suite, "holdout", args.holdout_every),
        batch_size=args.batch_size,
        max_batches=args.max_batches,
        seed=args.seed,
        device=args.device,
    )
    check = run_offline_check(request)
    config = {**asdict(request), "suite": args.suite, "holdout_every": args.holdout_every}
    write_result({**check, "provenance": provenance_record(config, started)}, args.out)
    for row in check["modes"]:
        log.info("%-8s action loss %.4f over %d frames", row["mode"], row["action_loss"], row["n_frames"])


def register(groups: argparse._SubParsersAction) -> None:
    evaluation = subgroup(groups, "eval", "offline evaluation")
    p = command(evaluation, "offline", _offline, "held-out action loss under every memory mode")
    p.add_argument("--checkpoint", type=Path, required=True, help="…/checkpoints/<step>/pretrained_model")
    p.add_argument("--dataset", type=Path, required=True, help="LeRobot dataset directory")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--suite", required=True)
    p.add_argument("--holdout-every", type=int, required=True, help="as in training's split")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-batches", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--out", type=Path, required=True, help="results/<study>/<suite>/<exp>/seed<s>/offline.json"
    )
