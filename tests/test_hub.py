"""The hub stage's lock and offline cache: artifacts named by the config, lock checks, offline loading."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from wmvla.hub.check import check_manifests, offline_environment
from wmvla.hub.fetch import fetch, snapshot_files
from wmvla.hub.lock import (
    UNLOCKED,
    Artifact,
    HubError,
    lock_problems,
    read_lock,
    snapshot_dir,
    snapshot_revision,
    write_lock,
)
from wmvla.study.artifacts import hub_dir, is_hub_id, study_artifacts

from .hub_cache import FAKE_SHA, place_in_cache
from .plans import copy_workflow


def _config(repo, name="config.yaml"):
    from wmvla.study.config import load_study_config

    return load_study_config(repo / "config" / name)


def _entries(artifacts, sha=FAKE_SHA):
    return {
        a.key: {"repo_id": a.repo_id, "repo_type": a.repo_type, "revision": a.revision, "sha": sha}
        for a in artifacts
    }


def test_the_full_study_names_five_hub_artifacts_and_smoke_none(repo):
    artifacts = study_artifacts(_config(repo))
    assert [(a.key, a.repo_id, a.repo_type) for a in artifacts] == [
        ("dataset", "HuggingFaceVLA/libero", "dataset"),
        ("policy.init", "HuggingFaceVLA/smolvla_libero", "model"),
        ("policy.vlm", "HuggingFaceTB/SmolVLM2-500M-Video-Instruct", "model"),
        ("encoder.vjepa2-vitg", "facebook/vjepa2-vitg-fpc64-256", "model"),  # E1, E2, F*, IB*
        ("encoder.cosmos-cv8x8x8", "nvidia/Cosmos-1.0-Tokenizer-CV8x8x8", "model"),  # E2_cosmos
    ]
    assert study_artifacts(_config(repo, "smoke.yaml")) == []
    assert is_hub_id("HuggingFaceVLA/smolvla_libero") and not is_hub_id("results/x/y") and not is_hub_id(None)


def test_cache_folders_are_named_as_huggingface_hub_names_them():
    from huggingface_hub.file_download import repo_folder_name

    for repo_type in ("model", "dataset"):
        artifact = Artifact("k", "owner/name", repo_type, "main", ("*",))
        assert artifact.folder == repo_folder_name(repo_id="owner/name", repo_type=repo_type)


def test_lock_problems_name_the_artifact_and_the_command_that_fixes_them(repo, tmp_path):
    artifacts = study_artifacts(_config(repo))
    lock = tmp_path / "hub.lock.yaml"
    assert lock_problems(artifacts, _entries(artifacts), lock) == []

    (missing,) = lock_problems(artifacts, None, lock)  # no lock (or no section for this study)
    names = "dataset, policy.init, policy.vlm, encoder.vjepa2-vitg, encoder.cosmos-cv8x8x8"
    assert f"pins no artifact of this study ({names})" in missing
    assert "wmvla hub lock" in missing

    stale = _entries(artifacts[:4])  # an artifact added to the config since the lock was written
    (added,) = lock_problems(artifacts, stale, lock)
    assert (
        added.startswith("encoder.cosmos-cv8x8x8 (nvidia/Cosmos-1.0-Tokenizer-CV8x8x8) is not in")
        and "wmvla hub lock" in added
    )

    changed = _entries(artifacts)
    changed["policy.init"]["revision"] = "v1.0"  # the config's revision moved on
    (revision,) = lock_problems(artifacts, changed, lock)
    assert "policy.init: the config says revision='main'" in revision and "written for 'v1.0'" in revision

    extra = {**_entries(artifacts), "encoder.vjepa2-vitl": {"repo_id": "facebook/vjepa2-vitl-fpc64-256"}}
    (unknown,) = lock_problems(artifacts, extra, lock)  # the lock pins something the config no longer names
    assert "pins encoder.vjepa2-vitl, which the config does not name" in unknown

    no_sha = _entries(artifacts, sha="")
    assert len(lock_problems(artifacts, no_sha, lock)) == len(artifacts) == 5


def test_the_lock_file_keeps_every_studys_section(tmp_path):
    lock = tmp_path / "hub.lock.yaml"
    write_lock(lock, "full", {"dataset": {"repo_id": "a/b", "sha": "1" * 40}})
    write_lock(lock, "other", {"dataset": {"repo_id": "c/d", "sha": "2" * 40}})
    assert read_lock(lock, "full")["dataset"]["sha"] == "1" * 40
    assert read_lock(lock, "other")["dataset"]["repo_id"] == "c/d"
    assert read_lock(lock, "smoke") is None and read_lock(tmp_path / "none.yaml", "full") is None
    assert lock.read_text().startswith("# Hub artifacts of each study pinned to commits")


def test_nothing_unlocked_is_ever_fetched(tmp_path):
    artifact = Artifact("policy.init", "a/b", "model", "main", ("*.json",))
    with pytest.raises(HubError, match="not locked; run `wmvla hub lock"):
        fetch(artifact, UNLOCKED, tmp_path)


@pytest.fixture(scope="module")
def offline_cache(tmp_path_factory, tiny_smolvlm, tiny_vjepa2):
    """Tiny models placed in an HF-layout cache under Hub-style ids at a fake commit, with manifests."""
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    from .policies import save_checkpoint, smolvla_kwargs

    root = tmp_path_factory.mktemp("hub")
    cache = root / "cache"
    vlm = place_in_cache(tiny_smolvlm, cache, "wmvla-test/smolvlm-tiny")
    encoder = place_in_cache(tiny_vjepa2, cache, "wmvla-test/vjepa2-tiny")
    torch.manual_seed(0)
    policy = SmolVLAPolicy(SmolVLAConfig(**{**smolvla_kwargs(vlm), "push_to_hub": False}))
    stats = {"observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)}}
    stats["action"] = {"mean": torch.zeros(7), "std": torch.ones(7)}
    init = place_in_cache(save_checkpoint(policy, stats, root / "init"), cache, "wmvla-test/smolvla-init")
    manifests = {}
    for key, repo_id, snapshot in (
        ("policy.vlm", "wmvla-test/smolvlm-tiny", vlm),
        ("encoder.vjepa2-tiny", "wmvla-test/vjepa2-tiny", encoder),
        ("policy.init", "wmvla-test/smolvla-init", init),
    ):
        artifact = Artifact(key, repo_id, "model", "main", ("*",))
        assert snapshot == snapshot_dir(cache, artifact, FAKE_SHA)
        manifest = {"key": key, "repo_id": repo_id, "sha": FAKE_SHA, "snapshot": str(snapshot)}
        manifests[key] = root / f"{key}.json"
        manifests[key].write_text(json.dumps({**manifest, "files": snapshot_files(snapshot)}))
    return {"cache": cache, "vlm": vlm, "encoder": encoder, "init": init, "manifests": manifests}


def test_the_cosmos_tokenizer_loads_offline_from_its_snapshot_and_records_the_commit(
    tiny_cosmos, tmp_path, monkeypatch
):
    """Its Hub repository keeps the model in `vae/`, which is all the hub stage fetches of it."""
    from wmvla.latents.encoders import CosmosEncoder, load_encoder
    from wmvla.latents.registry import encoder_spec

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = place_in_cache(tiny_cosmos, tmp_path / "cache", "nvidia/Cosmos-1.0-Tokenizer-CV8x8x8")
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()) == [
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "wmvla_tiny_model.json",
    ]
    assert {"vae/*.json", "vae/*.safetensors"} == set(encoder_spec("cosmos-cv8x8x8").files)
    encoder = load_encoder("cosmos-tiny", snapshot, revision=snapshot_revision(snapshot))
    assert isinstance(encoder, CosmosEncoder) and encoder.resolved_revision == FAKE_SHA


def test_tiny_models_load_offline_from_the_cache_through_the_real_loaders(
    offline_cache, monkeypatch, tmp_path
):
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy
    from transformers import AutoConfig, AutoProcessor

    from wmvla.latents.encoders import load_encoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = offline_cache["cache"]
    # transformers by Hub id and locked commit, from the cache
    config = AutoConfig.from_pretrained("wmvla-test/smolvlm-tiny", revision=FAKE_SHA, cache_dir=cache)
    assert config.model_type == "smolvlm"
    AutoProcessor.from_pretrained("wmvla-test/smolvlm-tiny", revision=FAKE_SHA, cache_dir=cache)
    # LeRobot's --policy.path, given the snapshot (its VLM, too, is a snapshot path)
    policy_cfg = PreTrainedConfig.from_pretrained(str(offline_cache["init"]))
    assert policy_cfg.type == "smolvla" and policy_cfg.vlm_model_name == str(offline_cache["vlm"])
    policy = SmolVLAPolicy.from_pretrained(str(offline_cache["init"]))
    assert sum(p.numel() for p in policy.parameters()) > 0
    # the encoder registry; the cache metadata then records the commit (`wmvla latents build` passes it)
    encoder = load_encoder(
        "vjepa2-tiny", offline_cache["encoder"], revision=snapshot_revision(offline_cache["encoder"])
    )
    assert encoder.resolved_revision == FAKE_SHA == snapshot_revision(offline_cache["encoder"])
    check_manifests(list(offline_cache["manifests"].values()))


def test_a_file_missing_from_the_cache_is_one_line_naming_the_artifact_and_the_stage(offline_cache, tmp_path):
    import shutil

    copy = tmp_path / "cache"
    shutil.copytree(offline_cache["cache"], copy, symlinks=True)
    manifest = json.loads(offline_cache["manifests"]["encoder.vjepa2-tiny"].read_text())
    snapshot = Path(str(manifest["snapshot"]).replace(str(offline_cache["cache"]), str(copy)))
    (snapshot / "config.json").unlink()
    moved = tmp_path / "encoder.json"
    moved.write_text(json.dumps({**manifest, "snapshot": str(snapshot)}))
    with pytest.raises(
        HubError,
        match=r"encoder.vjepa2-tiny \(wmvla-test/vjepa2-tiny@0123456789ab\): .*config.json is missing",
    ):
        check_manifests([moved])
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "wmvla"), "hub", "check", str(moved)],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 2
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and "snakemake --forcerun hub" in lines[0] and "Traceback" not in cli.stderr


def _locked_study(repo, tmp_path) -> Path:
    """A copy of the workflow whose lock pins the full study's artifacts at a fake commit."""
    copy_workflow(repo, tmp_path)
    artifacts = study_artifacts(_config(repo))
    write_lock(tmp_path / "config/hub.lock.yaml", "full", _entries(artifacts))
    return tmp_path


def local_rules(study: Path) -> set[str]:
    """The rules Snakemake runs on the submitting host (never as cluster jobs), via its API."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    with SnakemakeApi(OutputSettings(quiet=None)) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[study / "config/config.yaml"]),
            storage_settings=StorageSettings(),
            snakefile=study / "Snakefile",
            workdir=study,
        )
        return set(workflow.dag(dag_settings=DAGSettings()).workflow_api._workflow._localrules)


def test_every_job_loading_a_hub_artifact_runs_offline_on_locked_snapshots(snakemake_bin, repo, tmp_path):
    study = _locked_study(repo, tmp_path)
    out = subprocess.run(
        [snakemake_bin, "-n", "-p", "--profile", str(repo / "profiles/mi300x"), "--config", "seeds=[0]"],
        cwd=study, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "hub lock:" not in out.stdout + out.stderr  # the lock is complete: no warning
    blocks = {}  # rule → its planned jobs (as printed)
    for block in out.stdout.split("\n\n"):
        if rule := re.search(r"^(?:rule|checkpoint) (\w+):", block, re.MULTILINE):
            blocks.setdefault(rule[1], []).append(block)
    hub_jobs = blocks["hub"]
    assert len(hub_jobs) == 5 and all(
        re.search(r"HF_HUB_OFFLINE=0 wmvla job .* wmvla hub fetch", b) for b in hub_jobs
    )
    assert "hub" in local_rules(study)  # it runs on the submitting host, the only one with network
    rules = ("train", "eval", "offline_check", "latents", "gate_experiment", "preflight")
    assert [len(blocks[r]) for r in rules] == [64, 72, 64, 2, 16, 1]
    snapshot = f"/snapshots/{FAKE_SHA}"
    for rule in rules:
        for block in blocks[rule]:
            command = block.split("Shell command:", 1)[1]
            assert UNLOCKED not in block and "HuggingFaceVLA/smolvla_libero " not in command
            if rule in ("train", "gate_experiment"):  # E0's --policy.path and the arms' init, at the commit
                assert f"smolvla_libero{snapshot}" in command
                assert f"SmolVLM2-500M-Video-Instruct{snapshot}" in command
            job = command.split(" -- ", 1)[0]  # `wmvla job` checks them before anything loads
            if rule == "preflight":  # checks the manifests itself, and parses every model config
                assert "wmvla preflight results/full/hub/manifests/dataset.json" in command
            else:
                assert "--hub results/full/hub/manifests/" in job
            if rule == "latents":  # each cache from its own encoder's snapshot
                assert f"vjepa2-vitg-fpc64-256{snapshot}" in command or f"CV8x8x8{snapshot}" in command
            if rule in ("train", "latents", "offline_check", "preflight"):
                assert f"results/full/hub/datasets--HuggingFaceVLA--libero{snapshot}" in command

    config = {**_config(repo), "hub_lock": str(study / "config/hub.lock.yaml")}
    env: dict[str, str] = {}
    offline_environment(env, hub_dir(config))  # what the Snakefile sets for every job it runs
    assert env["HF_HUB_OFFLINE"] == "1" and env["HF_HUB_CACHE"].endswith("results/full/hub")


def test_a_real_run_refuses_an_unlocked_study_before_any_job(snakemake_bin, repo, tmp_path):
    study = _locked_study(repo, tmp_path)
    lock = yaml.safe_load((study / "config/hub.lock.yaml").read_text())
    lock["full"]["policy.vlm"]["revision"] = "v2"
    (study / "config/hub.lock.yaml").write_text(yaml.safe_dump(lock))
    args = [
        "--cores",
        "1",
        "--configfile",
        "config/config.yaml",
        "--config",
        "seeds=[0]",
        "suites=[libero_goal]",
    ]
    dry = subprocess.run([snakemake_bin, "-n", *args], cwd=study, capture_output=True, text=True, timeout=300)
    assert (
        dry.returncode == 0
        and "hub lock: policy.vlm: the config says revision='main'" in dry.stdout + dry.stderr
    )
    real = subprocess.run([snakemake_bin, *args], cwd=study, capture_output=True, text=True, timeout=300)
    assert real.returncode != 0 and "HubError" in real.stdout + real.stderr
    assert "policy.vlm: the config says revision='main'" in real.stdout + real.stderr
    assert not (study / "results").exists() and not (study / "logs").exists()
