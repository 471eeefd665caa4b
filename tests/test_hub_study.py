"""A Hub-sourced study end to end (tests/hub_study.py): `wmvla hub lock` and the hub stage against a local Hub
server holding replicas of the full study's repositories, then — with the server stopped — every other job
offline: the localized init, latent cache, preflight, gates (the init policy's among them), E0 through
`--policy.path`, the world-branch arms from the same init, evaluations, offline checks and the report. Every
command runs with an empty HOME, which must stay (almost) empty."""

import json
import re
from pathlib import Path

import pytest

from .hub_replicas import FULL_STUDY, hub_id

pytestmark = pytest.mark.slow

RUNS = [f"results/hub/libero_spatial/{exp}/seed0" for exp in ("E0", "E1", "E2")]
HOME_TOOL_BYTES = 1_000_000  # small tool caches the HOME may hold (fonts, shaders, Snakemake's own)


def test_the_lock_pins_the_replicas_and_the_hub_stage_fetches_them_as_the_client_leaves_them(hub_study):
    import yaml

    lock = yaml.safe_load((hub_study.root / "config/hub.lock.yaml").read_text())["hub"]
    assert {key: entry["sha"] for key, entry in lock.items()} == hub_study.shas
    assert {key: entry["repo_id"] for key, entry in lock.items()} == {k: hub_id(k) for k in hub_study.shas}
    for key, sha in hub_study.shas.items():
        kind, repo_id = FULL_STUDY[key]
        folder = hub_study.root / "results/hub/hub" / f"{kind}s--{repo_id.replace('/', '--')}"
        assert (folder / "snapshots" / sha).is_dir()
        assert not (folder / "refs").exists()  # a fetch by commit writes no refs/: no lookup by name offline
    init = (
        hub_study.root
        / "results/hub/hub/models--HuggingFaceVLA--smolvla_libero/snapshots"
        / lock["policy.init"]["sha"]
    )
    steps = json.loads((init / "policy_preprocessor.json").read_text())["steps"]
    assert [s["config"]["tokenizer_name"] for s in steps if "tokenizer_name" in s.get("config", {})] == [
        "HuggingFaceTB/SmolVLM2-500M-Instruct"
    ]  # by Hub id, as the real init's preprocessor names it


def test_every_stage_ran_offline_from_the_locked_snapshots(hub_study):
    results = hub_study.root / "results/hub"
    localized = json.loads((results / "init/wmvla_localized.json").read_text())
    assert {(r["field"], r["from"]) for r in localized["renamed"]} == {
        ("vlm_model_name", hub_id("policy.vlm")),
        ("steps[3].config.tokenizer_name", hub_id("policy.tokenizer")),
    }
    gates = json.loads((results / "gates/gates.json").read_text())
    names = {g["name"] for g in gates["gates"]}
    assert {"init_policy_sr[libero_spatial]", "trains[E0]", "trains[E2]", "processor_parity[E2]"} <= names
    assert all(g["passed"] is not False for g in gates["gates"]), [
        g for g in gates["gates"] if g["passed"] is False
    ]
    for run in RUNS:
        result = json.loads((hub_study.root / run / "eval/pred.json").read_text())
        assert result["overall"]["n_episodes"] == 1 and result["checkpoint_step"] == 20
        offline = json.loads((hub_study.root / run / "offline.json").read_text())
        assert offline["modes"]
    e0 = json.loads(
        (hub_study.root / RUNS[0] / "train/checkpoints/000020/pretrained_model/train_config.json").read_text()
    )
    assert e0["policy"]["pretrained_path"] == "results/hub/init"  # E0: stock lerobot-train --policy.path
    verdicts = (results / "tables/verdicts.csv").read_text()
    assert verdicts.startswith("id,") and (results / "report.html").stat().st_size > 0


def test_checkpoints_name_their_tokenizer_and_vlm_by_a_path_any_clone_has(hub_study):
    """What a fine-tuned checkpoint names resolves inside the study (relative to the workflow root): in
    another clone, after `dvc pull`, its evaluation loads it offline. No absolute path of it is saved."""
    tokenizer = "results/hub/hub/models--HuggingFaceTB--SmolVLM2-500M-Instruct/snapshots/"
    vlm = "results/hub/hub/models--HuggingFaceTB--SmolVLM2-500M-Video-Instruct/snapshots/"
    for run in RUNS:
        model = hub_study.root / run / "train/checkpoints/000020/pretrained_model"
        config = json.loads((model / "config.json").read_text())
        assert config["vlm_model_name"].startswith(vlm)
        steps = json.loads((model / "policy_preprocessor.json").read_text())["steps"]
        (named,) = [s["config"]["tokenizer_name"] for s in steps if "tokenizer_name" in s["config"]]
        assert named.startswith(tokenizer)
        for saved in model.glob("*.json"):
            assert str(hub_study.root) not in saved.read_text(), saved


def test_without_the_server_the_same_command_finds_nothing_to_do(hub_study):
    again = hub_study.snakemake()  # the server that served the hub stage is gone
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr


def test_the_home_directory_holds_no_dataset_model_or_checkpoint(hub_study, capsys):
    """Every command of the study ran with an empty HOME: the datasets library's Arrow copies went to each
    job's scratch, the libraries' caches to the study's; what is left is listed, and tiny."""
    files = sorted(p for p in hub_study.home.rglob("*") if p.is_file())
    sizes = {str(p.relative_to(hub_study.home)): p.stat().st_size for p in files}
    with capsys.disabled():
        print(f"\nHOME after the hub study: {len(sizes)} file(s), {sum(sizes.values())} bytes")
        for name, size in sizes.items():
            print(f"  {size:>9}  {name}")
    heavy = [n for n in sizes if re.search(r"\.(arrow|parquet|safetensors|bin|pt|npy)$|datasets|/hub/", n)]
    assert not heavy, heavy
    assert sum(sizes.values()) < HOME_TOOL_BYTES, sizes
    assert not any(Path(hub_study.root / "results/hub").glob("**/cache-*.arrow"))  # copies left no trace


def _checkpoint(hub_study, exp: str) -> Path:
    return (
        hub_study.root / f"results/hub/libero_spatial/{exp}/seed0/train/checkpoints/000020/pretrained_model"
    )


def test_e0_and_the_world_branch_arms_from_one_init_normalise_with_the_datasets_statistics(
    hub_study, tmp_path
):
    """The init's saved statistics (0 ± 1) are not the fine-tuning dataset's: E0, through LeRobot's own
    fine-tuning, and the world-branch arms from the same init all normalise with the dataset's — the same
    tensors, as their gates found; an arm whose statistics differ on purpose fails that gate, which names the
    key."""
    import torch
    from safetensors.torch import load_file, save_file

    from wmvla.gates.processors import processor_differences, processor_parity_gate, save_processors

    gates = {
        g["name"]: g
        for g in json.loads((hub_study.root / "results/hub/gates/gates.json").read_text())["gates"]
    }
    assert gates["processor_parity[E1]"]["passed"] and gates["processor_parity[E2]"]["passed"]
    e0, arm = _checkpoint(hub_study, "E0"), _checkpoint(hub_study, "E2")
    assert (
        processor_differences(arm, e0, "E0") == []
        and processor_differences(_checkpoint(hub_study, "E1"), e0, "E0") == []
    )
    dataset = (
        hub_study.root
        / "results/hub/hub/datasets--HuggingFaceVLA--libero/snapshots"
        / hub_study.shas["dataset"]
    )
    stats = json.loads((dataset / "meta/stats.json").read_text())
    for checkpoint in (e0, arm):
        normalizer = next(checkpoint.glob("policy_preprocessor_step_*_normalizer_processor.safetensors"))
        saved = load_file(str(normalizer))
        assert torch.allclose(
            saved["observation.state.mean"], torch.tensor(stats["observation.state"]["mean"])
        )
        assert not torch.equal(saved["observation.state.mean"], torch.zeros(8))  # not the init's

    skewed = save_processors(arm, tmp_path / "skewed")  # an arm given other statistics on purpose
    save_file(
        {**saved, "observation.state.mean": saved["observation.state.mean"] + 1}, skewed / normalizer.name
    )
    gate = processor_parity_gate("E2", "E0", skewed, save_processors(e0, tmp_path / "e0_processors"))
    assert gate.passed is False and gate.value == 1
    assert "normalizer_processor: observation.state.mean differs from E0's (max |Δ| 1)" in gate.detail


def test_a_world_branch_arm_keeps_the_inits_settings_in_its_checkpoint_and_evaluation(hub_study, monkeypatch):
    """E2 was trained with `--policy.type=smolvla_world --policy.init_from_policy_path=<init>`: its checkpoint
    keeps the init's chunk of 50 and single action per inference (the real smolvla_libero's), and its
    evaluation applies the study's protocol (n_action_steps 10) on top, as E0's does."""
    import sys

    import torch

    from wmvla.eval.config import parse_eval_config
    from wmvla.eval.runner import load_policy

    e2, e0 = (json.loads((_checkpoint(hub_study, e) / "config.json").read_text()) for e in ("E2", "E0"))
    assert e2["type"] == "smolvla_world" and (e2["chunk_size"], e2["n_action_steps"]) == (50, 1)
    assert {
        k: e2[k] for k in ("chunk_size", "n_action_steps", "optimizer_lr", "resize_imgs_with_padding")
    } == {k: e0[k] for k in ("chunk_size", "n_action_steps", "optimizer_lr", "resize_imgs_with_padding")}
    result = json.loads((hub_study.root / RUNS[2] / "eval/pred.json").read_text())
    assert result["provenance"]["config"]["protocol"]["n_action_steps"] == 10

    monkeypatch.chdir(hub_study.root)  # where every job runs: the checkpoint names its VLM relative to it
    argv = [f"--policy.path={_checkpoint(hub_study, 'E2')}", "--policy.device=cpu", "--env.type=libero",
            "--env.task=libero_spatial", "--policy.n_action_steps=3", "--result=unused.json"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["lerobot-wm-eval", *argv])
    policy, pre, _ = load_policy(parse_eval_config())
    observation = {
        "observation.images.image": torch.rand(1, 3, 64, 64),
        "observation.images.image2": torch.rand(1, 3, 64, 64),
        "observation.state": torch.randn(1, 8),
        "task": ["pick up the black bowl between the plate and the ramekin and place it on the plate"],
    }
    policy.reset()
    policy.select_action(pre(observation))
    assert len(policy._queues["action"]) == 3 - 1  # a chunk executes the protocol's n_action_steps
