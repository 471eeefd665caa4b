"""`provenance.json` next to every artifact: which code, config and packages made it, where, when.

Why: results are shared through DVC and compared across machines; without the commit, config hash
and package versions next to a number, nobody can tell which run produced it.
"""

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wmvla.files import PROVENANCE_FILE, STUDY_ENV, write_json

TRACKED_PACKAGES = ("torch", "lerobot", "transformers", "wmvla", "mujoco", "snakemake")


def config_hash(config: Any) -> str:
    """Stable short hash of a JSON-serialisable config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def git_state(repo_dir: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout, or `None`s outside a git work tree."""

    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=repo_dir, capture_output=True, text=True, check=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description() -> str:
    import torch

    if torch.cuda.is_available():  # ROCm builds report through the cuda API too
        return f"{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return f"cpu ({platform.processor() or platform.machine()})"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def provenance_record(config: Any, started_at: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What made an artifact: code, config (and its hash), packages, machine, start and end time."""
    return {
        "study": os.environ.get(STUDY_ENV),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE") == "1",  # True for every job but the hub stage
        **git_state(Path(__file__).resolve().parent),
        "config_hash": config_hash(config),
        "config": config,
        "packages": package_versions(),
        "python": platform.python_version(),
        "host": platform.node(),
        "device": device_description(),
        "started_at": started_at,
        "finished_at": now(),
        **(extra or {}),
    }


def write_provenance(
    artifact_dir: Path, config: Any, started_at: str, extra: dict[str, Any] | None = None
) -> Path:
    """Write `provenance.json` into `artifact_dir` (call when the artifact is complete)."""
    return write_json(
        Path(artifact_dir) / PROVENANCE_FILE, provenance_record(config, started_at, extra), sort_keys=True
    )


@contextmanager
def provenance(artifact_dir: Path, config: Any) -> Iterator[dict[str, Any]]:
    """Record the start time, run the body, then write provenance only if the body succeeded.

    The body may add facts learnt while making the artifact to the yielded dict (e.g. a resolved revision).
    """
    started_at = now()
    extra: dict[str, Any] = {}
    yield extra
    write_provenance(artifact_dir, config, started_at, extra)
