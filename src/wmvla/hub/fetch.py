"""The hub stage: download the files the jobs need of one locked artifact into the study's offline cache.

Why once, on the submitting host: compute nodes often have no internet, and a hundred jobs hitting the Hub
at once get rate-limited. The cache is `results/<study>/hub/` in the standard Hugging Face layout, so
`from_pretrained` and LeRobot read its snapshots unchanged; the manifest lists every fetched file with its
size, for the jobs' check (`wmvla.hub.check`).
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

from wmvla.files import write_json
from wmvla.hub.lock import UNLOCKED, Artifact, HubError, hub_failure, snapshot_dir


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
    except Exception as err:  # no network, refused, a file missing upstream: one clear line
        raise hub_failure(artifact, sha, "fetch", err) from err
    snapshot = Path(path)
    expected = snapshot_dir(cache, artifact, sha)
    if snapshot.resolve() != expected.resolve():
        raise HubError(f"{artifact.key} landed in {snapshot}, expected {expected}")
    files = snapshot_files(snapshot)
    if not files:
        raise HubError(f"{artifact.key}: no file of {artifact.repo_id}@{sha} matches {list(artifact.files)}")
    return {**asdict(artifact), "sha": sha, "snapshot": str(expected), "files": files}


def write_manifest(manifest: dict[str, Any], out: Path) -> Path:
    return write_json(out, manifest)
