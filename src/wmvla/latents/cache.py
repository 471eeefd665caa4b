"""The latent cache on disk: sharded fp16 arrays, one row per dataset frame, plus `meta.json`.

Layout of `results/<study>/latents/<dataset>/<encoder>/temporal_window_<m>/`:
  meta.json               what was encoded, how, from which data; shard list with checksums
  shard_00000.npy, …      float16 (rows, D); shard k holds global rows [k·S, min((k+1)·S, N))

Building happens in `<dir>.partial/`, which survives interruption: every finished shard is written
atomically with a sidecar checksum, a re-run continues at the first missing shard (batches are
aligned to shard starts, so the bytes do not depend on where a build was interrupted), and the
directory is moved into place only when complete. One build at a time: it holds a lease on the cache
(wmvla.lease), so a second job stops at once instead of writing the same shards; the next one after the
holder has ended finds the cache complete, or resumes its build.
"""

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from wmvla.errors import OutputExistsError, WmvlaError
from wmvla.files import atomic_write, sha256_file, write_json
from wmvla.latents.encoders import VideoEncoder
from wmvla.latents.frames import EpisodeFrames
from wmvla.latents.windows import clip_frame_rows
from wmvla.lease import lease, lease_path
from wmvla.provenance import git_state, package_versions

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
META_FILE = "meta.json"
PLAN_FILE = "build.json"


class LatentCacheError(WmvlaError, ValueError):
    """The cache is missing, incomplete, corrupt, or was built for something else."""


@dataclass(frozen=True)
class CacheRequest:
    """What a cache must have been built from; a reader rejects a cache that differs in any field."""

    dataset_repo_id: str
    encoder: str
    temporal_window: int
    camera: str = "observation.images.image"

    def __post_init__(self) -> None:
        if self.temporal_window < 1:
            raise LatentCacheError(f"temporal_window must be >= 1, got {self.temporal_window}")


@dataclass(frozen=True)
class BuildReport:
    path: Path
    clips_encoded: int  # in this run (a resumed build skips finished shards)
    frames_decoded: int  # in this run; equals the frames of the episodes it touched
    seconds: float


def dataset_fingerprint(root: Path) -> str:
    """Cheap identity of a dataset: its metadata files' bytes plus each data file's name and size."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted((root / "meta").rglob("*")):
        if path.is_file() and path.suffix in (".json", ".parquet", ".jsonl"):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    for sub in ("data", "videos"):
        for path in sorted((root / sub).rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(root)}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:20]


class ClipAssembler:
    """Serves preprocessed clips for increasing rows, decoding each episode once and dropping it when done."""

    def __init__(self, frames: EpisodeFrames, encoder: VideoEncoder, temporal_window: int) -> None:
        self.frames, self.encoder, self.temporal_window = frames, encoder, temporal_window
        self.episodes = frames.episodes
        self._loaded: dict[int, torch.Tensor] = {}  # episode position → (T, C, crop, crop)

    def clips(self, rows: np.ndarray) -> torch.Tensor:
        """(B,) global rows → preprocessed clips (B, m, C, crop, crop)."""
        positions = self.episodes.episode_of_rows(rows)
        starts = self.episodes.start[positions]
        clips = clip_frame_rows(rows, starts, self.temporal_window)  # (B, m)
        local = clips - starts[:, None]  # frame within episode
        needed = np.unique(positions)  # a batch spans a few episodes
        for stale in [p for p in self._loaded if p < needed[0]]:
            del self._loaded[stale]
        out = None
        for p in needed.tolist():
            if p not in self._loaded:
                self._loaded[p] = self.encoder.preprocess(self.frames.episode(p))
            frames = self._loaded[p]
            if out is None:
                out = frames.new_empty((len(rows), self.temporal_window, *frames.shape[1:]))
            hit = positions == p
            out[torch.from_numpy(hit)] = frames[torch.from_numpy(local[hit])]
        return out


def _plan(
    request: CacheRequest, frames: EpisodeFrames, encoder: VideoEncoder, shard_size: int, batch_size: int
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "request": request.__dict__,
        "dataset_fingerprint": dataset_fingerprint(frames.root),
        "num_frames": frames.episodes.num_frames,
        "shard_size": shard_size,
        "batch_size": batch_size,
        "encoder_revision": encoder.resolved_revision,
        "encoder_normalisation": encoder.normalisation,
        "dtype": str(encoder.dtype),
    }


def _complete_shards(staging: Path, num_shards: int) -> set[int]:
    done = set()
    for k in range(num_shards):
        shard, sidecar = staging / f"shard_{k:05d}.npy", staging / f"shard_{k:05d}.json"
        if shard.is_file() and sidecar.is_file():
            if json.loads(sidecar.read_text())["sha256"] == sha256_file(shard):
                done.add(k)
            else:
                log.warning("%s does not match its checksum; re-encoding it", shard)
    return done


def _staging(out_dir: Path, plan: dict[str, Any]) -> Path:
    """The build directory `<out_dir>.partial`, kept if it was started for exactly this plan."""
    staging = out_dir.with_name(out_dir.name + ".partial")
    plan_file = staging / PLAN_FILE
    if plan_file.is_file() and json.loads(plan_file.read_text()) != plan:
        log.warning("%s was started for different inputs or settings; starting over", staging)
        shutil.rmtree(staging)
    staging.mkdir(parents=True, exist_ok=True)
    write_json(plan_file, plan, sort_keys=True)
    return staging


def _write_shard(staging: Path, k: int, first: int, latents: np.ndarray) -> None:
    """Shard k, then its sidecar (checksum, non-finite rows): a shard without a valid sidecar is redone."""
    bad = np.flatnonzero(~np.isfinite(latents).all(axis=1)) + first
    shard = staging / f"shard_{k:05d}.npy"
    with atomic_write(shard, "wb") as f:
        np.save(f, latents)
    sidecar = {
        "rows": [first, first + len(latents)],
        "sha256": sha256_file(shard),
        "nonfinite_rows": bad.tolist(),
    }
    write_json(staging / f"shard_{k:05d}.json", sidecar)


def _check_finite(shards: list[dict[str, Any]], staging: Path, allow_nonfinite: bool) -> list[int]:
    nonfinite = [row for s in shards for row in s["nonfinite_rows"]]
    if nonfinite and not allow_nonfinite:
        shown = ", ".join(map(str, nonfinite[:20])) + (" …" if len(nonfinite) > 20 else "")
        raise LatentCacheError(
            f"{len(nonfinite)} latent row(s) are not finite (rows {shown}); the shards are kept in "
            f"{staging}; re-run with --allow-nonfinite to accept them (readers then skip those rows)"
        )
    return nonfinite


def _meta(
    request: CacheRequest,
    encoder: VideoEncoder,
    frames: EpisodeFrames,
    plan: dict[str, Any],
    shards: list[dict[str, Any]],
    nonfinite: list[int],
    dataset_revision: str | None,
) -> dict[str, Any]:
    """What `meta.json` says of a complete cache (DESIGN.md §4 "Latent cache")."""
    return {
        "format_version": FORMAT_VERSION,
        "encoder": {
            "name": encoder.spec.name,
            "repo_id": encoder.spec.repo_id,
            "source": encoder.source,
            "revision": encoder.resolved_revision,
            "dim": encoder.dim,
            "crop_size": encoder.crop_size,
            "dtype": str(encoder.dtype),
            "normalisation": encoder.normalisation,
        },
        "temporal_window": request.temporal_window,
        "camera": request.camera,
        "image_shape": list(frames.image_shape()),
        "dataset": {
            "repo_id": request.dataset_repo_id,
            "root": str(frames.root),
            "revision": dataset_revision,
            "fingerprint": plan["dataset_fingerprint"],
        },
        "num_frames": plan["num_frames"],
        "episodes": {
            "episode_index": frames.episodes.episode_index.tolist(),
            "start": frames.episodes.start.tolist(),
            "end": frames.episodes.end.tolist(),
        },
        "dtype": "float16",
        "shard_size": plan["shard_size"],
        "shards": [
            {"file": f"shard_{k:05d}.npy", "rows": s["rows"], "sha256": s["sha256"]}
            for k, s in enumerate(shards)
        ],
        "nonfinite_rows": nonfinite,
        "code_version": {
            **git_state(Path(__file__).resolve().parent),
            "wmvla": package_versions(("wmvla",))["wmvla"],
        },
    }


def _promote(staging: Path, out_dir: Path, meta: dict[str, Any]) -> None:
    """Drop the bookkeeping, write `meta.json`, move the complete cache into place (one rename)."""
    for sidecar in staging.glob("shard_*.json"):
        sidecar.unlink()
    (staging / PLAN_FILE).unlink()
    write_json(staging / META_FILE, meta)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)


def build_cache(
    dataset_root: Path,
    request: CacheRequest,
    encoder: VideoEncoder,
    out_dir: Path,
    batch_size: int = 64,
    shard_size: int = 4096,
    allow_nonfinite: bool = False,
    dataset_revision: str | None = None,
) -> BuildReport:
    """Encode every frame's clip of one camera into `out_dir` (resumable; see module docstring).

    `dataset_revision`: the commit of a Hub snapshot dataset, recorded in the metadata."""
    if encoder.spec.name != request.encoder:
        raise LatentCacheError(f"encoder {encoder.spec.name!r} given for a {request.encoder!r} cache")
    encoder.check_temporal_window(request.temporal_window)
    if batch_size < 1 or shard_size < batch_size:
        raise LatentCacheError(f"need 1 <= batch_size <= shard_size, got {batch_size}, {shard_size}")
    out_dir = Path(out_dir)
    with lease(lease_path(out_dir), f"latent cache {out_dir}"):
        return _build(dataset_root, request, encoder, out_dir, batch_size, shard_size, allow_nonfinite,
                      dataset_revision)  # fmt: skip


def _build(
    dataset_root: Path,
    request: CacheRequest,
    encoder: VideoEncoder,
    out_dir: Path,
    batch_size: int,
    shard_size: int,
    allow_nonfinite: bool,
    dataset_revision: str | None,
) -> BuildReport:
    if (out_dir / META_FILE).is_file():
        raise OutputExistsError(f"{out_dir} is already a complete cache; remove it to rebuild")
    frames = EpisodeFrames(dataset_root, request.camera)
    plan = _plan(request, frames, encoder, shard_size, batch_size)
    staging = _staging(out_dir, plan)

    n = frames.episodes.num_frames
    num_shards = -(-n // shard_size)
    done = _complete_shards(staging, num_shards)
    if done:
        log.info("resuming: %d of %d shards already complete", len(done), num_shards)
    assembler = ClipAssembler(frames, encoder, request.temporal_window)
    todo_rows = sum(min(shard_size, n - k * shard_size) for k in range(num_shards) if k not in done)
    started = time.perf_counter()
    with tqdm(total=todo_rows, desc=f"encoding {request.encoder} clips", unit="clip") as progress:
        for k in sorted(set(range(num_shards)) - done):
            first, stop = k * shard_size, min((k + 1) * shard_size, n)
            latents = np.empty((stop - first, encoder.dim), dtype=np.float16)
            for a in range(first, stop, batch_size):
                rows = np.arange(a, min(a + batch_size, stop))
                latents[rows - first] = encoder.encode(assembler.clips(rows)).numpy().astype(np.float16)
                progress.update(len(rows))
            _write_shard(staging, k, first, latents)
    elapsed = time.perf_counter() - started
    log.info("encoded %d clips in %.1fs; decoded %d frames", todo_rows, elapsed, frames.frames_decoded)

    shards = [json.loads((staging / f"shard_{k:05d}.json").read_text()) for k in range(num_shards)]
    nonfinite = _check_finite(shards, staging, allow_nonfinite)
    _promote(staging, out_dir, _meta(request, encoder, frames, plan, shards, nonfinite, dataset_revision))
    return BuildReport(out_dir, todo_rows, frames.frames_decoded, elapsed)


def read_meta(path: Path) -> dict[str, Any]:
    meta_file = Path(path) / META_FILE
    if not meta_file.is_file():
        partial = Path(str(path) + ".partial")
        hint = f" (an unfinished build is in {partial}; run the build again)" if partial.exists() else ""
        raise LatentCacheError(f"{path} is not a complete latent cache: {META_FILE} is missing{hint}")
    meta = json.loads(meta_file.read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise LatentCacheError(
            f"{path}: format_version {meta.get('format_version')}, expected {FORMAT_VERSION}"
        )
    return meta


def check_request(
    meta: dict[str, Any], request: CacheRequest, path: Path, dataset_root: Path | None = None
) -> None:
    """Reject a cache built for another dataset, encoder, temporal_window or camera, naming the field.

    With `dataset_root`, the dataset's current fingerprint must equal the one the cache was built from.
    """
    found = {
        "dataset.repo_id": meta["dataset"]["repo_id"],
        "encoder.name": meta["encoder"]["name"],
        "temporal_window": meta["temporal_window"],
        "camera": meta["camera"],
    }
    wanted = {
        "dataset.repo_id": request.dataset_repo_id,
        "encoder.name": request.encoder,
        "temporal_window": request.temporal_window,
        "camera": request.camera,
    }
    for field, value in wanted.items():
        if found[field] != value:
            raise LatentCacheError(f"latent cache {path}: {field} is {found[field]!r}, expected {value!r}")
    if dataset_root is not None and meta["dataset"]["fingerprint"] != dataset_fingerprint(dataset_root):
        raise LatentCacheError(  # rows are read by position: another version would be read misaligned
            f"latent cache {path} was built from another version of the dataset (fingerprint "
            f"{meta['dataset']['fingerprint']}) than the one at {dataset_root} (fingerprint "
            f"{dataset_fingerprint(dataset_root)}): rebuild the cache for this dataset (wmvla latents build)"
        )
