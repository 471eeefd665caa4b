"""The hub stage's lock and offline cache: artifacts named by the config, lock checks, offline loading."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wmvla.hub.check import check_manifests, offline_environment
from wmvla.hub.fetch import fetch
from wmvla.hub.lock import (
    UNLOCKED,
    Artifact,
    HubError,
    is_hub_id,
    lock_problems,
    read_lock,
    snapshot_revision,
    write_lock,
)
from wmvla.study.artifacts import hub_dir, study_artifacts

from .plans import copy_workflow, planned_jobs

FAKE_SHA = "0123456789abcdef0123456789abcdef01234567"  # a commit the lock entries of dry-run tests name


def _config(repo, name="config.yaml"):
    from wmvla.study.config import load_study_config

    return load_study_config(repo / "config" / name)


def _entries(artifacts, sha=FAKE_SHA):
    return {
        a.key: {"repo_id": a.repo_id, "repo_type": a.repo_type, "revision": a.revision, "sha": sha}
        for a in artifacts
    }


def test_the_full_study_names_six_hub_artifacts_and_smoke_none(repo):
    artifacts = study_artifacts(_config(repo))
    assert [(a.key, a.repo_id, a.repo_type) for a in artifacts] == [
        ("dataset", "HuggingFaceVLA/libero", "dataset"),
        ("policy.init", "HuggingFaceVLA/smolvla_libero", "model"),
        ("policy.vlm", "HuggingFaceTB/SmolVLM2-500M-Video-Instruct", "model"),
        (
            "policy.tokenizer",
            "HuggingFaceTB/SmolVLM2-500M-Instruct",
            "model",
        ),  # what the init's preprocessor names
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
    names = "dataset, policy.init, policy.vlm, policy.tokenizer, encoder.vjepa2-vitg, encoder.cosmos-cv8x8x8"
    assert f"pins no artifact of this study ({names})" in missing
    assert "wmvla hub lock" in missing

    stale = _entries(artifacts[:5])  # an artifact added to the config since the lock was written
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
    assert len(lock_problems(artifacts, no_sha, lock)) == len(artifacts) == 6


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


def _snapshot(manifest: Path) -> Path:
    return Path(json.loads(Path(manifest).read_text())["snapshot"])


def test_the_cosmos_tokenizer_loads_offline_from_its_snapshot_and_records_the_commit(
    hub_snapshots, hub_server
):
    """Its Hub repository keeps the model in `vae/`, which is all the hub stage fetches of it."""
    from wmvla.latents.encoders import CosmosEncoder, load_encoder
    from wmvla.latents.registry import encoder_spec

    snapshot = _snapshot(hub_snapshots["encoder.cosmos-cv8x8x8"])
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()) == [
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    ]
    assert {"vae/*.json", "vae/*.safetensors"} == set(encoder_spec("cosmos-cv8x8x8").files)
    encoder = load_encoder("cosmos-cv8x8x8", snapshot, revision=snapshot_revision(snapshot))
    assert (
        isinstance(encoder, CosmosEncoder)
        and encoder.resolved_revision == hub_server.shas["encoder.cosmos-cv8x8x8"]
    )


def test_a_fetch_by_commit_leaves_no_refs_so_a_lookup_by_hub_id_fails_offline(hub_snapshots, hub_server):
    """What the Hub client leaves: snapshots and blobs, no `refs/` for a commit. By id *and* commit the cache
    answers offline; by id alone (what a saved processor's `tokenizer_name` asks) it cannot."""
    from transformers import AutoConfig, AutoTokenizer

    snapshot = _snapshot(hub_snapshots["policy.tokenizer"])
    cache, repo_id = snapshot.parents[2], "HuggingFaceTB/SmolVLM2-500M-Instruct"
    assert not (snapshot.parents[1] / "refs").exists()
    sha = hub_server.shas["policy.tokenizer"]
    assert AutoConfig.from_pretrained(repo_id, revision=sha, cache_dir=cache).model_type == "smolvlm"
    with pytest.raises(OSError, match=r"couldn't connect|offline"):
        AutoTokenizer.from_pretrained(repo_id, cache_dir=cache)


LOAD_PREPROCESSOR = """
import sys
from lerobot.processor import PolicyProcessorPipeline
PolicyProcessorPipeline.from_pretrained(
    sys.argv[1], config_filename="policy_preprocessor.json",
    overrides={"device_processor": {"device": "cpu"}, "rename_observations_processor": {"rename_map": {}}},
)
print("loaded")
"""


def _load_offline(checkpoint: Path, cache: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Load a checkpoint's saved preprocessor as a job does: offline, on the study's cache, fresh process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-c", LOAD_PREPROCESSOR, str(checkpoint)], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


def test_the_init_replica_loads_offline_only_once_localized(hub_snapshots, tmp_path):
    """The defect this guards against: the init checkpoint's saved preprocessor names its tokenizer by Hub id
    (as the real one does), and loaded the way every job loaded it before (device/rename overrides only) it
    stops offline. Localized — its names pointing at the locked snapshots, relative to the workflow root —
    it loads, and the guard every evaluation runs first tells one from the other in one line."""
    from wmvla.hub.localize import check_loadable_offline, localize

    init = _snapshot(hub_snapshots["policy.init"])
    cache, workdir = init.parents[3], init.parents[4]
    before = _load_offline(init, cache, workdir)
    assert before.returncode != 0 and re.search(r"couldn't connect|offline", before.stderr), before.stderr[
        -2000:
    ]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(
            HubError, match=r"steps\[3\]\.config\.tokenizer_name='HuggingFaceTB/SmolVLM2-500M-Instruct'"
        ):
            check_loadable_offline(init, "results/x/vlm")

    names = {
        "HuggingFaceTB/SmolVLM2-500M-Instruct": os.path.relpath(
            _snapshot(hub_snapshots["policy.tokenizer"]), workdir
        ),
        "HuggingFaceTB/SmolVLM2-500M-Video-Instruct": os.path.relpath(
            _snapshot(hub_snapshots["policy.vlm"]), workdir
        ),
    }
    localized = workdir / "init"
    record = localize(init, localized, names, "the init checkpoint")
    assert {r["from"] for r in record["renamed"]} == set(names)
    assert (localized / "model.safetensors").is_symlink()  # the weights are the snapshot's, not a copy
    after = _load_offline(localized, cache, workdir)
    assert after.returncode == 0, after.stderr[-3000:]
    config = json.loads((localized / "config.json").read_text())
    assert config["vlm_model_name"] == names["HuggingFaceTB/SmolVLM2-500M-Video-Instruct"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        env.chdir(workdir)
        check_loadable_offline(localized, config["vlm_model_name"])  # nothing left to look up by id


def test_a_name_the_study_does_not_lock_stops_the_localization_in_one_line(hub_snapshots, tmp_path):
    from wmvla.hub.localize import localize

    init = _snapshot(hub_snapshots["policy.init"])
    only_vlm = {"HuggingFaceTB/SmolVLM2-500M-Video-Instruct": "results/x/vlm"}
    with pytest.raises(HubError, match=r"which the study does not lock .*policy.tokenizer") as error:
        localize(init, tmp_path / "init", only_vlm, "policy.init")
    assert "\n" not in str(error.value) and not (tmp_path / "init").exists()


def test_models_load_offline_from_their_snapshots_through_the_real_loaders(hub_snapshots, hub_server):
    from transformers import AutoProcessor

    from wmvla.latents.encoders import load_encoder

    vlm = _snapshot(hub_snapshots["policy.vlm"])
    AutoProcessor.from_pretrained(str(vlm))  # from the snapshot directory, as every job names it
    encoder = load_encoder(
        "vjepa2-vitg",
        _snapshot(hub_snapshots["encoder.vjepa2-vitg"]),
        revision=snapshot_revision(_snapshot(hub_snapshots["encoder.vjepa2-vitg"])),
    )
    assert encoder.dim == 1408 and encoder.resolved_revision == hub_server.shas["encoder.vjepa2-vitg"]
    check_manifests(list(hub_snapshots.values()))


def test_a_file_missing_from_the_cache_is_one_line_naming_the_artifact_and_the_stage(hub_snapshots, tmp_path):
    import shutil

    manifest = json.loads(hub_snapshots["policy.vlm"].read_text())
    snapshot = _snapshot(hub_snapshots["policy.vlm"])
    copy = tmp_path / "snapshot"
    shutil.copytree(snapshot, copy)
    (copy / "config.json").unlink()
    moved = tmp_path / "policy.vlm.json"
    moved.write_text(json.dumps({**manifest, "snapshot": str(copy)}))
    sha = manifest["sha"][:12]
    with pytest.raises(
        HubError,
        match=rf"policy.vlm \(HuggingFaceTB/SmolVLM2-500M-Video-Instruct@{sha}\): .*config.json is missing",
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


def _hub_config(repo: Path, tmp_path: Path, **policy) -> Path:
    """The full study's config with a recorded dataset (the test server serves the models only)."""
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    smoke = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    config["dataset"] = smoke["dataset"]
    config["policy"].update(policy)
    (tmp_path / "config").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config/schema.yaml").write_text((repo / "config/schema.yaml").read_text())
    (tmp_path / "config/study.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "config/study.yaml"


def _wmvla(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "wmvla"), *args], cwd=cwd, env={**os.environ, **env},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_lock_pins_every_artifact_and_refuses_an_init_naming_an_unlocked_model(hub_server, repo, tmp_path):
    config = _hub_config(repo, tmp_path)
    locked = _wmvla("hub", "lock", str(config), env=hub_server.env(), cwd=tmp_path)
    assert locked.returncode == 0, locked.stderr[-3000:]
    entries = read_lock(tmp_path / "config/hub.lock.yaml", "full")
    assert {k: e["sha"] for k, e in entries.items()} == hub_server.shas
    no_tokenizer = _hub_config(repo, tmp_path / "other", tokenizer=None)
    refused = _wmvla("hub", "lock", str(no_tokenizer), env=hub_server.env(), cwd=tmp_path / "other")
    assert refused.returncode == 2 and not (tmp_path / "other/config/hub.lock.yaml").exists()
    (line,) = refused.stderr.strip().splitlines()[-1:]
    assert "tokenizer_name='HuggingFaceTB/SmolVLM2-500M-Instruct', which the study does not lock" in line
    assert "policy.tokenizer" in line and "Traceback" not in refused.stderr


def test_a_repository_the_hub_refuses_is_one_line_naming_its_page_and_hf_token(hub_server, repo, tmp_path):
    """A gated repository (Cosmos asks users to accept a licence) answers 401/403 without a token of an
    account that accepted it: lock and fetch say so in one line, with the page to accept it and HF_TOKEN."""
    cosmos = "nvidia/Cosmos-1.0-Tokenizer-CV8x8x8"
    config = _hub_config(repo, tmp_path)
    artifact = next(a for a in study_artifacts(_config(repo)) if a.key == "encoder.cosmos-cv8x8x8")
    entry = json.dumps({**artifact.__dict__, "sha": hub_server.shas["encoder.cosmos-cv8x8x8"]})
    hub_server.start(denied=(cosmos,))
    try:
        lock = _wmvla("hub", "lock", str(config), env=hub_server.env(), cwd=tmp_path)
        fetch = _wmvla("hub", "fetch", "--entry", entry, "--cache", str(tmp_path / "cache"), "--out",
                       str(tmp_path / "m.json"), env=hub_server.env(), cwd=tmp_path)  # fmt: skip
    finally:
        hub_server.start()
    for out, doing in ((lock, "resolve"), (fetch, "fetch")):
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
        line = out.stderr.strip().splitlines()[-1]
        assert f"cannot {doing} encoder.cosmos-cv8x8x8 {cosmos}@" in line
        assert "HTTP 401" in line and f"{hub_server.endpoint}/{cosmos}" in line and "HF_TOKEN" in line


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
    planned = planned_jobs({**_config(repo), "seeds": [0]}, figures=0)
    assert len(hub_jobs) == planned["hub"] and all(
        re.search(r"HF_HUB_OFFLINE=0 wmvla job .* wmvla hub fetch", b) for b in hub_jobs
    )
    assert "hub" in local_rules(study)  # it runs on the submitting host, the only one with network
    rules = ("train", "eval", "offline_check", "latents", "gate_experiment", "preflight")
    assert [len(blocks[r]) for r in rules] == [planned[r] for r in rules]
    snapshot = f"/snapshots/{FAKE_SHA}"
    for rule in rules:
        for block in blocks[rule]:
            command = block.split("Shell command:", 1)[1]
            assert UNLOCKED not in block and "HuggingFaceVLA/smolvla_libero " not in command
            if rule in (
                "train",
                "gate_experiment",
            ):  # E0's --policy.path and the arms' init: the localized init
                assert re.search(r"--policy\.(path|init_from_policy_path)=results/full/init[ \"]", command)
                assert f"SmolVLM2-500M-Video-Instruct{snapshot}" in command
                assert "results/full/hub/manifests/policy.init.json" in command.split(" -- ", 1)[0]
            job = command.split(" -- ", 1)[0]  # `wmvla job` checks them before anything loads
            if rule == "preflight":  # checks the manifests itself, and parses every model config
                assert "wmvla preflight results/full/hub/manifests/dataset.json" in command
            else:
                assert "--hub results/full/hub/manifests/" in job
            if rule == "latents":  # each cache from its own encoder's snapshot
                assert f"vjepa2-vitg-fpc64-256{snapshot}" in command or f"CV8x8x8{snapshot}" in command
            if rule in ("train", "latents", "offline_check", "preflight"):
                assert f"results/full/hub/datasets--HuggingFaceVLA--libero{snapshot}" in command

    (localize,) = blocks["init_checkpoint"]  # the init as every job loads it: names resolved to snapshots
    assert "init_checkpoint" in local_rules(study)
    assert f"--source results/full/hub/models--HuggingFaceVLA--smolvla_libero{snapshot}" in localize
    for named in ("SmolVLM2-500M-Instruct", "SmolVLM2-500M-Video-Instruct"):
        assert (
            f'"HuggingFaceTB/{named}": "results/full/hub/models--HuggingFaceTB--{named}{snapshot}"'
            in localize
        )

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
