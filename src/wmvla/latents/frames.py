"""Read one camera of a LeRobot dataset episode by episode, decoding every frame exactly once.

Why not `LeRobotDataset[i]`: it decodes every camera of one frame per call, so building clips of m
frames would decode each frame m times (and the other camera too). Image datasets store PNG bytes in
parquet (HuggingFaceVLA/libero); video datasets store MP4 per chunk (lerobot/libero); both read here.
"""

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from PIL import Image

from wmvla.errors import WmvlaError


class FrameSourceError(WmvlaError, ValueError):
    """The dataset cannot provide the requested camera as expected."""


@dataclass(frozen=True)
class EpisodeTable:
    """Episode boundaries in global frame index space: episode e holds rows [start[e], end[e])."""

    episode_index: np.ndarray  # (E,)
    start: np.ndarray  # (E,)
    end: np.ndarray  # (E,)

    @property
    def num_frames(self) -> int:
        return int(self.end[-1])

    def episode_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """Position (0..E-1) of the episode holding each global row."""
        return np.searchsorted(self.end, rows, side="right")


def read_episode_table(root: Path) -> EpisodeTable:
    files = sorted((Path(root) / "meta" / "episodes").rglob("*.parquet"))
    if not files:
        raise FrameSourceError(f"{root}: no episode metadata under meta/episodes/")
    cols = ["episode_index", "dataset_from_index", "dataset_to_index"]
    table = pd.concat([pd.read_parquet(f, columns=cols) for f in files]).sort_values("dataset_from_index")
    start = table["dataset_from_index"].to_numpy(np.int64)
    end = table["dataset_to_index"].to_numpy(np.int64)
    if start[0] != 0 or np.any(start[1:] != end[:-1]) or np.any(end <= start):
        raise FrameSourceError(f"{root}: episodes do not tile the frame index 0..N contiguously")
    return EpisodeTable(table["episode_index"].to_numpy(np.int64), start, end)


class EpisodeFrames:
    """Decodes all frames of one camera for one episode at a time (uint8, (T, H, W, 3))."""

    def __init__(self, root: Path, camera_key: str) -> None:
        self.root = Path(root)
        self.info = json.loads((self.root / "meta" / "info.json").read_text())
        feature = self.info["features"].get(camera_key)
        if feature is None:
            cams = [k for k, f in self.info["features"].items() if f["dtype"] in ("image", "video")]
            raise FrameSourceError(f"{root}: no camera {camera_key!r}; cameras: {cams}")
        self.camera_key = camera_key
        self.is_video = feature["dtype"] == "video"
        self.episodes = read_episode_table(self.root)
        self._video_meta = self._read_video_meta() if self.is_video else {}
        self.frames_decoded = 0
        self._data_files = sorted((self.root / "data").rglob("*.parquet"))
        self._cached_column: tuple[Path, object] | None = None
        self._file_rows: list[tuple[int, int, Path]] = []  # (first index, last index + 1, file)
        for path in self._data_files:
            index = pq.read_table(path, columns=["index"]).column("index").to_numpy()
            if len(index) and np.any(np.diff(index) != 1):
                raise FrameSourceError(f"{path}: `index` is not contiguous within the file")
            if len(index):
                self._file_rows.append((int(index[0]), int(index[-1]) + 1, path))

    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.info["features"][self.camera_key]["shape"])

    def episode(self, position: int) -> torch.Tensor:
        """Frames of the episode at `position` in the episode table, (T, H, W, 3) uint8."""
        start, end = int(self.episodes.start[position]), int(self.episodes.end[position])
        frames = self._decode_video(position) if self.is_video else self._decode_images(start, end)
        if frames.shape[0] != end - start:
            raise FrameSourceError(
                f"{self.root}: episode {self.episodes.episode_index[position]} has {end - start} rows "
                f"but {frames.shape[0]} decoded frames of {self.camera_key}"
            )
        self.frames_decoded += frames.shape[0]
        return frames

    def _decode_images(self, start: int, end: int) -> torch.Tensor:
        images = []
        for first, stop, path in self._file_rows:
            if stop <= start or first >= end:
                continue
            column = self._column(path)
            for cell in column.slice(
                max(start, first) - first, min(end, stop) - max(start, first)
            ).to_pylist():
                images.append(np.asarray(Image.open(io.BytesIO(cell["bytes"])).convert("RGB")))
        if not images:
            return torch.empty((0, *self.image_shape()), dtype=torch.uint8)
        return torch.from_numpy(np.stack(images))

    def _column(self, path: Path):
        """The camera column of one data file; the last one is kept (episodes are read in order)."""
        if self._cached_column is None or self._cached_column[0] != path:
            self._cached_column = (
                path,
                pq.read_table(path, columns=[self.camera_key]).column(self.camera_key),
            )
        return self._cached_column[1]

    def _decode_video(self, position: int) -> torch.Tensor:
        from lerobot.datasets.video_utils import decode_video_frames

        episode = int(self.episodes.episode_index[position])
        if episode not in self._video_meta:
            raise FrameSourceError(
                f"{self.root}: episode {episode} has no video metadata for {self.camera_key}"
            )
        meta = self._video_meta[episode]
        fps = float(self.info["fps"])
        n = int(self.episodes.end[position] - self.episodes.start[position])
        timestamps = [meta["from_timestamp"] + i / fps for i in range(n)]
        path = self.root / self.info["video_path"].format(
            video_key=self.camera_key, chunk_index=meta["chunk_index"], file_index=meta["file_index"]
        )
        frames = decode_video_frames(
            path, timestamps, tolerance_s=0.5 / fps, backend="pyav", return_uint8=True
        )
        return frames.permute(0, 2, 3, 1).contiguous()  # (T, C, H, W) → (T, H, W, C)

    def _read_video_meta(self) -> dict[int, dict]:
        """Episode → where its frames of this camera lie (file chunk/index, first timestamp)."""
        keys = ("chunk_index", "file_index", "from_timestamp")
        columns = ["episode_index", *(f"videos/{self.camera_key}/{k}" for k in keys)]
        files = sorted((self.root / "meta" / "episodes").rglob("*.parquet"))
        table = pd.concat([pd.read_parquet(f, columns=columns) for f in files])
        return {
            int(row[0]): dict(zip(keys, row[1:], strict=True))
            for row in table.itertuples(index=False, name=None)
        }
