"""Fail fast on a dataset that breaks the LIBERO contract (DESIGN.md §4 "Dataset").

Why: an empty or missing instruction silently trains a task-agnostic policy (0% success, discovered
days later — seed note §2). Every dataset is checked before any training job may use it.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from wmvla.data.features import ACTION_DIM, ACTION_KEY, IMAGE_KEYS, STATE_DIM, STATE_KEY
from wmvla.errors import WmvlaError

REQUIRED_SHAPES = {STATE_KEY: (STATE_DIM,), ACTION_KEY: (ACTION_DIM,)}
INDEX_KEYS = ("episode_index", "index")


class DatasetContractError(WmvlaError, ValueError):
    """The dataset lacks a key, has a wrong shape, or has episodes without an instruction."""


@dataclass(frozen=True)
class DatasetSummary:
    root: str
    codebase_version: str
    fps: int
    num_episodes: int
    num_frames: int
    image_shape: tuple[int, ...]
    tasks: tuple[str, ...]

    def to_json(self) -> dict:
        return asdict(self)


def _read_info(root: Path) -> dict:
    info_file = root / "meta" / "info.json"
    if not info_file.is_file():
        raise DatasetContractError(f"{root} is not a LeRobot dataset: {info_file} is missing")
    return json.loads(info_file.read_text())


def _check_features(root: Path, features: dict) -> tuple[int, ...]:
    missing = [k for k in (*IMAGE_KEYS, STATE_KEY, ACTION_KEY, *INDEX_KEYS) if k not in features]
    if missing:
        raise DatasetContractError(f"{root}: dataset features lack {missing} (has {sorted(features)})")
    for key, shape in REQUIRED_SHAPES.items():
        if tuple(features[key]["shape"]) != shape:
            raise DatasetContractError(
                f"{root}: {key} has shape {tuple(features[key]['shape'])}, expected {shape}"
            )
    image_shapes = {tuple(features[k]["shape"]) for k in IMAGE_KEYS}
    if len(image_shapes) != 1:
        raise DatasetContractError(f"{root}: cameras differ in shape: {image_shapes}")
    return image_shapes.pop()


def episode_tasks(root: Path) -> pd.DataFrame:
    files = sorted((root / "meta" / "episodes").rglob("*.parquet"))
    if not files:
        raise DatasetContractError(f"{root}: no episode metadata under meta/episodes/")
    return pd.concat([pd.read_parquet(f, columns=["episode_index", "tasks"]) for f in files])


def episode_lengths(root: Path) -> pd.Series:
    """Frames per episode, by episode index (LeRobot's episode metadata)."""
    files = sorted((Path(root) / "meta" / "episodes").rglob("*.parquet"))
    if not files:
        raise DatasetContractError(f"{root}: no episode metadata under meta/episodes/")
    frame = pd.concat([pd.read_parquet(f, columns=["episode_index", "length"]) for f in files])
    return frame.set_index("episode_index")["length"]


def check_libero_dataset(root: Path) -> DatasetSummary:
    """Check keys, shapes and that every episode has a non-empty `task` instruction."""
    root = Path(root)
    info = _read_info(root)
    image_shape = _check_features(root, info.get("features", {}))

    tasks_file = root / "meta" / "tasks.parquet"
    if not tasks_file.is_file():
        raise DatasetContractError(
            f"{root}: no task instructions (meta/tasks.parquet missing); the `task` key is required"
        )
    episodes = episode_tasks(root)
    empty = [
        int(ep)
        for ep, tasks in zip(episodes["episode_index"], episodes["tasks"], strict=True)
        if tasks is None or len(tasks) == 0 or any(not str(t).strip() for t in tasks)
    ]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (" …" if len(empty) > 10 else "")
        raise DatasetContractError(
            f"{root}: {len(empty)} episode(s) have an empty or missing `task` instruction "
            f"(episodes {shown}); a policy trained on them ignores language"
        )
    tasks = tuple(sorted({str(t) for ts in episodes["tasks"] for t in ts}))
    return DatasetSummary(
        root=str(root),
        codebase_version=str(info.get("codebase_version")),
        fps=int(info["fps"]),
        num_episodes=int(info["total_episodes"]),
        num_frames=int(info["total_frames"]),
        image_shape=image_shape,
        tasks=tasks,
    )
