"""An init checkpoint as every job loads it offline: what it names by Hub id comes from the study's snapshots.

Why: a saved checkpoint names other Hub artifacts by id — its `config.json` the VLM (`vlm_model_name`), its
saved preprocessor the tokenizer (`tokenizer_name`, which LeRobot loads with
`AutoTokenizer.from_pretrained(name)`). Offline, a lookup by id needs `refs/<branch>` in the cache, which a
fetch by commit never writes: every job loading the Hub's init checkpoint (E0 under stock `lerobot-train`,
the world-branch arms, the init gate, every evaluation of a checkpoint trained from it) would stop at its
first processor. The localized init — links to the snapshot's files, with the JSON files that name something
rewritten to name the study's locked snapshots instead — is what they all load, and every checkpoint trained
from it saves those names. The names are paths relative to the workflow root, where every job runs, so the
checkpoints load in any clone of the study (after `dvc pull`).
"""

import json
import os
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmvla.files import write_json
from wmvla.hub.lock import Artifact, HubError, hub_failure, is_hub_id

CONFIG_FIELDS = ("vlm_model_name",)  # config.json: what SmolVLA builds its VLM from
STEP_FIELDS = ("tokenizer_name",)  # saved processor steps: what LeRobot loads a tokenizer from
PROCESSOR_FILES = ("policy_preprocessor.json", "policy_postprocessor.json")
RECORD = "wmvla_localized.json"  # what was renamed, beside the localized files


@dataclass(frozen=True)
class Name:
    """One artifact a saved file names: where (file and field) and the name."""

    file: str
    field: str
    value: str

    def describe(self) -> str:
        return f"{self.file} {self.field}={self.value!r}"


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _names(file: str, data: dict[str, Any]) -> list[Name]:
    if file == "config.json":
        return [Name(file, f, data[f]) for f in CONFIG_FIELDS if isinstance(data.get(f), str)]
    return [
        Name(file, f"steps[{i}].config.{field}", step["config"][field])
        for i, step in enumerate(data.get("steps", []))
        for field in STEP_FIELDS
        if isinstance(step.get("config", {}).get(field), str)
    ]


def saved_names(checkpoint: Path) -> list[Name]:
    """Every artifact a checkpoint's config and saved processors name (a Hub id or a path)."""
    found = []
    for file in ("config.json", *PROCESSOR_FILES):
        data = _read(Path(checkpoint) / file)
        if data is not None:
            found += _names(file, data)
    return found


def hub_names(checkpoint: Path) -> list[Name]:
    """The names a job could only resolve by asking the Hub (or a cache with refs), not from a directory."""
    return [n for n in saved_names(checkpoint) if is_hub_id(n.value)]


def unlocked_names(names: list[Name], locked: dict[str, str], what: str) -> None:
    """Refuse Hub ids the study does not lock, in one line saying which config key to set."""
    unknown = [n for n in names if n.value not in locked]
    if unknown:
        listed = "; ".join(n.describe() for n in unknown)
        raise HubError(
            f"{what} names {listed}, which the study does not lock (it locks: {', '.join(sorted(locked))}); "
            "name it in the config (policy.vlm_model_name, or policy.tokenizer for a tokenizer), run "
            "`wmvla hub lock <study config>` and commit the lock"
        )


def check_init_names(init: Artifact, sha: str, locked: Collection[str]) -> None:
    """At lock time (network): the init checkpoint at `sha` names only models the study locks, so that
    its localized copy can be made offline later (one line naming the config key to set otherwise)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    with tempfile.TemporaryDirectory(prefix="wmvla-init-names-") as cache:
        snapshot = None
        for file in ("config.json", *PROCESSOR_FILES):
            try:
                path = hf_hub_download(init.repo_id, file, revision=sha, cache_dir=cache)
            except EntryNotFoundError:
                continue
            except Exception as err:
                raise hub_failure(init, sha, f"read {file} of", err) from err
            snapshot = Path(path).parent
        if snapshot is not None:
            unlocked_names(
                hub_names(snapshot), dict.fromkeys(locked, ""), f"{init.key} {init.repo_id}@{sha[:12]}"
            )


def check_loadable_offline(checkpoint: Path, vlm_model_name: str) -> None:
    """Before a job loads a checkpoint offline: nothing it will load is named by a bare Hub id — neither
    the tokenizer its saved processors name nor `vlm_model_name`, the VLM of its effective config."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes", "on"):
        return
    named = [n for n in hub_names(checkpoint) if n.file != "config.json"]
    if is_hub_id(vlm_model_name):
        named.append(Name("the policy config", "vlm_model_name", vlm_model_name))
    if named:
        listed = "; ".join(n.describe() for n in named)
        raise HubError(
            f"{checkpoint} names {listed} by Hub id, which this offline job cannot resolve (a snapshot "
            "fetched by commit has no refs/ to look an id up by): load the study's localized init "
            "(results/<study>/init) or a checkpoint trained from it"
        )


def _link(source: Path, target: Path) -> None:
    """`target` as a relative link to `source` (the snapshot's own link into the cache's blobs kept)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(os.path.relpath(source, target.parent))


def _rename(file: str, data: dict[str, Any], snapshots: dict[str, str]) -> dict[str, Any]:
    if file == "config.json":
        return {
            k: snapshots.get(v, v) if k in CONFIG_FIELDS and isinstance(v, str) else v
            for k, v in data.items()
        }
    steps = []
    for step in data.get("steps", []):
        config = step.get("config", {})
        renamed = {
            k: snapshots.get(v, v) if k in STEP_FIELDS and isinstance(v, str) else v
            for k, v in config.items()
        }
        steps.append({**step, "config": renamed} if "config" in step else step)
    return {**data, "steps": steps}


def localize(source: Path, out: Path, snapshots: dict[str, str], what: str) -> dict[str, Any]:
    """Write the localized copy of the checkpoint `source` to `out` (staged, then one rename).

    `snapshots`: Hub id → the locked snapshot's path, as jobs name it (relative to the workflow root).
    Returns the record of what was renamed (also written as `wmvla_localized.json`).
    """
    source, out = Path(source), Path(out)
    named = hub_names(source)
    unlocked_names(named, snapshots, what)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    rewritten = {n.file for n in named}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if relative in rewritten:
            write_json(staging / relative, _rename(relative, json.loads(path.read_text()), snapshots))
        else:
            _link(path, staging / relative)
    record = {
        "source": str(source),
        "renamed": [
            {"file": n.file, "field": n.field, "from": n.value, "to": snapshots[n.value]} for n in named
        ],
    }
    write_json(staging / RECORD, record)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return record
