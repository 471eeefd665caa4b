"""Read training windows from a latent cache: memory-mapped, validated, vectorised over the batch."""

from pathlib import Path

import numpy as np
import torch

from wmvla.latents.cache import CacheRequest, LatentCacheError, check_request, read_meta
from wmvla.latents.windows import future_rows, history_rows


class WorldLatents:
    """z_hist / z_future windows for batches of global dataset indices.

    Rows whose latents are not finite (accepted at build time with --allow-nonfinite) are masked out.
    """

    def __init__(
        self,
        path: Path,
        request: CacheRequest,
        t_ctx: int = 4,
        k: int = 8,
        dataset_root: Path | None = None,
    ) -> None:
        if t_ctx < 1 or k < 1:
            raise LatentCacheError(f"t_ctx and k must be >= 1, got {t_ctx}, {k}")
        self.path = Path(path)
        self.meta = read_meta(self.path)
        check_request(self.meta, request, self.path, dataset_root)
        self.t_ctx, self.k = t_ctx, k
        self.dim = int(self.meta["encoder"]["dim"])
        self.num_frames = int(self.meta["num_frames"])
        self.shard_size = int(self.meta["shard_size"])
        self._shards = [np.load(self.path / s["file"], mmap_mode="r") for s in self.meta["shards"]]
        for spec, shard in zip(self.meta["shards"], self._shards, strict=True):
            first, stop = spec["rows"]
            if shard.shape != (stop - first, self.dim):
                raise LatentCacheError(
                    f"{self.path / spec['file']}: shape {shard.shape}, expected {(stop - first, self.dim)}"
                )
        episodes = self.meta["episodes"]
        lengths = np.subtract(episodes["end"], episodes["start"])
        self._start = np.repeat(
            np.asarray(episodes["start"], np.int64), lengths
        )  # (N,) episode start of each row
        self._end = np.repeat(np.asarray(episodes["end"], np.int64), lengths)
        self._finite = np.ones(self.num_frames, dtype=bool)
        self._finite[np.asarray(self.meta["nonfinite_rows"], dtype=np.int64)] = False

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Latents of arbitrary global rows (any shape) → float32 (*rows.shape, D)."""
        flat = rows.reshape(-1)
        out = np.empty((flat.size, self.dim), dtype=np.float32)
        shard_of = flat // self.shard_size
        for shard in np.unique(shard_of):  # a handful of shards per batch, never a loop over samples
            hit = shard_of == shard
            out[hit] = self._shards[shard][flat[hit] - shard * self.shard_size]
        return out.reshape(*rows.shape, self.dim)

    def windows(self, index: torch.Tensor | np.ndarray) -> dict[str, torch.Tensor]:
        """Batch of global `index` values → z_hist (B,T_ctx,D), z_future (B,K,D) and their masks."""
        rows = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index, dtype=np.int64).reshape(
            -1
        )
        if rows.size and (rows.min() < 0 or rows.max() >= self.num_frames):
            raise LatentCacheError(f"index out of range [0, {self.num_frames}) for cache {self.path}")
        hist, hist_mask = history_rows(rows, self._start[rows], self.t_ctx)
        fut, fut_mask = future_rows(rows, self._end[rows], self.k)
        hist_mask &= self._finite[hist]
        fut_mask &= self._finite[fut]
        z_hist, z_fut = self.rows(hist), self.rows(fut)
        z_hist[~hist_mask] = 0.0  # masked rows carry no information (and no NaN)
        z_fut[~fut_mask] = 0.0
        return {
            "z_hist": torch.from_numpy(z_hist),
            "z_future": torch.from_numpy(z_fut),
            "hist_mask": torch.from_numpy(hist_mask),
            "future_mask": torch.from_numpy(fut_mask),
        }
