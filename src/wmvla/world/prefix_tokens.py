"""F3a: K world tokens for the VLM prefix, pooled from the memory by learned queries and gated."""

import torch
from torch import nn

from wmvla.world.fusion import AttentionStats, CrossAttention


class PrefixWorldTokens(nn.Module):
    """mem (B, M, D) → tokens (B, K, prefix_dim) = tanh(g) · (queries + Attn(queries, mem)).

    Pooling by attention works for any memory length (N·K with an imagination bank). At g = 0 the
    tokens are zero vectors, yet they still take attention slots in the prefix: F3a, unlike F1, F2 and
    F3b, is not exactly do-no-harm at init.
    """

    def __init__(self, n_tokens: int, mem_dim: int, prefix_dim: int, heads: int, gate_init: float) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_tokens, prefix_dim) * 0.02)  # (K, prefix_dim)
        self.attn = CrossAttention(prefix_dim, mem_dim, heads)
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))
        self.last_stats: AttentionStats | None = None

    def forward(self, mem: torch.Tensor, mem_mask: torch.Tensor, stats: bool = False) -> torch.Tensor:
        queries = self.queries.expand(mem.shape[0], -1, -1).to(mem.dtype)  # (B, K, prefix_dim)
        context, self.last_stats = self.attn(queries, mem, mem_mask, stats)
        return torch.tanh(self.gate) * (queries + context)
