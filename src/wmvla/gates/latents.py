"""The latent-cache gate: a cache is informative before any world-branch arm trains on it.

Why: black frames or a broken preprocessing give every frame the same latent; a world-branch arm trained on
such a cache learns nothing from its memory and the study would conclude the world model does not help.

In bounded memory: the cache is read one shard at a time (memory-mapped), keeping running statistics, so the
gate of full LIBERO's ViT-g cache (273,465 × 1,408 fp16, 0.77 GB) needs about one shard in float32, not the
whole cache several times over (`bench/latent_gate.py` measures it).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wmvla.gates.record import Gate
from wmvla.latents.cache import read_meta


@dataclass
class _Running:
    """Per-dimension count, mean and sum of squared deviations of the finite rows, shard by shard (shards
    are combined with the pooled-variance identity, in float64), plus the consecutive-frame cosines."""

    n: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None
    squares: float = 0.0  # Σ z² over finite rows, for the RMS
    cos_sum: float = 0.0
    cos_pairs: int = 0
    nonfinite: int = 0
    previous: tuple[np.ndarray, bool] | None = field(default=None, repr=False)  # last row of the last shard

    def add_rows(self, z: np.ndarray) -> None:
        n = len(z)
        if n == 0:
            return
        mean, m2 = z.mean(axis=0, dtype=np.float64), z.var(axis=0, dtype=np.float64) * n
        if self.n == 0:
            self.n, self.mean, self.m2 = n, mean, m2
        else:
            total = self.n + n
            delta = mean - self.mean
            self.m2 = self.m2 + m2 + delta**2 * self.n * n / total
            self.mean = self.mean + delta * n / total
            self.n = total
        self.squares += float(np.square(z, dtype=np.float64).sum())

    @property
    def relative_std(self) -> float:
        rms = np.sqrt(self.squares / (self.n * len(self.mean))) if self.n else 0.0
        return float(np.sqrt(self.m2 / self.n).mean() / rms) if rms > 0 else 0.0


def latent_gates(cache: Path, max_consecutive_cos: float, min_relative_std: float) -> list[Gate]:
    """The latent cache is informative: finite, varying across frames, changing from frame to frame.

    Statistics over every row, one shard at a time: the per-dimension std across frames relative to the
    per-dimension RMS, and the mean cosine between consecutive frames of the same episode.
    """
    meta = read_meta(cache)
    ends = np.asarray(meta["episodes"]["end"])
    running = _Running()
    for spec in meta["shards"]:
        first, _ = spec["rows"]
        z = np.asarray(np.load(Path(cache) / spec["file"], mmap_mode="r"), dtype=np.float32)  # (rows, D)
        finite = np.isfinite(z).all(axis=1)
        running.nonfinite += int((~finite).sum())
        running.add_rows(z[finite])
        rows = np.arange(first, first + len(z))
        if running.previous is not None:  # the pair that crosses into this shard
            z = np.concatenate([running.previous[0][None], z])
            finite = np.concatenate([[running.previous[1]], finite])
            rows = np.concatenate([[first - 1], rows])
        same_episode = ~np.isin(rows[1:], ends)  # row r → r+1 crosses into the next episode where r+1 = end
        pairs = same_episode & finite[:-1] & finite[1:]
        a, b = z[:-1][pairs], z[1:][pairs]
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        running.cos_sum += float(((a * b).sum(axis=1) / np.maximum(norms, 1e-12)).sum())
        running.cos_pairs += int(pairs.sum())
        running.previous = (z[-1].copy(), bool(finite[-1]))
    n_bad, relative_std = running.nonfinite, running.relative_std
    cos = running.cos_sum / running.cos_pairs if running.cos_pairs else 1.0
    encoder = meta["encoder"]["name"]
    where = f"{encoder} cache of {meta['num_frames']} frames"
    return [
        Gate(
            f"latents_finite[{encoder}]",
            f"Is every latent of the {where} finite?",
            n_bad,
            "0 non-finite",
            n_bad == 0,
        ),
        Gate(
            f"latents_vary_across_frames[{encoder}]",
            "Do the latents vary across frames (per-dimension std relative to RMS)?",
            round(relative_std, 5),
            f">= {min_relative_std}",
            relative_std >= min_relative_std,
        ),
        Gate(
            f"latents_change_between_frames[{encoder}]",
            "Do consecutive frames of an episode get different latents (mean cosine)?",
            round(cos, 6),
            f"<= {max_consecutive_cos}",
            cos <= max_consecutive_cos,
            f"{running.cos_pairs} consecutive pairs",
        ),
    ]
