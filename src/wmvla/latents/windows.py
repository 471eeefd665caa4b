"""Episode-aware index windows, shared by the cache builder, the reader and the online encoder.

All functions are vectorised over a batch of global frame rows and never let a window cross an
episode boundary (DESIGN.md §4 "Latent cache", "Training sample").
"""

import numpy as np


def clip_frame_rows(rows: np.ndarray, episode_start: np.ndarray, temporal_window: int) -> np.ndarray:
    """Rows of the frames forming the clip that ends at each row: [t-m+1 .. t], (B, m).

    Frames before the episode start repeat the episode's first frame.
    """
    offsets = np.arange(1 - temporal_window, 1)  # (m,)
    return np.maximum(rows[:, None] + offsets[None, :], episode_start[:, None])


def history_rows(rows: np.ndarray, episode_start: np.ndarray, t_ctx: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of z_hist = z[t-T_ctx+1 .. t] and its validity mask, (B, T_ctx) each.

    Positions before the episode start are clamped to the start row (a valid row to read) and masked.
    """
    positions = rows[:, None] + np.arange(1 - t_ctx, 1)[None, :]
    mask = positions >= episode_start[:, None]
    return np.where(mask, positions, episode_start[:, None]), mask


def future_rows(rows: np.ndarray, episode_end: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of z_future = z[t+1 .. t+K] and its validity mask, (B, K) each.

    `episode_end` is exclusive. Positions past the episode's last frame are clamped to it and masked.
    """
    positions = rows[:, None] + np.arange(1, k + 1)[None, :]
    mask = positions < episode_end[:, None]
    return np.where(mask, positions, episode_end[:, None] - 1), mask
