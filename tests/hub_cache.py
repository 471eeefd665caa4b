"""Put a local directory into a Hugging Face cache as the Hub would: a Hub-style id, a fake commit."""

import hashlib
import os
import shutil
from pathlib import Path

FAKE_SHA = "0123456789abcdef0123456789abcdef01234567"


def place_in_cache(
    source: Path, cache: Path, repo_id: str, repo_type: str = "model", sha: str = FAKE_SHA
) -> Path:
    """Copy `source` into `cache` in huggingface_hub's layout (blobs, snapshots/<sha> of links, refs/main)."""
    repo = Path(cache) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / sha
    for file in sorted(p for p in Path(source).rglob("*") if p.is_file()):
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        blob = repo / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(sha)
    return snapshot
