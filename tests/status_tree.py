"""A study's results tree at mixed stages, written as its jobs would leave it (for `wmvla status`'s tests and
bench/status.py): every run of the config gets a planned stage, and the files a job at that stage has
written — outputs, a `.partial` run with its progress, episode logs, job logs with their attempts, leases."""

import json
import os
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

from wmvla.lease import lease_path
from wmvla.lease.holder import Holder
from wmvla.study.config import experiment, perturbation_kinds, perturbed_arms, runs, train_steps
from wmvla.study.paths import (
    GATE_CLEARED,
    eval_result,
    fill,
    log,
    perturbed_eval_result,
    train_dir,
)
from wmvla.study.targets import clearance_records

STAGES = ("done", "trained", "training", "evaluating", "failed", "interrupted", "waiting")
ERROR = "RuntimeError: HIP out of memory. Tried to allocate 2.00 GiB"


def dead_holder() -> Holder:
    """A holder whose process has ended (a child that exited)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return Holder(os.uname().nodename, child.pid, "1", nonce="dead")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _attempt(path: Path, status: int | None, body: str = "", age_s: float = 0.0) -> None:
    """A job log whose last attempt ended with `status` (None: still open)."""
    text = f"=== attempt started 2026-12-06T10:00:00+00:00 on node1: wmvla job\n{body}"
    if status is not None:
        text += f"=== attempt ended 2026-12-06T11:00:00+00:00: exit status {status} after 3600 s\n"
    _write(path, text)
    if age_s:
        os.utime(path, (time.time() - age_s, time.time() - age_s))


def _lease(output: Path, holder: Holder) -> None:
    _write(lease_path(output), json.dumps(asdict(holder)))


def _evals(config: dict, suite: str, exp: str, seed: int) -> list[tuple[Path, Path]]:
    where = {"suite": suite, "exp": exp, "seed": seed}
    out = [(eval_result(config, **where, mode=m), Path(fill(log("eval"), config, **where, mode=m)))
           for m in experiment(config, exp)["eval_modes"]]  # fmt: skip
    for kind in perturbation_kinds(config) if exp in perturbed_arms(config) else []:
        result = perturbed_eval_result(config, **where, kind=kind, mode="pred")
        out.append(
            (result, Path(fill(log("eval_perturbed"), config, **where, perturbation=kind, mode="pred")))
        )
    return out


def write_run(config: dict, suite: str, exp: str, seed: int, stage: str, live: Holder) -> None:
    """The files of one run at `stage` (`live`: a holder that runs, for the jobs in progress)."""
    train = train_dir(config, suite, exp, seed)
    train_log = Path(fill(log("train"), config, suite=suite, exp=exp, seed=seed))
    steps = train_steps(config)
    partial = train.with_name("train.partial")
    if stage in ("training", "interrupted"):
        _write(partial / "progress.json", json.dumps({"step": steps // 4, "steps": steps, "time": 0}))
    if stage == "training":
        _attempt(train_log, None, "INFO step:12K loss:0.31\n")
        _lease(train, live)
    elif stage == "interrupted":
        _attempt(train_log, None, "INFO step:12K loss:0.31\n", age_s=7200)
        _lease(train, dead_holder())
    elif stage == "failed":
        _attempt(train_log, 1, f"Traceback (most recent call last):\n  File 'x.py', line 1\n{ERROR}\n")
    elif stage != "waiting":
        _write(train / "wmvla_run.json", "{}")
        _attempt(train_log, 0)
    evals = _evals(config, suite, exp, seed)
    for i, (result, eval_log) in enumerate(evals):
        if stage == "done" or (stage in ("trained", "evaluating") and i < len(evals) - 1):
            _write(result, "{}")
            _attempt(eval_log, 0)
    if stage == "evaluating":
        result, eval_log = evals[-1]
        header = json.dumps({"evaluation": {}}) + "\n"
        _write(result.with_suffix(".episodes.jsonl"), header + '{"success": true}\n' * 7)
        _attempt(eval_log, None)
        _lease(result, live)


def planned_stages(config: dict) -> dict[tuple[str, str, int], str]:
    """A stage for every run, cycling through `STAGES` (so a full study has every stage many times)."""
    return {run: STAGES[i % len(STAGES)] for i, run in enumerate(runs(config))}


def build_tree(config: dict, stages: dict[tuple[str, str, int], str], live: Holder) -> None:
    """Every run at its stage, in the current directory; the experiments of runs past `waiting` cleared."""
    started = {exp for (_, exp, _), stage in stages.items() if stage != "waiting"}
    for exp in config["experiments"]:
        if exp in started:
            for record in clearance_records(config, exp):
                _write(Path(record), json.dumps({"gates": []}))
            _write(Path(fill(GATE_CLEARED, config, exp=exp)), "{}")
    for (suite, exp, seed), stage in stages.items():
        write_run(config, suite, exp, seed, stage, live)
