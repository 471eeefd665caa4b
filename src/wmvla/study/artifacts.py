"""What a study loads and where each job finds it: a tiny model the DAG builds, a Hub artifact from the
study's offline cache (pinned by the lock), or a local directory of the user's.

Why resolved here, at DAG time: every job's command line then names the exact snapshot (commit sha) it loads,
and its inputs name the DAG output that provides it, so Snakemake orders the jobs and reruns the right ones.
"""

import dataclasses
import functools
import json
from pathlib import Path

from wmvla.hub.lock import Artifact, is_hub_id, lock_problems, locked_sha, read_lock, snapshot_dir
from wmvla.latents.registry import encoder_spec
from wmvla.study.config import experiment_encoder, study_encoders, uses_world
from wmvla.study.paths import (
    DATASET,
    HUB_CACHE,
    HUB_MANIFEST,
    INIT,
    TINY_MODEL,
    fill,
    latent_cache_dir,
)
from wmvla.study.tiny_models import TINY_MODELS, model_of_tiny

# What each kind of artifact must have on disk for the jobs that load it.
POLICY_FILES = ("*.json", "*.safetensors")  # config, weights, saved processors and their statistics
VLM_FILES = (
    "*.json",
    "*.txt",
    "*.jinja",
    "*.model",
    "*.safetensors",
)  # config, tokenizer, processor, weights
TOKENIZER_FILES = ("*.json", "*.txt", "*.jinja", "*.model")  # a tokenizer: no weights
DATASET_FILES = ("meta/*", "data/*", "videos/*")  # a LeRobot dataset; not its README or scripts


def study_artifacts(config: dict) -> list[Artifact]:
    """Every Hub artifact the study config names, in a fixed order (pure: no network, no torch)."""
    ds, policy, world = config["dataset"], config["policy"], config["world"]
    revisions = world.get("encoder_revisions", {})
    return list(
        _artifacts(
            (ds["source"], ds["repo_id"], ds.get("revision")),
            (
                policy["init"],
                policy.get("init_revision"),
                policy["vlm_model_name"],
                policy.get("vlm_revision"),
                policy.get("tokenizer"),
                policy.get("tokenizer_revision"),
            ),
            tuple((name, revisions.get(name, "main")) for name in study_encoders(config)),
        )
    )


@functools.lru_cache(maxsize=16)
def _artifacts(
    dataset: tuple[str, str, str | None],
    policy: tuple[str | None, str | None, str, str | None, str | None, str | None],
    encoders: tuple[tuple[str, str], ...],
) -> tuple[Artifact, ...]:
    """Cached per distinct set of names: the DAG asks for them thousands of times while it is built."""
    (source, repo_id, revision), (init, init_revision, vlm, vlm_revision, tokenizer, tokenizer_revision) = (
        dataset,
        policy,
    )
    artifacts = []
    if source == "hub":
        artifacts.append(Artifact("dataset", repo_id, "dataset", revision, DATASET_FILES))
    if is_hub_id(init):
        artifacts.append(Artifact("policy.init", init, "model", init_revision, POLICY_FILES))
    if is_hub_id(vlm):
        artifacts.append(Artifact("policy.vlm", vlm, "model", vlm_revision, VLM_FILES))
    if is_hub_id(tokenizer) and tokenizer != vlm:  # what the init's saved preprocessor names (its own repo)
        artifacts.append(
            Artifact("policy.tokenizer", tokenizer, "model", tokenizer_revision, TOKENIZER_FILES)
        )
    for name, encoder_revision in encoders:
        spec = encoder_spec(name)
        if spec.repo_id:
            artifacts.append(Artifact(f"encoder.{name}", spec.repo_id, "model", encoder_revision, spec.files))
    return tuple(artifacts)


def hub_dir(config: dict) -> Path:
    """The study's Hugging Face cache, filled by the hub stage (DESIGN.md §8)."""
    return Path(fill(HUB_CACHE, config))


@functools.lru_cache(maxsize=8)
def _lock_entries(path: str, mtime_ns: int, study: str) -> dict | None:
    return read_lock(Path(path), study)


def hub_entries(config: dict) -> dict | None:
    """The study's section of the lock file (read once per file version)."""
    path = Path(config["hub_lock"])
    mtime = path.stat().st_mtime_ns if path.is_file() else -1
    return _lock_entries(str(path), mtime, config["study"])


def hub_lock_problems(config: dict) -> list[str]:
    """Why the lock does not pin this study's Hub artifacts: warnings while the DAG is planned (the plan
    shows UNLOCKED where a commit goes), an error before the first job of a real run (`onstart`)."""
    return lock_problems(study_artifacts(config), hub_entries(config), Path(config["hub_lock"]))


def hub_artifact(config: dict, key: str) -> Artifact | None:
    return next((a for a in study_artifacts(config) if a.key == key), None)


def hub_manifest(config: dict, key: str) -> str:
    """What the hub stage writes for one artifact: its snapshot and files (the jobs' input)."""
    return fill(HUB_MANIFEST, config, artifact=key)


def hub_snapshot(config: dict, artifact: Artifact) -> str:
    return str(snapshot_dir(hub_dir(config), artifact, locked_sha(hub_entries(config), artifact)))


def hub_fetch_plan(config: dict, artifact: Artifact) -> str:
    """JSON the hub job gets: the artifact, its locked commit (params: a changed sha refetches it)."""
    return json.dumps({**dataclasses.asdict(artifact), "sha": locked_sha(hub_entries(config), artifact)})


def hub_manifests(paths: list[str]) -> list[str]:
    """The hub-stage manifests among a job's inputs: what the job checks before it starts."""
    return [p for p in paths if p.split("/")[-3:-1] == ["hub", "manifests"]]  # str ops: every job asks


def _source(config: dict, ref: str, key: str) -> tuple[str, list[str]]:
    """Where a job loads `ref` from, and the DAG output that provides it (if the DAG makes it)."""
    if ref in TINY_MODELS:
        path = fill(TINY_MODEL, config, model=model_of_tiny(ref))
        return path, [path]
    artifact = hub_artifact(config, key)
    if artifact is not None and artifact.repo_id == ref:
        return hub_snapshot(config, artifact), [hub_manifest(config, key)]
    return ref, []  # a local directory of the user's


def vlm_source(config: dict) -> tuple[str, list[str]]:
    return _source(config, config["policy"]["vlm_model_name"], "policy.vlm")


def init_origin(config: dict) -> tuple[str, list[str]]:
    """The init checkpoint as configured: its Hub snapshot (and manifest), or the user's directory."""
    return _source(config, config["policy"]["init"], "policy.init")


INIT_NAMES = ("policy.vlm", "policy.tokenizer")  # what an init checkpoint may name: its VLM, its tokenizer


def locked_names(config: dict) -> dict[str, str]:
    """Hub id → where jobs load it from, for the models an init checkpoint names (VLM, tokenizer): what the
    localized init's saved names become (`wmvla.hub.localize`)."""
    named = [a for key in INIT_NAMES if (a := hub_artifact(config, key))]
    return {a.repo_id: hub_snapshot(config, a) for a in named}


def init_localize_inputs(config: dict) -> list[str]:
    """What the localized init is made from: the init checkpoint and the snapshots its names resolve to."""
    return [
        *init_origin(config)[1],
        *(hub_manifest(config, key) for key in INIT_NAMES if hub_artifact(config, key)),
    ]


def init_source(config: dict) -> tuple[str | None, list[str]]:
    """The init checkpoint every job loads (E0's --policy.path, the world-branch arms' init, the init gate):
    the localized one (`results/<study>/init`), whose Hub names point at the study's snapshots."""
    if not config["policy"]["init"]:
        return None, []
    path = fill(INIT, config)
    return path, [path, *init_origin(config)[1]]  # the origin's manifest: jobs check its files are there


def encoder_source(config: dict, name: str) -> tuple[str, list[str]]:
    return _source(config, name if name in TINY_MODELS else encoder_spec(name).repo_id, f"encoder.{name}")


def dataset_dir(config: dict) -> Path:
    """The dataset jobs read: a recording under the study, or the Hub snapshot in the offline cache."""
    if config["dataset"]["source"] == "hub":
        return Path(hub_snapshot(config, hub_artifact(config, "dataset")))
    return Path(fill(DATASET, config, dataset=config["dataset"]["name"]))


def dataset_inputs(config: dict) -> list[str]:
    if config["dataset"]["source"] == "hub":
        return [hub_manifest(config, "dataset")]
    return [str(dataset_dir(config))]


def world_cache_inputs(config: dict, exp: str) -> list[str]:
    return [str(latent_cache_dir(config, experiment_encoder(config, exp)))] if uses_world(config, exp) else []


def train_inputs(config: dict, exp: str) -> list[str]:
    """What a training job loads: dataset, init policy, VLM, and a world policy's latent cache."""
    inputs = [*dataset_inputs(config), *init_source(config)[1], *vlm_source(config)[1]]
    return [*inputs, *world_cache_inputs(config, exp)]


def eval_inputs(config: dict, exp: str) -> list[str]:
    """What an evaluation loads besides the checkpoint: the VLM it names, the encoder that runs online."""
    world = uses_world(config, exp)
    encoder = encoder_source(config, experiment_encoder(config, exp))[1] if world else []
    return [*vlm_source(config)[1], *encoder]


def offline_inputs(config: dict, exp: str) -> list[str]:
    """What an offline check reads besides the checkpoint: dataset, VLM, and the cache of world policies."""
    return [*dataset_inputs(config), *vlm_source(config)[1], *world_cache_inputs(config, exp)]


def init_gate_inputs(config: dict) -> list[str]:
    """What the init policy's evaluation loads: the init checkpoint and the VLM it names."""
    return [*init_source(config)[1], *vlm_source(config)[1]]


def latents_inputs(config: dict, encoder: str) -> list[str]:
    """The dataset and the encoder's weights (a tiny model or the hub stage's manifest)."""
    return [*dataset_inputs(config), *encoder_source(config, encoder)[1]]


def preflight_inputs(config: dict) -> list[str]:
    """The dataset and every Hub artifact: the preflight checks they are readable on the node."""
    manifests = [hub_manifest(config, a.key) for a in study_artifacts(config)]
    return list(dict.fromkeys([*dataset_inputs(config), *manifests]))
