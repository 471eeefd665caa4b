"""Sanity gates: cheap checks that must pass before the study spends its GPU budget on training.

Each gate job writes a list of `Gate` records (`results/<study>/gates/<name>.json`); the `gates` job
gathers them into `gates.json`, which every training job takes as input, and stops the DAG with one
line per failed gate — unless the study config says `gates: {enforce: false}`, in which case the
override is recorded and the report prints it as a warning.
"""

import json
import re
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


def summarise(gate_files: list[Path], enforce: bool, out: Path, skipped: list[Gate] = ()) -> list[Gate]:
    """Gather every gate (and those that do not apply, `skipped`) into `out`; fail with one line per
    failed gate when enforced.

    With the override, the summary records the failures for the report; when a failure is enforced
    nothing is written, so Snakemake never takes the summary as done.
    """
    gates = [gate for path in gate_files for gate in read_gates(path)] + list(skipped)
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


def failure_line(stderr: str) -> str:
    """The line of a failed command's stderr that says why: its exception or error line, else its last."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception)\b", line) or " ERROR " in line:
            return line
    return lines[-1] if lines else "no output"


def train_steps_gate(plan: dict[str, Any], steps: int, scratch: Path) -> Gate:
    """The experiment trains: `steps` steps of `lerobot-wm-train` with its exact arguments, on the real
    dataset (the first suite's training episodes) and latent cache; every logged loss and world metric
    finite. (The seed notes' "smoke train --steps=2".)"""
    import math
    import subprocess
    import sys

    from wmvla.data.suites import split_episodes, suite_episodes

    exp = plan["experiment"]
    question = f"Does {exp} train {steps} steps with its exact overrides, with finite losses?"
    root = next(a.split("=", 1)[1] for a in plan["args"] if a.startswith("--dataset.root="))
    episodes = split_episodes(suite_episodes(root, plan["suite"]), "train", plan["holdout_every"])
    replaced = ("--steps=", "--save_freq=", "--save_checkpoint=", "--log_freq=", "--output_dir=")
    out = Path(scratch) / exp
    args = [a for a in plan["args"] if not a.startswith(replaced)]
    args += [f"--steps={steps}", "--save_checkpoint=false", "--log_freq=1", f"--output_dir={out}"]
    args.append("--dataset.episodes=[" + ",".join(map(str, episodes)) + "]")
    command = [str(Path(sys.executable).parent / "lerobot-wm-train"), *args]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        failed = f"lerobot-wm-train failed: {failure_line(run.stderr)}"
        return Gate(f"trains[{exp}]", question, None, f"{steps} steps", False, failed)
    losses = [float(v) for v in re.findall(r"\bloss:(\S+)", run.stdout + run.stderr)]
    metrics = out / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
    values = [*losses, *(v for r in records for v in r.values() if isinstance(v, int | float))]
    bad = [v for v in values if not math.isfinite(v)]
    ok = bool(losses) and len(losses) >= steps and not bad
    detail = f"{len(losses)} logged losses, {len(records)} world-metric records"
    detail += f"; non-finite: {bad[:5]}" if bad else ""
    return Gate(f"trains[{exp}]", question, losses[-1] if losses else None, "finite", ok, detail)


def latent_gates(cache: Path, max_consecutive_cos: float, min_relative_std: float) -> list[Gate]:
    """The latent cache is informative: finite, varying across frames, changing from frame to frame.

    Catches black frames or broken preprocessing (every row alike) before any world arm trains on them.
    Statistics over every row (the fp16 shards read into one float32 array: ~1.5 GB for full LIBERO's
    V-JEPA 2 ViT-g cache): the per-dimension std across frames relative to the per-dimension RMS, and the
    mean cosine between consecutive frames of the same episode.
    """
    import numpy as np

    from wmvla.latents.cache import read_meta

    meta = read_meta(cache)
    shards = [np.load(Path(cache) / s["file"]) for s in meta["shards"]]
    z = np.concatenate(shards).astype(np.float32)  # (N, D)
    finite_rows = np.isfinite(z).all(axis=1)
    n_bad = int((~finite_rows).sum())
    good = z[finite_rows]
    rms = float(np.sqrt((good**2).mean()))
    relative_std = float(good.std(axis=0).mean() / rms) if rms > 0 else 0.0
    ends = np.asarray(meta["episodes"]["end"])
    same_episode = np.ones(len(finite_rows) - 1, dtype=bool)
    same_episode[ends[ends < len(finite_rows)] - 1] = False  # row end-1 → end crosses into the next episode
    pairs = same_episode & finite_rows[:-1] & finite_rows[1:]
    a, b = z[:-1][pairs], z[1:][pairs]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = float(((a * b).sum(axis=1) / np.maximum(norms, 1e-12)).mean()) if len(a) else 1.0
    encoder = meta["encoder"]["name"]
    where = f"{encoder} cache of {meta['num_frames']} frames"
    return [
        Gate(
            f"latents_finite[{encoder}]",
            f"Is every latent of the {where} finite?",
            n_bad,
            "0 non-finite",
            n_bad == 0,
        ),
        Gate(
            f"latents_vary_across_frames[{encoder}]",
            "Do the latents vary across frames (per-dimension std relative to RMS)?",
            round(relative_std, 5),
            f">= {min_relative_std}",
            relative_std >= min_relative_std,
        ),
        Gate(
            f"latents_change_between_frames[{encoder}]",
            "Do consecutive frames of an episode get different latents (mean cosine)?",
            round(cos, 6),
            f"<= {max_consecutive_cos}",
            cos <= max_consecutive_cos,
            f"{int(pairs.sum())} consecutive pairs",
        ),
    ]


def init_policy_gate(result: dict[str, Any], min_sr: float) -> Gate:
    """The init checkpoint, evaluated unchanged in this simulator, reaches `min_sr` on a suite."""
    suite, overall = result["suite"], result["overall"]
    low, high = overall["sr_ci95"]
    return Gate(
        f"init_policy_sr[{suite}]",
        f"Does the init policy, unchanged, succeed on {suite} in this simulator?",
        round(overall["sr"], 3),
        f">= {min_sr}",
        overall["sr"] >= min_sr,
        f"{overall['successes']}/{overall['n_episodes']} episodes, Wilson 95% [{low:.2f}, {high:.2f}]",
    )
