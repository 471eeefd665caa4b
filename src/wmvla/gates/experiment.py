"""The gates of one experiment: its config equals the baseline's outside the world branch (as LeRobot resolves
both), the evaluation protocol fits it, and it trains a few steps with finite losses.

Why before the matrix: an arm that differs from E0 in more than its world branch makes every comparison
confounded, and an override that only fails when a training starts fails hours into the queue.
"""

import json
import math
import re
import sys
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from wmvla.data.suites import suite_split
from wmvla.files import write_json
from wmvla.gates.rates import eval_rates, measured_run, train_rates
from wmvla.gates.record import Gate, failure_line
from wmvla.train.resolve import resolve_train_config

IGNORED_POLICY_FIELDS = {"type", "pretrained_path"}  # pretrained_path: E0 loads its weights through it
COMPARED_SECTIONS = ("policy", "optimizer", "scheduler")  # optimizer/scheduler: presets of the policy


def parity_gate(plan: dict[str, Any], configs_dir: Path) -> Gate:
    """One arm's training config, resolved as lerobot-train will resolve it, equals the baseline's outside
    the world branch (and outside the fields it declares in `differs_from_baseline`).

    `plan`: {"experiment", "args", "baseline", "baseline_args", "differs_from_baseline", "world_fields"}
    (`wmvla.study.commands.experiment_gate_plan`). The resolved config is saved as
    `configs_dir/<experiment>.json` for a reader to diff against the baseline's.
    """
    exp, base = plan["experiment"], plan["baseline"]
    question = f"Does {exp} train and evaluate with {base}'s SmolVLA settings (as LeRobot resolves them)?"
    with tempfile.TemporaryDirectory(prefix="wmvla-parity-") as scratch:
        resolved = {exp: resolve_train_config(plan["args"], Path(scratch))}
        if base is not None and base != exp:
            resolved[base] = resolve_train_config(plan["baseline_args"], Path(scratch))
    write_json(configs_dir / f"{exp}.json", resolved[exp], sort_keys=True)
    if base is None or base == exp:
        detail = "the baseline itself" if base else "no baseline in this study"
        return Gate(f"parity[{exp}]", question, 0, "0 differences", True, detail)
    declared = plan.get("differs_from_baseline") or []
    differences = parity_differences(resolved, base, {exp: declared}, plan["world_fields"])
    return Gate(
        name=f"parity[{exp}]",
        question=question,
        value=len(differences),
        threshold="0 differences",
        passed=not differences,
        detail="; ".join(differences) or (f"declared: {', '.join(declared)}" if declared else ""),
    )


def protocol_gate(exp: str, resolved: dict[str, Any], n_action_steps: int) -> Gate:
    """The evaluation protocol fits the arm: it executes at most a whole predicted chunk per inference."""
    chunk = resolved["policy"]["chunk_size"]
    return Gate(
        f"protocol[{exp}]",
        f"Does the evaluation protocol fit {exp} (n_action_steps <= its chunk_size)?",
        n_action_steps,
        f"<= chunk_size {chunk}",
        n_action_steps <= chunk,
    )


def train_steps_gate(plan: dict[str, Any], steps: int, scratch: Path) -> tuple[Gate, dict[str, Any] | None]:
    """The experiment trains: `steps` steps of `lerobot-wm-train` with its exact arguments, on the real
    dataset (the first suite's training episodes) and latent cache; every logged loss and world metric
    finite. (The seed notes' "smoke train --steps=2".) Saves the last step's checkpoint in `scratch` (for the
    evaluation gate) and returns the training rates it measured (`wmvla.gates.rates`)."""
    exp = plan["experiment"]
    question = f"Does {exp} train {steps} steps with its exact overrides, with finite losses?"
    root = next(a.split("=", 1)[1] for a in plan["args"] if a.startswith("--dataset.root="))
    episodes = suite_split(root, plan["suite"], "train", plan["holdout_every"])
    replaced = ("--steps=", "--save_freq=", "--save_checkpoint=", "--log_freq=", "--output_dir=")
    out = Path(scratch) / exp
    args = [a for a in plan["args"] if not a.startswith(replaced)]
    args += [f"--steps={steps}", f"--save_freq={steps}", "--log_freq=1", f"--output_dir={out}"]
    args.append("--dataset.episodes=[" + ",".join(map(str, episodes)) + "]")
    run = measured_run([str(Path(sys.executable).parent / "lerobot-wm-train"), *args])
    if run.returncode != 0:
        failed = f"lerobot-wm-train failed: {failure_line(run.stderr)}"
        return Gate(f"trains[{exp}]", question, None, f"{steps} steps", False, failed), None
    losses = [float(v) for v in re.findall(r"\bloss:(\S+)", run.stdout + run.stderr)]
    metrics = out / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
    values = [*losses, *(v for r in records for v in r.values() if isinstance(v, int | float))]
    bad = [v for v in values if not math.isfinite(v)]
    ok = bool(losses) and len(losses) >= steps and not bad
    detail = f"{len(losses)} logged losses, {len(records)} world-metric records"
    detail += f"; non-finite: {bad[:5]}" if bad else ""
    gate = Gate(f"trains[{exp}]", question, losses[-1] if losses else None, "finite", ok, detail)
    return gate, train_rates(run, steps)


def evaluates_gate(
    plan: dict[str, Any], checkpoint: Path, scratch: Path
) -> tuple[Gate, dict[str, Any] | None]:
    """The experiment's policy rolls out in the simulator under the study's evaluation protocol (one batch of
    episodes of the first suite's first task, `plan["eval_args"]`); returns the evaluation rates measured."""
    exp = plan["experiment"]
    question = f"Does {exp} roll out in LIBERO under the study's evaluation protocol?"
    result = Path(scratch) / "eval" / "pred.json"
    args = [*plan["eval_args"], f"--policy.path={checkpoint}", f"--result={result}"]
    run = measured_run([str(Path(sys.executable).parent / "lerobot-wm-eval"), *args])
    if run.returncode != 0:
        failed = f"lerobot-wm-eval failed: {failure_line(run.stderr)}"
        return Gate(f"evaluates[{exp}]", question, None, "a result", False, failed), None
    record = json.loads(result.read_text())
    overall = record["overall"]
    detail = f"{overall['n_episodes']} episode(s), SR {overall['sr']:.2f} (a policy trained a few steps)"
    return Gate(
        f"evaluates[{exp}]", question, overall["n_episodes"], ">= 1 episode", True, detail
    ), eval_rates(run, record)


def parity_differences(
    resolved: Mapping[str, dict[str, Any]],
    baseline: str,
    declared: Mapping[str, list[str]],
    world_fields: Collection[str],
) -> list[str]:
    """One line per setting in which an arm differs from the baseline beyond its world branch.

    `world_fields`: the fields smolvla_world adds to SmolVLA's (the plan lists them); `declared`: per
    experiment, the SmolVLA fields it differs in on purpose (`differs_from_baseline`);
    declaring an `optimizer_*` / `scheduler_*` field also accepts the optimizer and scheduler presets,
    which LeRobot derives from those fields (the scheduler's peak lr is the optimizer's lr).
    """
    base = resolved[baseline]
    lines = []
    for exp, config in resolved.items():
        if exp == baseline:
            continue
        allowed = set(declared.get(exp, []))
        presets_declared = any(f.startswith(("optimizer_", "scheduler_")) for f in allowed)
        for section in COMPARED_SECTIONS:
            if section != "policy" and presets_declared:
                continue
            ours, theirs = config.get(section) or {}, base.get(section) or {}
            for key in sorted(set(ours) | set(theirs)):
                if section == "policy" and (
                    key in world_fields or key in IGNORED_POLICY_FIELDS or key in allowed
                ):
                    continue
                if ours.get(key) != theirs.get(key):
                    lines.append(
                        f"{exp}: {section}.{key} = {ours.get(key)!r}, {baseline} has {theirs.get(key)!r}"
                    )
    return lines
