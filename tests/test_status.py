"""`wmvla status`: every run of a study at its stage, read off the files its jobs leave (tests/status_tree.py
writes a full study's tree at mixed stages as jobs would)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wmvla.lease.holder import Holder
from wmvla.study.config import load_study_config, train_steps
from wmvla.watch.status import gate_states, study_status

from .status_tree import ERROR, build_tree, planned_stages

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def full_tree(tmp_path_factory):
    """The full study's 192 runs at mixed stages; one experiment's runs all waiting, its gates not run."""
    config = load_study_config(REPO / "config/config.yaml")
    stages = planned_stages(config)
    held_back = list(config["experiments"])[-1]
    stages |= {run: "waiting" for run in stages if run[1] == held_back}
    root = tmp_path_factory.mktemp("study")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        build_tree(config, stages, Holder.me())
    finally:
        os.chdir(cwd)
    return {"config": config, "stages": stages, "root": root, "held_back": held_back}


def _status(tree, monkeypatch, queue=None):
    monkeypatch.chdir(tree["root"])
    gates = gate_states(tree["config"])
    runs, leases = study_status(tree["config"], queue, gates)
    return {(r.suite, r.exp, r.seed): r for r in runs}, leases, gates


def test_every_run_of_a_full_study_is_at_its_stage(full_tree, monkeypatch):
    runs, _, _ = _status(full_tree, monkeypatch)
    assert len(runs) == 192
    assert {run: r.stage for run, r in runs.items()} == full_tree["stages"]
    assert set(full_tree["stages"].values()) == {
        "done", "trained", "training", "evaluating", "failed", "interrupted", "waiting"
    }  # fmt: skip


def test_what_each_stage_says(full_tree, monkeypatch):
    runs, leases, gates = _status(full_tree, monkeypatch)
    steps = train_steps(full_tree["config"])
    by_stage = {}
    for run in runs.values():
        by_stage.setdefault(run.stage, []).append(run)
    training = by_stage["training"][0].train
    assert (training.done, training.total, training.detail) == (
        steps // 4,
        steps,
        f"process {os.getpid()} runs",
    )
    failed = by_stage["failed"][0]
    assert failed.train.detail == ERROR and failed.train.log.endswith(
        f"logs/full/{failed.suite}/{failed.exp}/seed{failed.seed}/train.log"
    )
    interrupted = by_stage["interrupted"][0].train
    assert interrupted.state == "interrupted" and interrupted.done == steps // 4
    evaluating = [j for j in by_stage["evaluating"][0].evals if j.state == "running"]
    assert [(j.done, j.total) for j in evaluating] == [(7, 10 * 50)]  # 7 of a suite's 10 tasks × 50 episodes
    trained = by_stage["trained"][0]
    assert [j.state for j in trained.evals][-1] == "waiting" and trained.evals[0].state == "done"
    held_back = full_tree["held_back"]
    assert gates[f"experiment {held_back}"][0] == "pending"
    waiting = [r for r in by_stage["waiting"] if r.exp == held_back]
    assert waiting and all(r.train.detail == f"waits for gates/experiments/{held_back}.json" for r in waiting)
    others = [r for r in by_stage["waiting"] if r.exp != held_back]
    assert others and all(r.train.detail.startswith(("waits for its latent cache", "ready")) for r in others)
    alive = {lease.alive for lease in leases}
    assert alive == {True, False}  # the jobs in progress hold theirs; the interrupted ones' holders ended
    assert sum(lease.alive is True for lease in leases) == len(by_stage["training"]) + len(
        by_stage["evaluating"]
    )


def test_a_slurm_holder_is_judged_by_one_listing_of_the_queue(full_tree, monkeypatch):
    from wmvla.watch.status import judge

    holder = Holder("node7", 4242, "99", slurm_job="1234", user="me")
    assert judge(holder, {"1234": "RUNNING"}) == (True, "Slurm job 1234 RUNNING")
    assert judge(holder, {}) == (False, "Slurm job 1234 has left the queue")
    assert judge(holder, None)[0] is None  # no squeue here: not guessed


def test_the_command_prints_every_run_and_its_json_has_them_all(full_tree):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "wmvla.cli", "status", "--configfile", str(REPO / "config/config.yaml")]
    text = subprocess.run(cmd, cwd=full_tree["root"], env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "study full at" in text.stdout and f"train failed: {ERROR}" in text.stdout
    assert "left:" in text.stdout and "import torch" not in text.stderr
    found = json.loads(
        subprocess.run(
            [*cmd, "--json"], cwd=full_tree["root"], env=env, capture_output=True, text=True
        ).stdout
    )
    assert len(found["runs"]) == 192 and sum(found["stages"].values()) == 192
    assert found["remaining"]["job_hours"] > 0 and "torch" not in found  # the study is not over


def test_status_imports_no_torch():
    code = "import sys, wmvla.cli.status, wmvla.watch.status, wmvla.watch.eta; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
