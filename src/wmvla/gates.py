"""Sanity gates: cheap checks that must pass before the study spends its GPU budget on training.

Each gate job writes a list of `Gate` records (`results/<study>/gates/<name>.json`); the `gates` job
gathers them into `gates.json`, which every training job takes as input, and stops the DAG with one
line per failed gate — unless the study config says `gates: {enforce: false}`, in which case the
override is recorded and the report prints it as a warning.
"""

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wmvla.errors import WmvlaError

GATES_FILE = "gates.json"


class GateFailure(WmvlaError, RuntimeError):
    """At least one enforced gate failed; the message has one line per failed gate."""


@dataclass(frozen=True)
class Gate:
    name: str  # e.g. "arms_match_baseline", "init_policy_sr[libero_spatial]"
    question: str  # what the gate checks, for the report
    value: Any  # what was measured (None when skipped)
    threshold: Any  # what it had to reach, as a number or a short phrase
    passed: bool | None  # None: skipped (e.g. no init checkpoint in the smoke study)
    detail: str = ""  # why it failed, or what was skipped and why

    @property
    def line(self) -> str:
        """One line for the log or the error: name, value, threshold, verdict and detail."""
        status = {True: "passed", False: "FAILED", None: "skipped"}[self.passed]
        detail = f" — {self.detail}" if self.detail else ""
        return f"{self.name}: {status} (value {self.value}, threshold {self.threshold}){detail}"


def write_gates(path: Path, gates: list[Gate], **extra: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"gates": [asdict(g) for g in gates], **extra}, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def read_gates(path: Path) -> list[Gate]:
    try:
        records = json.loads(Path(path).read_text())["gates"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as err:
        raise WmvlaError(f"{path} is not a gate record ({type(err).__name__}); rerun its gate job") from err
    return [Gate(**record) for record in records]


def summarise(gate_files: list[Path], enforce: bool, out: Path) -> list[Gate]:
    """Gather every gate into `out`; fail with one line per failed gate when enforced.

    The summary is written either way (an overridden failure stays on record for the report); when a
    failure is enforced nothing is written, so Snakemake never takes the summary as done.
    """
    gates = [gate for path in gate_files for gate in read_gates(path)]
    failed = [g for g in gates if g.passed is False]
    if failed and enforce:
        raise GateFailure(
            f"{len(failed)} sanity gate(s) failed; no training starts:\n"
            + "\n".join(g.line for g in failed)
            + "\nFix the cause, or override with --config gates='{enforce: false}' (recorded in the report)."
        )
    write_gates(out, gates, enforced=enforce, overridden=[g.name for g in failed])
    return gates


def parity_gate(plan: dict[str, Any], configs_dir: Path) -> Gate:
    """One arm's training config, resolved as lerobot-train will resolve it, equals the baseline's outside
    the world branch (and outside the fields it declares in `differs_from_baseline`).

    `plan`: {"experiment", "args", "baseline", "baseline_args", "differs_from_baseline"} (the workflow's
    `experiment_gate_plan`). The resolved config is saved as `configs_dir/<experiment>.json` for a reader
    to diff against the baseline's.
    """
    from wmvla.parity import parity_differences, resolve_train_config

    exp, base = plan["experiment"], plan["baseline"]
    question = f"Does {exp} train and evaluate with {base}'s SmolVLA settings (as LeRobot resolves them)?"
    configs_dir = Path(configs_dir)
    configs_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wmvla-parity-") as scratch:
        resolved = {exp: resolve_train_config(plan["args"], Path(scratch))}
        if base is not None and base != exp:
            resolved[base] = resolve_train_config(plan["baseline_args"], Path(scratch))
    text = json.dumps(resolved[exp], indent=2, sort_keys=True)
    (configs_dir / f"{exp}.json").write_text(text + "\n")
    if base is None or base == exp:
        detail = "the baseline itself" if base else "no baseline in this study"
        return Gate(f"parity[{exp}]", question, 0, "0 differences", True, detail)
    declared = plan.get("differs_from_baseline") or []
    differences = parity_differences(resolved, base, {exp: declared})
    return Gate(
        name=f"parity[{exp}]",
        question=question,
        value=len(differences),
        threshold="0 differences",
        passed=not differences,
        detail="; ".join(differences) or (f"declared: {', '.join(declared)}" if declared else ""),
    )
