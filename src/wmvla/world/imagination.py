"""Imagination bank: N hypotheses of the future from one history, for the policy to choose among.

Methods (`world_hypothesis_method`):
  dropout   N samples of the same Prophet with dropout on (also at rollout)
  noise     N samples with Gaussian noise on the future queries
  ensemble  N output heads on a shared trunk
  mixture   N learned future-query sets (mixture components) with a shared head
The N stochastic samples run as one batched call (the batch repeated N times).
"""

from dataclasses import replace

import torch
from torch import nn

from wmvla.world.prophet import Prophet, ProphetConfig
from wmvla.world.settings import HYPOTHESIS_METHODS


class ImaginationBank(nn.Module):
    def __init__(self, prophet: ProphetConfig, n: int = 1, method: str = "dropout", noise_std: float = 0.1):
        super().__init__()
        if n < 1:
            raise ValueError(f"world_num_hypotheses must be >= 1, got {n}")
        if method not in HYPOTHESIS_METHODS:
            allowed = ", ".join(HYPOTHESIS_METHODS)
            raise ValueError(f"world_hypothesis_method {method!r} is not one of {allowed}")
        if method == "dropout" and n > 1 and prophet.dropout == 0.0:
            raise ValueError("dropout hypotheses need a Prophet dropout > 0")
        self.n, self.method, self.noise_std = n, method, noise_std
        self.prophet = Prophet(
            replace(
                prophet,
                query_sets=n if method == "mixture" else 1,
                heads_out=n if method == "ensemble" else 1,
            )
        )

    def forward(self, z_hist: torch.Tensor, hist_mask: torch.Tensor) -> torch.Tensor:
        """z_hist (B, T_ctx, D), hist_mask (B, T_ctx) → ẑ (B, N, K, D)."""
        b, n = z_hist.shape[0], self.n
        if n == 1:
            return self.prophet(z_hist, hist_mask)[:, None]
        if self.method in ("ensemble", "mixture"):
            key = "head" if self.method == "ensemble" else "query_set"
            return torch.stack([self.prophet(z_hist, hist_mask, **{key: i}) for i in range(n)], dim=1)
        hist, mask = z_hist.repeat(n, 1, 1), hist_mask.repeat(n, 1)  # (N·B, ...), sample-major blocks
        if self.method == "noise":
            c = self.prophet.config
            noise = (
                torch.randn(n * b, c.k, c.width, device=z_hist.device, dtype=z_hist.dtype) * self.noise_std
            )
            out = self.prophet(hist, mask, query_noise=noise)
        else:  # dropout: sample even in eval mode
            was_training = self.prophet.training
            self.prophet.train()
            out = self.prophet(hist, mask)
            self.prophet.train(was_training)
        return out.view(n, b, *out.shape[1:]).transpose(0, 1)  # (B, N, K, D)
