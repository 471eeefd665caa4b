"""World-branch arms start from the init checkpoint's exact SmolVLA configuration, as E0 does (issue: parity).

Trained from one init, E0 and the world-branch arms also normalise with the same statistics and keep the
init's settings through training and evaluation: shown on the Hub-sourced study (tests/test_hub_study.py)."""

import json
from pathlib import Path

import pytest
import torch
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

from wmvla.gates.experiment import parity_differences, parity_gate
from wmvla.study.fields import world_only_fields
from wmvla.train.resolve import resolve_train_config

from .policies import save_checkpoint, smolvla_kwargs

# Non-default SmolVLA settings of the init checkpoint (defaults: 50, 50, 10, 1e-4, (512, 512)).
INIT_SETTINGS = {"chunk_size": 4, "n_action_steps": 3, "num_steps": 4, "optimizer_lr": 3e-4}
STATS = {
    "observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)},
    "action": {"mean": torch.zeros(7), "std": torch.ones(7)},
}


@pytest.fixture(scope="module")
def init(tmp_path_factory, tiny_smolvlm) -> Path:
    kwargs = {**smolvla_kwargs(tiny_smolvlm), **INIT_SETTINGS, "push_to_hub": False}
    torch.manual_seed(0)
    return save_checkpoint(
        SmolVLAPolicy(SmolVLAConfig(**kwargs)), STATS, tmp_path_factory.mktemp("init") / "init"
    )


def _common(vlm) -> list[str]:
    return [
        "--dataset.repo_id=test/synthetic",
        f"--policy.vlm_model_name={vlm}",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        "--batch_size=2",
        "--steps=2",
        "--wandb.enable=false",
    ]


def _world(init, vlm, *extra) -> list[str]:
    return ["--policy.type=smolvla_world", f"--policy.init_from_policy_path={init}", *_common(vlm), *extra]


def test_a_world_branch_arm_resolves_to_the_init_checkpoints_settings_like_e0(init, tiny_smolvlm, tmp_path):
    e0 = resolve_train_config([f"--policy.path={init}", *_common(tiny_smolvlm)], tmp_path)
    e2 = resolve_train_config(_world(init, tiny_smolvlm, "--policy.world_dim=64"), tmp_path)
    override = resolve_train_config(_world(init, tiny_smolvlm, "--policy.n_action_steps=2"), tmp_path)
    for key, value in {**INIT_SETTINGS, "resize_imgs_with_padding": [64, 64]}.items():
        assert e0["policy"][key] == e2["policy"][key] == value, key
    assert e2["optimizer"] == e0["optimizer"] and e2["optimizer"]["lr"] == 3e-4  # the init's preset
    assert e2["scheduler"] == e0["scheduler"]
    assert override["policy"]["n_action_steps"] == 2  # an explicit override still wins
    assert e2["policy"]["pretrained_path"] is None  # weights come through init_from_policy_path

    resolved = {"E0": e0, "E2": e2, "E2b": override}
    world = world_only_fields()  # what the DAG hands the gate in its plan
    assert parity_differences(resolved, "E0", {}, world) == ["E2b: policy.n_action_steps = 2, E0 has 3"]
    assert parity_differences(resolved, "E0", {"E2b": ["n_action_steps"]}, world) == []


def test_the_parity_gate_fails_naming_the_field_and_saves_the_resolved_config(init, tiny_smolvlm, tmp_path):
    e0 = [f"--policy.path={init}", *_common(tiny_smolvlm)]
    plan = {"experiment": "F9", "args": _world(init, tiny_smolvlm, "--policy.optimizer_lr=1e-3")}
    plan |= {"baseline": "E0", "baseline_args": e0, "world_fields": sorted(world_only_fields())}
    gate = parity_gate(plan, tmp_path / "configs")
    assert gate.name == "parity[F9]" and gate.passed is False and gate.value == 3
    assert "F9: policy.optimizer_lr = 0.001, E0 has 0.0003" in gate.detail
    assert "F9: optimizer.lr = 0.001, E0 has 0.0003" in gate.detail
    assert "F9: scheduler.peak_lr = 0.001, E0 has 0.0003" in gate.detail
    saved = json.loads((tmp_path / "configs/F9.json").read_text())
    assert saved["policy"]["type"] == "smolvla_world" and saved["policy"]["optimizer_lr"] == 1e-3

    declared = parity_gate({**plan, "differs_from_baseline": ["optimizer_lr"]}, tmp_path / "configs")
    assert declared.passed is True and declared.detail == "declared: optimizer_lr"
    same = parity_gate({**plan, "args": _world(init, tiny_smolvlm)}, tmp_path / "configs")
    assert same.passed is True and same.value == 0
    baseline = parity_gate({**plan, "experiment": "E0", "args": e0}, tmp_path / "configs")
    assert baseline.passed is True and baseline.detail == "the baseline itself"
