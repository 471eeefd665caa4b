"""Hub artifacts of a study: pinned to commits in a lock file, fetched once into the study's offline cache.

Why: compute nodes often have no internet, a hundred jobs hitting the Hub at once get rate-limited, and a
branch that moves between two jobs silently trains arms on different weights. So every Hub artifact the
study config names (dataset, init policy, VLM, world encoder) is resolved once to a commit sha —
`wmvla hub lock`, written to `config/hub.lock.yaml`, committed to git — and fetched once, by the `hub`
stage on the submitting host, into `results/<study>/hub/` in the standard Hugging Face cache layout. Every
other job runs with `HF_HUB_OFFLINE=1` and loads each artifact from its snapshot directory
`results/<study>/hub/<models|datasets>--<owner>--<name>/snapshots/<sha>/`: the sha is in every command.
"""

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from wmvla.errors import WmvlaError
from wmvla.latents.registry import encoder_spec, study_encoders

log = logging.getLogger(__name__)

DEFAULT_LOCK = Path("config/hub.lock.yaml")
UNLOCKED = "UNLOCKED"  # stands for a sha in a dry run's plan when the lock is missing or stale
LOCK_HEADER = """\
# Hub artifacts of each study pinned to commits. Written by `wmvla hub lock <study config>` (the only
# command besides the hub stage that needs the network); commit it, so every run and clone loads the same
# weights and data. Edit the config's revisions, never this file.
"""


class HubError(WmvlaError, RuntimeError):
    """The lock is missing or stale, or an artifact is missing from the offline cache."""


@dataclass(frozen=True)
class Artifact:
    """One Hub repository a study loads, and which of its files the jobs need."""

    key: str  # what the config calls it: dataset, policy.init, policy.vlm, encoder.<name>
    repo_id: str
    repo_type: str  # "model" or "dataset"
    revision: str  # as configured: a branch, tag or commit
    files: tuple[str, ...]  # allow-patterns (fnmatch; `*` spans directories)

    @property
    def folder(self) -> str:
        """The repository's folder in a Hugging Face cache (huggingface_hub's `repo_folder_name`)."""
        return f"{self.repo_type}s--" + self.repo_id.replace("/", "--")


def is_hub_id(ref: str | None) -> bool:
    """`owner/name` that is not an existing local directory."""
    if not ref or Path(ref).exists() or ref.startswith((".", "/")):
        return False
    parts = ref.split("/")
    return len(parts) == 2 and all(parts)


# What each kind of artifact must have on disk for the jobs that load it.
POLICY_FILES = ("*.json", "*.safetensors")  # config, weights, saved processors and their statistics
VLM_FILES = (
    "*.json",
    "*.txt",
    "*.jinja",
    "*.model",
    "*.safetensors",
)  # config, tokenizer, processor, weights
DATASET_FILES = ("meta/*", "data/*", "videos/*")  # a LeRobot dataset; not its README or scripts


def study_artifacts(config: dict) -> list[Artifact]:
    """Every Hub artifact the study config names, in a fixed order (pure: no network, no torch)."""
    artifacts = []
    ds, policy, world = config["dataset"], config["policy"], config["world"]
    if ds["source"] == "hub":
        artifacts.append(Artifact("dataset", ds["repo_id"], "dataset", ds["revision"], DATASET_FILES))
    if is_hub_id(policy["init"]):
        artifacts.append(
            Artifact("policy.init", policy["init"], "model", policy["init_revision"], POLICY_FILES)
        )
    if is_hub_id(policy["vlm_model_name"]):
        vlm = policy["vlm_model_name"]
        artifacts.append(Artifact("policy.vlm", vlm, "model", policy["vlm_revision"], VLM_FILES))
    for spec in map(encoder_spec, study_encoders(config)):
        if spec.repo_id:
            revision = world["encoder_revisions"].get(spec.name, "main")
            artifacts.append(Artifact(f"encoder.{spec.name}", spec.repo_id, "model", revision, spec.files))
    return artifacts


def read_lock(path: Path, study: str) -> dict[str, dict[str, str]] | None:
    """The study's locked entries (key → repo_id, repo_type, revision, sha), or None if it has none."""
    path = Path(path)
    if not path.is_file():
        return None
    studies = yaml.safe_load(path.read_text()) or {}
    return studies.get(study)


def lock_problems(
    artifacts: list[Artifact], entries: dict[str, dict[str, str]] | None, lock: Path
) -> list[str]:
    """Why the lock does not pin exactly these artifacts (one line each), or [] if it does."""
    fix = f"run `wmvla hub lock <study config>` where the Hub is reachable and commit {lock}"
    if not artifacts:
        return []
    if entries is None:
        return [f"{lock} pins no artifact of this study ({', '.join(a.key for a in artifacts)}): {fix}"]
    problems = []
    for artifact in artifacts:
        entry = entries.get(artifact.key)
        if entry is None:
            problems.append(f"{artifact.key} ({artifact.repo_id}) is not in {lock}: {fix}")
            continue
        for field in ("repo_id", "repo_type", "revision"):
            if entry.get(field) != getattr(artifact, field):
                problems.append(
                    f"{artifact.key}: the config says {field}={getattr(artifact, field)!r}, {lock} was "
                    f"written for {entry.get(field)!r}: {fix}"
                )
        if not entry.get("sha"):
            problems.append(f"{artifact.key}: {lock} has no commit sha: {fix}")
    unknown = sorted(set(entries) - {a.key for a in artifacts})
    problems += [f"{lock} pins {key}, which the config does not name: {fix}" for key in unknown]
    return problems


def locked_sha(entries: dict[str, dict[str, str]] | None, artifact: Artifact) -> str:
    entry = (entries or {}).get(artifact.key) or {}
    return entry.get("sha") or UNLOCKED


def snapshot_dir(cache: Path, artifact: Artifact, sha: str) -> Path:
    """Where the cache holds `artifact` at commit `sha` (the path every job loads it from)."""
    return Path(cache) / artifact.folder / "snapshots" / sha


def snapshot_revision(path: Path | str) -> str | None:
    """The commit a directory holds if it is a Hub snapshot (`…/snapshots/<sha>`), else None."""
    path = Path(path)
    return path.name if path.parent.name == "snapshots" else None


def resolve_lock(artifacts: list[Artifact]) -> dict[str, dict[str, str]]:
    """Resolve each configured revision to its commit on the Hub (network)."""
    from huggingface_hub import HfApi

    api, entries = HfApi(), {}
    for artifact in artifacts:
        try:
            sha = api.repo_info(
                artifact.repo_id, repo_type=artifact.repo_type, revision=artifact.revision
            ).sha
        except Exception as err:  # offline, unknown repo or revision, no permission: one clear line
            raise HubError(
                f"cannot resolve {artifact.key} {artifact.repo_id}@{artifact.revision}: {err}"
            ) from err
        log.info("%s: %s@%s is commit %s", artifact.key, artifact.repo_id, artifact.revision, sha)
        entries[artifact.key] = {
            "repo_id": artifact.repo_id,
            "repo_type": artifact.repo_type,
            "revision": artifact.revision,
            "sha": sha,
        }
    return entries


def write_lock(path: Path, study: str, entries: dict[str, dict[str, str]]) -> Path:
    """Replace the study's section of the lock file, keeping the other studies' sections."""
    path = Path(path)
    studies = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    studies[study] = entries
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(LOCK_HEADER + yaml.safe_dump(studies, sort_keys=True))
    tmp.replace(path)
    return path


def snapshot_files(snapshot: Path) -> list[dict[str, Any]]:
    """Every file of a snapshot with its size (links into the cache's blobs followed)."""
    return [
        {"path": str(p.relative_to(snapshot)), "bytes": p.stat().st_size}
        for p in sorted(snapshot.rglob("*"))
        if p.is_file()
    ]


def fetch(artifact: Artifact, sha: str, cache: Path) -> dict[str, Any]:
    """Download the files the jobs need of `artifact` at `sha` into `cache` (network; resumable).

    Returns the manifest the jobs' check reads: the snapshot's path and every file with its size.
    """
    from huggingface_hub import snapshot_download

    if sha == UNLOCKED:
        raise HubError(f"{artifact.key} is not locked; run `wmvla hub lock <study config>` first")
    try:
        path = snapshot_download(
            artifact.repo_id,
            repo_type=artifact.repo_type,
            revision=sha,
            cache_dir=str(cache),
            allow_patterns=list(artifact.files),
        )
    except Exception as err:
        raise HubError(f"cannot fetch {artifact.key} {artifact.repo_id}@{sha}: {err}") from err
    snapshot = Path(path)
    expected = snapshot_dir(cache, artifact, sha)
    if snapshot.resolve() != expected.resolve():
        raise HubError(f"{artifact.key} landed in {snapshot}, expected {expected}")
    files = snapshot_files(snapshot)
    if not files:
        raise HubError(f"{artifact.key}: no file of {artifact.repo_id}@{sha} matches {list(artifact.files)}")
    return {**asdict(artifact), "sha": sha, "snapshot": str(expected), "files": files}


def write_manifest(manifest: dict[str, Any], out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out)
    return out


def check_manifests(manifests: list[Path]) -> None:
    """Before a job loads anything: every file the hub stage fetched is still in the offline cache."""
    for path in manifests:
        manifest = json.loads(Path(path).read_text())
        snapshot = Path(manifest["snapshot"])
        for item in manifest["files"]:
            file = snapshot / item["path"]
            size = file.stat().st_size if file.is_file() else None
            if size != item["bytes"]:
                state = "missing" if size is None else f"{size} bytes, expected {item['bytes']}"
                artifact = f"{manifest['key']} ({manifest['repo_id']}@{manifest['sha'][:12]})"
                raise HubError(
                    f"{artifact}: {file} is {state} in the offline cache; rerun the hub stage where the Hub "
                    f"is reachable: snakemake --forcerun hub {path}"
                )


def offline_environment(env: dict[str, str] | os._Environ, cache: Path) -> None:
    """Every job but the hub stage: no network, and any by-id lookup served from the study's cache."""
    env["HF_HUB_OFFLINE"] = "1"
    env["HF_HUB_CACHE"] = str(Path(cache).resolve())
