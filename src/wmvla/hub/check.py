"""Offline use of the study's Hub cache: every job but the hub stage runs offline and checks its inputs first.

Why check: a cache on a shared filesystem can lose files (quota cleanups, a partial `dvc pull`); a job
that finds out inside `from_pretrained` fails with a traceback hours into a queue. The manifests the hub
stage wrote list every file with its size; a missing one is one line naming the command that refetches it.
"""

import json
import os
from pathlib import Path

from wmvla.hub.lock import HubError


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
