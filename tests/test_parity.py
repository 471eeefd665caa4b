"""World arms start from exactly the init checkpoint's SmolVLA configuration, as E0 does (issue: parity)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

from wmvla.gates.experiment import parity_differences, parity_gate
from wmvla.latents.cache import CacheRequest, build_cache
from wmvla.latents.encoders import load_encoder
from wmvla.study.fields import world_only_fields
from wmvla.train.resolve import resolve_train_config

from .datasets import synthetic_dataset
from .policies import TINY_WORLD, save_checkpoint, smolvla_kwargs

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


def test_a_world_arm_resolves_to_the_init_checkpoints_settings_like_e0(init, tiny_smolvlm, tmp_path):
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


def _dataset_and_world(tmp_path: Path, tiny_vjepa2: Path) -> tuple[Path, dict]:
    """A synthetic dataset, its tiny V-JEPA latent cache, and the world arm's overrides that read it."""
    dataset = synthetic_dataset(tmp_path / "ds", lengths=(6, 5), image_size=64)
    cache = build_cache(
        dataset, CacheRequest("test/synthetic", "vjepa2-tiny", 4), load_encoder("vjepa2-tiny", tiny_vjepa2),
        tmp_path / "cache", 4, 8,
    ).path  # fmt: skip
    return dataset, {**TINY_WORLD, "world_latents_path": cache, "world_encoder_path": tiny_vjepa2}


def test_a_world_arm_trained_from_the_init_keeps_its_settings_in_checkpoint_and_evaluation(
    init, tiny_smolvlm, tiny_vjepa2, tmp_path, monkeypatch
):
    dataset, world = _dataset_and_world(tmp_path, tiny_vjepa2)
    out = tmp_path / "train"
    cmd = [
        str(Path(sys.executable).parent / "lerobot-wm-train"),
        *_world(init, tiny_smolvlm, "--policy.num_steps=5"),  # one explicit override
        *(f"--policy.{k}={v}" for k, v in world.items()),
        f"--dataset.root={dataset}",
        "--num_workers=0",
        "--log_freq=1",
        f"--output_dir={out}",
    ]
    run = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert run.returncode == 0, run.stderr[-3000:]
    checkpoint = out / "checkpoints/000002/pretrained_model"
    saved = json.loads((checkpoint / "config.json").read_text())
    assert saved["type"] == "smolvla_world"
    assert {k: saved[k] for k in ("chunk_size", "n_action_steps", "optimizer_lr")} == {
        "chunk_size": 4, "n_action_steps": 3, "optimizer_lr": 3e-4,
    }  # fmt: skip
    assert saved["resize_imgs_with_padding"] == [64, 64] and saved["num_steps"] == 5

    from wmvla.eval.config import parse_eval_config
    from wmvla.eval.runner import load_policy

    argv = [
        f"--policy.path={checkpoint}",
        "--policy.device=cpu",
        "--env.type=libero",
        "--env.task=libero_spatial",
    ]
    monkeypatch.setattr(sys, "argv", ["lerobot-wm-eval", *argv, f"--result={tmp_path / 'pred.json'}"])
    policy, pre, _ = load_policy(parse_eval_config())
    assert policy.config.n_action_steps == 3 and policy.config.num_steps == 5
    observation = {
        "observation.images.image": torch.rand(1, 3, 64, 64),
        "observation.images.image2": torch.rand(1, 3, 64, 64),
        "observation.state": torch.randn(1, 8),
        "task": ["put the bowl on the plate"],
    }
    policy.reset()
    policy.select_action(pre(observation))
    assert len(policy._queues["action"]) == 3 - 1  # a chunk executes the init's n_action_steps


def _train(args: list[str], out: Path) -> Path:
    cmd = [
        str(Path(sys.executable).parent / "lerobot-wm-train"),
        *args,
        "--num_workers=0",
        f"--output_dir={out}",
    ]
    run = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return out / "checkpoints/000002/pretrained_model"


def test_e0_and_a_world_arm_from_one_init_normalise_with_the_same_statistics(
    init, tiny_smolvlm, tiny_vjepa2, tmp_path
):
    """The init checkpoint's saved statistics (0 ± 1) are not the fine-tuning dataset's: E0, through LeRobot's
    own fine-tuning, and a world arm from the same init both normalise with the dataset's — the same
    tensors; an arm whose statistics differ on purpose fails the parity gate, which names the key."""
    from safetensors.torch import load_file, save_file

    from wmvla.gates.processors import processor_differences, processor_parity_gate, save_processors

    dataset, world = _dataset_and_world(tmp_path, tiny_vjepa2)
    data = [f"--dataset.root={dataset}"]
    e0 = _train([f"--policy.path={init}", *_common(tiny_smolvlm), *data], tmp_path / "e0")
    arm = _train(
        [*_world(init, tiny_smolvlm), *(f"--policy.{k}={v}" for k, v in world.items()), *data],
        tmp_path / "e2",
    )
    assert processor_differences(arm, e0, "E0") == []
    normalizer = next(arm.glob("policy_preprocessor_step_*_normalizer_processor.safetensors"))
    saved = load_file(str(normalizer))
    stats = json.loads((dataset / "meta/stats.json").read_text())
    assert torch.allclose(saved["observation.state.mean"], torch.tensor(stats["observation.state"]["mean"]))
    assert not torch.equal(
        saved["observation.state.mean"], STATS["observation.state"]["mean"]
    )  # not the init's

    skewed = save_processors(arm, tmp_path / "skewed")  # an arm given other statistics on purpose
    save_file(
        {**saved, "observation.state.mean": saved["observation.state.mean"] + 1}, skewed / normalizer.name
    )
    gate = processor_parity_gate("E2", "E0", skewed, save_processors(e0, tmp_path / "e0_processors"))
    assert gate.passed is False and gate.value == 1
    assert "normalizer_processor: observation.state.mean differs from E0's (max |Δ| 1)" in gate.detail
