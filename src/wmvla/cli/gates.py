"""`wmvla gates …` and `wmvla preflight`: the checks that stand between the data and the training matrix."""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from wmvla.cli.parsing import ENFORCE, command, is_true, subgroup
from wmvla.errors import WmvlaError


def _experiment(args: argparse.Namespace) -> None:
    from wmvla.gates.experiment import parity_gate, protocol_gate, train_steps_gate
    from wmvla.gates.record import record

    plan = json.loads(args.plan)
    gates = [parity_gate(plan, args.configs_dir)]
    resolved = json.loads((args.configs_dir / f"{plan['experiment']}.json").read_text())
    gates.append(protocol_gate(plan["experiment"], resolved, plan["n_action_steps"]))
    if args.train_steps:
        with tempfile.TemporaryDirectory(prefix="wmvla-gate-") as scratch:
            gates.append(train_steps_gate(plan, args.train_steps, Path(scratch)))
    record(gates, is_true(args.enforce), args.out)


def _latents(args: argparse.Namespace) -> None:
    from wmvla.gates.latents import latent_gates
    from wmvla.gates.record import record

    gates = latent_gates(args.cache, args.max_consecutive_cos, args.min_relative_std)
    record(gates, is_true(args.enforce), args.out)


def _init_policy(args: argparse.Namespace) -> None:
    """Evaluate the init checkpoint (the `lerobot-wm-eval` arguments after `--`), then gate its result."""
    from wmvla.gates.init_policy import init_policy_gate
    from wmvla.gates.record import record

    evaluation = args.evaluate[1:] if args.evaluate[:1] == ["--"] else args.evaluate
    if evaluation:
        lerobot_wm_eval = str(Path(sys.executable).parent / "lerobot-wm-eval")
        if subprocess.run([lerobot_wm_eval, *evaluation], check=False).returncode:
            raise WmvlaError("the init policy's evaluation failed (see above); no gate was recorded")
    gate = init_policy_gate(json.loads(args.result.read_text()), args.min_sr)
    record([gate], is_true(args.enforce), args.out)


def _summary(args: argparse.Namespace) -> None:
    from wmvla.gates.record import not_applicable, summarise

    summarise(args.records, is_true(args.enforce), args.out, not_applicable(args.skipped))


def _preflight(args: argparse.Namespace) -> None:
    from wmvla.gates.preflight import Footprint, PreflightRequest, record_preflight, run_preflight

    info = json.loads((args.dataset / "meta" / "info.json").read_text())
    request = PreflightRequest(
        device=args.device,
        suite=args.suite,
        image_size=args.image_size,
        manifests=tuple(args.manifests),
        results=args.results,
        dataset_frames=int(info["total_frames"]),
        footprint=Footprint.from_dict(json.loads(args.footprint)),
        min_bf16_tflops=args.min_bf16_tflops,
    )
    record_preflight(run_preflight(request), args.out)


def register(groups: argparse._SubParsersAction) -> None:
    gates = subgroup(groups, "gates", "sanity gates before training")
    p = command(gates, "experiment", _experiment, "one experiment: parity, a few training steps")
    p.add_argument("--plan", required=True, help="JSON of wmvla.study.commands.experiment_gate_plan")
    p.add_argument("--train-steps", type=int, default=0, help="steps of lerobot-wm-train (0: none)")
    p.add_argument("--configs-dir", type=Path, required=True, help="the resolved config is saved here")
    p.add_argument("--enforce", **ENFORCE)
    p.add_argument("--out", type=Path, required=True)

    p = command(gates, "latents", _latents, "the latent cache is finite and informative")
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--max-consecutive-cos", type=float, required=True)
    p.add_argument("--min-relative-std", type=float, required=True)
    p.add_argument("--enforce", **ENFORCE)
    p.add_argument("--out", type=Path, required=True)

    p = command(gates, "init-policy", _init_policy, "the init policy's success rate, unchanged")
    p.add_argument("--result", type=Path, required=True, help="its lerobot-wm-eval result (pred.json)")
    p.add_argument("--min-sr", type=float, required=True)
    p.add_argument("--enforce", **ENFORCE)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "evaluate", nargs=argparse.REMAINDER, help="-- then lerobot-wm-eval's arguments: evaluate first"
    )

    p = command(gates, "summary", _summary, "gather gate records; fail on failed enforced gates")
    p.add_argument("records", type=Path, nargs="*", help="gate record files")
    p.add_argument("--skipped", nargs="*", default=[], help="NAME=REASON of gates that do not apply")
    p.add_argument("--enforce", **ENFORCE)
    p.add_argument("--out", type=Path, required=True)

    p = command(groups, "preflight", _preflight, "check a node before any GPU job: GPUs, render, cache, disk")
    p.add_argument(
        "manifests", type=Path, nargs="*", help="the hub stage's manifests (none: nothing from the Hub)"
    )
    p.add_argument("--device", choices=("cuda", "cpu"), required=True)
    p.add_argument("--suite", required=True, help="the LIBERO suite whose first scene is rendered")
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument(
        "--dataset", type=Path, required=True, help="the dataset (its frame count sizes the caches)"
    )
    p.add_argument("--results", type=Path, required=True, help="the study's results root")
    p.add_argument("--footprint", required=True, help="JSON of wmvla.gates.preflight.Footprint")
    p.add_argument("--min-bf16-tflops", type=float, required=True)
    p.add_argument("--out", type=Path, required=True)
