"""The latent-cache gate: a cache is informative before any world arm trains on it.

Why: black frames or a broken preprocessing give every frame the same latent; a world arm trained on such a
cache learns nothing from its memory and the study would conclude the world model does not help.
"""

from pathlib import Path

import numpy as np

from wmvla.gates.record import Gate
from wmvla.latents.cache import read_meta


def latent_gates(cache: Path, max_consecutive_cos: float, min_relative_std: float) -> list[Gate]:
    """The latent cache is informative: finite, varying across frames, changing from frame to frame.

    Catches black frames or broken preprocessing (every row alike) before any world arm trains on them.
    Statistics over every row (the fp16 shards read into one float32 array: ~1.5 GB for full LIBERO's
    V-JEPA 2 ViT-g cache): the per-dimension std across frames relative to the per-dimension RMS, and the
    mean cosine between consecutive frames of the same episode.
    """
    meta = read_meta(cache)
    shards = [np.load(Path(cache) / s["file"]) for s in meta["shards"]]
    z = np.concatenate(shards).astype(np.float32)  # (N, D)
    finite_rows = np.isfinite(z).all(axis=1)
    n_bad = int((~finite_rows).sum())
    good = z[finite_rows]
    rms = float(np.sqrt((good**2).mean()))
    relative_std = float(good.std(axis=0).mean() / rms) if rms > 0 else 0.0
    ends = np.asarray(meta["episodes"]["end"])
    same_episode = np.ones(len(finite_rows) - 1, dtype=bool)
    same_episode[ends[ends < len(finite_rows)] - 1] = False  # row end-1 → end crosses into the next episode
    pairs = same_episode & finite_rows[:-1] & finite_rows[1:]
    a, b = z[:-1][pairs], z[1:][pairs]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = float(((a * b).sum(axis=1) / np.maximum(norms, 1e-12)).mean()) if len(a) else 1.0
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
            f"{int(pairs.sum())} consecutive pairs",
        ),
    ]
