"""Prophet: predict the next K world latents from the last T_ctx, without looking at actions.

Read top to bottom: history latents are projected to the Prophet's width and tagged with their
position; K learned future queries, each with its own time embedding, attend to them through a small
transformer decoder; a head maps each query back to the latent space. With `predict_delta` the head
predicts the change ẑ_{t+j} − z_t and adds z_t back.
"""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ProphetConfig:
    dim: int = 1408  # D: latent size of the frozen encoder (vitg 1408, vitl 1024)
    t_ctx: int = 4  # history length T_ctx
    k: int = 8  # predicted future steps K
    width: int = 512  # internal width of the Prophet
    layers: int = 2
    heads: int = 8
    dropout: float = 0.1
    predict_delta: bool = True  # predict ẑ − z_t rather than ẑ
    query_sets: int = 1  # > 1: one learned query set per hypothesis ("mixture")
    heads_out: int = 1  # > 1: one output head per hypothesis ("ensemble")

    def __post_init__(self) -> None:
        for name in ("dim", "t_ctx", "k", "width", "layers", "heads", "query_sets", "heads_out"):
            if getattr(self, name) < 1:
                raise ValueError(f"ProphetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ValueError(f"Prophet width {self.width} is not divisible by heads {self.heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Prophet dropout must lie in [0, 1), got {self.dropout}")


class Prophet(nn.Module):
    def __init__(self, config: ProphetConfig) -> None:
        super().__init__()
        c = self.config = config
        self.in_proj = nn.Linear(c.dim, c.width)
        self.history_pos = nn.Parameter(torch.randn(c.t_ctx, c.width) * 0.02)  # (T_ctx, W)
        self.future_queries = nn.Parameter(torch.randn(c.query_sets, c.k, c.width) * 0.02)  # (S, K, W)
        self.future_time = nn.Parameter(torch.randn(c.k, c.width) * 0.02)  # (K, W) time embedding
        layer = nn.TransformerDecoderLayer(
            c.width, c.heads, 4 * c.width, c.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, c.layers)
        self.norm = nn.LayerNorm(c.width)
        # Default (non-zero) init on purpose: the cosine world loss is singular at a zero prediction,
        # so a zero-initialised delta head would start training with a huge, meaningless gradient.
        self.heads = nn.ModuleList(nn.Linear(c.width, c.dim) for _ in range(c.heads_out))

    def forward(
        self,
        z_hist: torch.Tensor,
        hist_mask: torch.Tensor,
        query_set: int = 0,
        head: int = 0,
        query_noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z_hist (B, T_ctx, D), hist_mask (B, T_ctx) bool → ẑ (B, K, D).

        The newest history position (z_t) must be valid; older ones may be masked (episode start).
        """
        b = z_hist.shape[0]
        memory = self.in_proj(z_hist) + self.history_pos  # (B, T_ctx, W)
        queries = (self.future_queries[query_set] + self.future_time).expand(b, -1, -1)  # (B, K, W)
        if query_noise is not None:
            queries = queries + query_noise
        hidden = self.decoder(queries, memory, memory_key_padding_mask=~hist_mask)  # (B, K, W)
        out = self.heads[head](self.norm(hidden))  # (B, K, D)
        if self.config.predict_delta:
            out = z_hist[:, -1:, :] + out
        return out
