"""Encode world latents online during rollouts, only when the policy needs a new action chunk.

Why: encoding a clip at every env step wastes T_ctx-fold work when the policy consumes latents once
per chunk. Each env keeps the last `T_ctx + m - 1` preprocessed frames (and its episode's first
frame, for padding); `history()` encodes the T_ctx clips ending at the current step for every env in
one batched call. The result equals the cache's rows for the same frames (same clips, same padding).
"""

from collections import deque

import numpy as np
import torch

from wmvla.latents.encoders import VideoEncoder
from wmvla.latents.windows import clip_frame_rows, history_rows


class OnlineWorldEncoder:
    def __init__(self, encoder: VideoEncoder, temporal_window: int, t_ctx: int, n_envs: int) -> None:
        encoder.check_window(temporal_window)
        self.encoder, self.window, self.t_ctx, self.n_envs = encoder, temporal_window, t_ctx, n_envs
        self._recent: list[deque[torch.Tensor]] = [
            deque(maxlen=t_ctx + temporal_window - 1) for _ in range(n_envs)
        ]
        self._first: list[torch.Tensor | None] = [None] * n_envs
        self._steps = np.zeros(n_envs, dtype=np.int64)  # frames seen in the current episode

    def reset(self, env_ids: list[int] | None = None) -> None:
        """Forget the history of the given envs (all by default): a new episode starts."""
        for i in range(self.n_envs) if env_ids is None else env_ids:
            self._recent[i].clear()
            self._first[i] = None
            self._steps[i] = 0

    def observe(self, frames: torch.Tensor) -> None:
        """Append the current camera frame of every env: uint8 (n_envs, H, W, 3)."""
        if frames.shape[0] != self.n_envs:
            raise ValueError(f"expected frames for {self.n_envs} envs, got {frames.shape[0]}")
        processed = self.encoder.preprocess(frames)  # per-frame ops: the envs batch as a "video"
        for i in range(self.n_envs):
            if self._first[i] is None:
                self._first[i] = processed[i]
            self._recent[i].append(processed[i])
            self._steps[i] += 1

    def history(self) -> tuple[torch.Tensor, torch.Tensor]:
        """z_hist (n_envs, T_ctx, D) and hist_mask (n_envs, T_ctx) now, from one encoder call."""
        if np.any(self._steps == 0):
            raise RuntimeError("history() before the first observe() of an episode")
        now = self._steps - 1  # time of the current frame within each env's episode
        zeros = np.zeros(self.n_envs, dtype=np.int64)
        hist_t, mask = history_rows(now, zeros, self.t_ctx)  # (n_envs, T_ctx) episode times
        clip_t = clip_frame_rows(hist_t.reshape(-1), np.zeros(hist_t.size, np.int64), self.window)
        clip_t = clip_t.reshape(self.n_envs, self.t_ctx, self.window)
        clips = torch.stack([self._gather(i, clip_t[i]) for i in range(self.n_envs)])  # (n, T, m, C, h, w)
        latents = self.encoder.encode(clips.flatten(0, 1)).view(self.n_envs, self.t_ctx, -1)
        latents[torch.from_numpy(~mask)] = 0.0  # as the cache reader: masked history carries nothing
        return latents, torch.from_numpy(mask)

    def _gather(self, env: int, times: np.ndarray) -> torch.Tensor:
        """Frames of env `env` at episode times `times` (any shape) from its buffer."""
        oldest = int(self._steps[env]) - len(self._recent[env])
        buffer = list(self._recent[env])
        flat = [self._first[env] if t < oldest else buffer[t - oldest] for t in times.reshape(-1).tolist()]
        return torch.stack(flat).view(*times.shape, *flat[0].shape)
