"""Processor parity: every arm normalises and unnormalises exactly as the baseline does.

Why a gate of its own: the policy config can agree in every field while the processors a training saves —
the normaliser's and unnormaliser's statistics above all — come from another source (the init checkpoint's
instead of the dataset's), and then the arms differ in the scale of every state and action. What is
compared is what LeRobot saved with each arm's gate training (`policy_preprocessor.json` and
`policy_postprocessor.json` with their state files): every step, its settings and its tensors.
"""

import json
import shutil
from pathlib import Path
from typing import Any

from wmvla.errors import WmvlaError
from wmvla.gates.record import Gate

PIPELINES = ("policy_preprocessor", "policy_postprocessor")


class ProcessorsError(WmvlaError, ValueError):
    """A checkpoint holds no saved processors to compare."""


def save_processors(checkpoint: Path, out: Path) -> Path:
    """Copy the saved pre-/post-processors of a checkpoint (configs and state files) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    for path in Path(checkpoint).glob("policy_*processor*"):
        shutil.copy2(path, out / path.name)
    return out


def _pipeline(directory: Path, name: str) -> list[dict[str, Any]]:
    """The steps of one saved pipeline, each with its registry name, settings and state tensors."""
    from safetensors.torch import load_file

    config = Path(directory) / f"{name}.json"
    if not config.is_file():
        raise ProcessorsError(f"{directory} holds no {config.name}: no saved processors to compare")
    steps = []
    for step in json.loads(config.read_text())["steps"]:
        state = step.get("state_file")
        steps.append(
            {
                "name": step.get("registry_name") or step.get("class"),
                "config": step.get("config", {}),
                "state": load_file(str(Path(directory) / state)) if state else {},
            }
        )
    return steps


def processor_differences(ours: Path, theirs: Path, baseline: str) -> list[str]:
    """One line per difference between two saved sets of processors: a step, a setting or a tensor."""
    import torch

    lines = []
    for name in PIPELINES:
        a, b = _pipeline(ours, name), _pipeline(theirs, name)
        if [s["name"] for s in a] != [s["name"] for s in b]:
            lines.append(f"{name}: steps {[s['name'] for s in a]}, {baseline} has {[s['name'] for s in b]}")
            continue
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            where = f"{name} step {i} {x['name']}"
            for key in sorted(set(x["config"]) | set(y["config"])):
                if x["config"].get(key) != y["config"].get(key):
                    lines.append(
                        f"{where}: {key} = {x['config'].get(key)!r}, {baseline} has {y['config'].get(key)!r}"
                    )
            for key in sorted(set(x["state"]) | set(y["state"])):
                u, v = x["state"].get(key), y["state"].get(key)
                if u is None or v is None:
                    lines.append(f"{where}: {key} {'missing' if u is None else 'extra'} (vs {baseline})")
                elif u.shape != v.shape:
                    lines.append(f"{where}: {key} has shape {tuple(u.shape)}, {baseline} {tuple(v.shape)}")
                elif not torch.equal(u, v):
                    gap = float((u.double() - v.double()).abs().max())
                    lines.append(f"{where}: {key} differs from {baseline}'s (max |Δ| {gap:.3g})")
    return lines


def processor_parity_gate(exp: str, baseline: str | None, ours: Path, theirs: Path | None) -> Gate:
    """The arm's saved processors equal the baseline's: every step, setting and statistics tensor."""
    question = f"Does {exp} normalise states and actions exactly as {baseline} does (saved processors)?"
    name = f"processor_parity[{exp}]"
    if baseline is None or baseline == exp or theirs is None:
        detail = "the baseline itself" if baseline == exp else "no baseline in this study"
        return Gate(name, question, 0, "0 differences", True, detail)
    differences = processor_differences(ours, theirs, baseline)
    return Gate(name, question, len(differences), "0 differences", not differences, "; ".join(differences))
