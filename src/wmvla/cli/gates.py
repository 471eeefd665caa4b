"""`wmvla gates …` and `wmvla preflight`: the checks that stand between the data and the training matrix."""

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from wmvla.cli.parsing import ENFORCE, command, is_true, subgroup
from wmvla.errors import WmvlaError

log = logging.getLogger("wmvla")


def _experiment(args: argparse.Namespace) -> None:
    """Parity and protocol; then a few training steps and one batch of evaluation episodes of the trained
    policy, whose rates (per step, per episode, peak memory) are recorded for the cost forecast."""
    from wmvla.gates.experiment import evaluates_gate, parity_gate, protocol_gate, train_steps_gate
    from wmvla.gates.processors import processor_parity_gate, save_processors
    from wmvla.gates.record import record

    plan = json.loads(args.plan)
    exp = plan["experiment"]
    gates = [parity_gate(plan, args.configs_dir)]
    resolved = json.loads((args.configs_dir / f"{exp}.json").read_text())
    gates.append(protocol_gate(exp, resolved, plan["n_action_steps"]))
    rates = {}
    if args.processors:
        args.processors.mkdir(parents=True, exist_ok=True)  # declared even when the training fails
    if args.train_steps:
        with tempfile.TemporaryDirectory(prefix="wmvla-gate-") as scratch:
            trains, rates["train"] = train_steps_gate(plan, args.train_steps, Path(scratch))
            gates.append(trains)
            step = f"{args.train_steps:0{max(6, len(str(args.train_steps)))}d}"  # as LeRobot names it
            checkpoint = Path(scratch) / exp / "checkpoints" / step / "pretrained_model"
            if trains.passed and args.processors:  # what LeRobot built for this arm, against the baseline's
                save_processors(checkpoint, args.processors)
                theirs = args.baseline_processors[0] if args.baseline_processors else None
                gates.append(processor_parity_gate(exp, plan["baseline"], args.processors, theirs))
            if trains.passed and plan.get("eval_args"):
                evaluates, rates["eval"] = evaluates_gate(plan, checkpoint, Path(scratch))
                gates.append(evaluates)
    record(gates, is_true(args.enforce), args.out, rates={k: v for k, v in rates.items() if v})


def _latents(args: argparse.Namespace) -> None:
    from wmvla.files import PROVENANCE_FILE
    from wmvla.gates.latents import latent_gates
    from wmvla.gates.rates import cache_rates
    from wmvla.gates.record import record

    gates = latent_gates(args.cache, args.max_consecutive_cos, args.min_relative_std)
    provenance = args.cache / PROVENANCE_FILE
    rates = cache_rates(json.loads(provenance.read_text())) if provenance.is_file() else None
    record(gates, is_true(args.enforce), args.out, **({"rates": {"latents": rates}} if rates else {}))


def _init_policy(args: argparse.Namespace) -> None:
    """Evaluate the init checkpoint (the `lerobot-wm-eval` arguments after `--`), then gate its result."""
    from wmvla.gates.init_policy import init_policy_gate
    from wmvla.gates.rates import eval_rates, measured_run
    from wmvla.gates.record import record

    evaluation = args.evaluate[1:] if args.evaluate[:1] == ["--"] else args.evaluate
    run = None
    if evaluation:
        run = measured_run([str(Path(sys.executable).parent / "lerobot-wm-eval"), *evaluation])
        sys.stdout.write(run.stdout[-20000:])  # the evaluation's own log, into the job's
        sys.stderr.write(run.stderr[-20000:])
        if run.returncode:
            raise WmvlaError("the init policy's evaluation failed (see above); no gate was recorded")
    result = json.loads(args.result.read_text())
    rates = eval_rates(run, result) if run else None
    record(
        [init_policy_gate(result, args.min_sr)],
        is_true(args.enforce),
        args.out,
        **({"rates": {"eval": rates}} if rates else {}),
    )


def _summary(args: argparse.Namespace) -> None:
    """Gather the records; with the study config, also say which runtime limits the gates' rates say do not
    fit the jobs (before the matrix spends them: a limit below a training's duration makes it time out and
    resume again and again)."""
    from wmvla.gates.record import not_applicable, summarise

    advice = []
    if args.study_config:
        from wmvla.study.cost import rule_costs

        costs = rule_costs(json.loads(args.study_config), figures=0, with_measured=False)
        advice = [f"{cost.rule}: {cost.advice}" for cost in costs if cost.advice]
        for line in advice:
            log.warning("runtime limit: %s", line)
    extra = {"runtime_advice": advice} if args.study_config else {}
    skipped = not_applicable(args.skipped)
    summarise(args.records, is_true(args.enforce), args.out, skipped, args.stops, **extra)


def _preflight(args: argparse.Namespace) -> None:
    from wmvla.cluster.scratch import scratch_parent
    from wmvla.data.suites import largest_copy_bytes
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
        scratch=scratch_parent(os.environ),
        copy_bytes=largest_copy_bytes(args.dataset, args.suites),
        jobs_per_node=args.jobs_per_node,
    )
    record_preflight(run_preflight(request), args.out)


def register(groups: argparse._SubParsersAction) -> None:
    gates = subgroup(groups, "gates", "sanity gates before training")
    p = command(gates, "experiment", _experiment, "one experiment: parity, a few training steps")
    p.add_argument("--plan", required=True, help="JSON of wmvla.study.commands.experiment_gate_plan")
    p.add_argument("--train-steps", type=int, default=0, help="steps of lerobot-wm-train (0: none)")
    p.add_argument("--configs-dir", type=Path, required=True, help="the resolved config is saved here")
    p.add_argument("--processors", type=Path, help="the processors its gate training saved are copied here")
    p.add_argument(
        "--baseline-processors", type=Path, nargs="*", default=[], help="the baseline's, to compare with"
    )
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
    p.add_argument("--study-config", default=None, help="JSON of the study config: check its runtime limits")
    p.add_argument("--stops", default="no training starts", help="what waits for these gates, when one fails")
    p.add_argument("--enforce", **ENFORCE)
    p.add_argument("--out", type=Path, required=True)

    p = command(groups, "preflight", _preflight, "check a node before any GPU job: GPUs, render, cache, disk")
    p.add_argument(
        "manifests", type=Path, nargs="*", help="the hub stage's manifests (none: nothing from the Hub)"
    )
    p.add_argument("--device", choices=("cuda", "cpu"), required=True)
    p.add_argument("--suite", required=True, help="the LIBERO suite whose first scene is rendered")
    p.add_argument("--suites", nargs="+", required=True, help="the study's suites (the largest sizes a copy)")
    p.add_argument("--jobs-per-node", type=int, required=True, help="jobs a node runs at once")
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument(
        "--dataset", type=Path, required=True, help="the dataset (its frame count sizes the caches)"
    )
    p.add_argument("--results", type=Path, required=True, help="the study's results root")
    p.add_argument("--footprint", required=True, help="JSON of wmvla.gates.preflight.Footprint")
    p.add_argument("--min-bf16-tflops", type=float, required=True)
    p.add_argument("--out", type=Path, required=True)
