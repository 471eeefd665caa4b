"""Encode world latents online during rollouts, only when the policy needs a new action chunk.

Why: encoding a clip at every env step wastes T_ctx-fold work when the policy consumes latents once
per chunk. Each env keeps the frames of its last `T_ctx + m - 1` steps (and its episode's first frame, for
padding); `history()` encodes the T_ctx clips ending at the current step for every env in one batched call.
The result equals the cache's rows for the same frames (same clips, same padding). A step whose frame
nothing reads may come without one (`skip`): a rollout that renders only what is read never renders it.
"""

import numpy as np
import torch

from wmvla.latents.encoders import VideoEncoder, load_encoder
from wmvla.latents.windows import clip_frame_rows, history_rows


class OnlineWorldEncoder:
    def __init__(self, encoder: VideoEncoder, temporal_window: int, t_ctx: int, n_envs: int) -> None:
        encoder.check_temporal_window(temporal_window)
        self.encoder, self.temporal_window, self.t_ctx, self.n_envs = encoder, temporal_window, t_ctx, n_envs
        self.span = t_ctx + temporal_window - 1  # frames the clips of one history cover
        self._frames: list[dict[int, torch.Tensor]] = [{} for _ in range(n_envs)]  # episode time → frame
        self._steps = np.zeros(n_envs, dtype=np.int64)  # steps seen in the current episode

    @classmethod
    def load(
        cls,
        name: str,
        path: str,
        device: torch.device,
        dim: int,
        temporal_window: int,
        t_ctx: int,
        n_envs: int,
    ) -> "OnlineWorldEncoder":
        """The encoder a policy was trained with (`name`, `path`), checked against the policy's `dim`."""
        encoder = load_encoder(name, path, device)
        if encoder.dim != dim:
            raise ValueError(f"encoder {encoder.spec.name} has D={encoder.dim}, world_dim={dim}")
        return cls(encoder, temporal_window, t_ctx, n_envs)

    def reset(self, env_ids: list[int] | None = None) -> None:
        """Forget the history of the given envs (all by default): a new episode starts."""
        for i in range(self.n_envs) if env_ids is None else env_ids:
            self._frames[i].clear()
            self._steps[i] = 0

    def observe(self, frames: torch.Tensor) -> None:
        """Append the current camera frame of every env: uint8 (n_envs, H, W, 3)."""
        if frames.shape[0] != self.n_envs:
            raise ValueError(f"expected frames for {self.n_envs} envs, got {frames.shape[0]}")
        processed = self.encoder.preprocess(frames)  # per-frame ops: the envs batch as a "video"
        for i in range(self.n_envs):
            now = int(self._steps[i])
            self._frames[i][now] = processed[i]
            for t in [t for t in self._frames[i] if 0 < t <= now - self.span]:
                del self._frames[i][t]  # older than any clip of a later history (the first frame pads)
        self._steps += 1

    def skip(self) -> None:
        """A step of every env whose frame nothing reads (and which was not rendered)."""
        self._steps += 1

    def history(self) -> tuple[torch.Tensor, torch.Tensor]:
        """z_hist (n_envs, T_ctx, D) and hist_mask (n_envs, T_ctx) now, from one encoder call."""
        if np.any(self._steps == 0):
            raise RuntimeError("history() before the first observe() of an episode")
        now = self._steps - 1  # time of the current frame within each env's episode
        zeros = np.zeros(self.n_envs, dtype=np.int64)
        hist_t, mask = history_rows(now, zeros, self.t_ctx)  # (n_envs, T_ctx) episode times
        clip_t = clip_frame_rows(hist_t.reshape(-1), np.zeros(hist_t.size, np.int64), self.temporal_window)
        clip_t = clip_t.reshape(self.n_envs, self.t_ctx, self.temporal_window)
        clips = torch.stack([self._gather(i, clip_t[i]) for i in range(self.n_envs)])  # (n, T, m, C, h, w)
        latents = self.encoder.encode(clips.flatten(0, 1)).view(self.n_envs, self.t_ctx, -1)
        latents[torch.from_numpy(~mask)] = 0.0  # as the cache reader: masked history carries nothing
        return latents, torch.from_numpy(mask)

    def _gather(self, env: int, times: np.ndarray) -> torch.Tensor:
        """Frames of env `env` at episode times `times` (any shape)."""
        frames = self._frames[env]
        missing = sorted({t for t in times.reshape(-1).tolist() if t not in frames})
        if missing:
            raise RuntimeError(
                f"env {env}: the world encoder needs the frames of steps {missing}, which were not observed "
                "(not rendered for it?)"
            )
        flat = [frames[t] for t in times.reshape(-1).tolist()]
        return torch.stack(flat).view(*times.shape, *flat[0].shape)
