"""Gated cross-attention: `x + tanh(g) · Attn(LN(x), mem)`, the world branch's only way into the policy.

"Do no harm": g starts at 0, so the policy starts exactly as the model it extends, yet the gate still
gets a gradient (d/dg = Attn(...) at g = 0) whenever the memory carries signal — the branch is always
computed, never skipped when the gate is closed. Memory rows that are not finite are ignored: the
branch contributes exactly 0 for that sample (0 · NaN would be NaN) and the sample is counted.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class AttentionStats:
    """Per-batch attention statistics, as tensors (no device→host sync until someone logs them)."""

    entropy: torch.Tensor  # () mean entropy of the attention over memory slots, in nats
    pmax: torch.Tensor  # () mean largest attention probability
    slot_mass: torch.Tensor  # (M,) mean attention mass per memory slot
    nonfinite: torch.Tensor  # () samples whose memory was not finite (ignored)
    ctx_norm: torch.Tensor  # () mean norm of the (ungated) context
    x_norm: torch.Tensor  # () mean norm of x before fusion


class CrossAttention(nn.Module):
    """Multi-head attention from x to a memory, robust to non-finite and fully masked memories."""

    def __init__(self, dim: int, mem_dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"fusion width {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        # No bias on the memory path: an all-zero memory (the `zero` rollout ablation) then yields a
        # context of exactly 0, so it cannot smuggle in a learned constant through the gate. (The capacity
        # control, E1, reads learned memory tokens instead: zeros would leave its branch inert, gradient 0.)
        self.mem_norm = nn.LayerNorm(mem_dim, bias=False)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(mem_dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(
        self, x: torch.Tensor, mem: torch.Tensor, mem_mask: torch.Tensor | None = None, stats: bool = False
    ) -> tuple[torch.Tensor, AttentionStats | None]:
        """x (B, L, dim), mem (B, M, mem_dim), mem_mask (B, M) bool (True = use) → context (B, L, dim).

        A sample whose memory is not finite, or has no valid slot, gets a context of exactly 0.
        """
        b, length, dim = x.shape
        finite = torch.isfinite(mem).flatten(1).all(dim=1)  # (B,)
        mem = torch.where(finite[:, None, None], mem, torch.zeros((), dtype=mem.dtype, device=mem.device))
        valid = mem_mask if mem_mask is not None else torch.ones_like(mem[..., 0], dtype=torch.bool)
        usable = finite & valid.any(dim=1)  # (B,)

        h, d = self.heads, dim // self.heads
        q = self.q(self.norm(x)).view(b, length, h, d).transpose(1, 2)  # (B, H, L, d)
        k, v = self.kv(self.mem_norm(mem.to(x.dtype))).chunk(2, dim=-1)
        k = k.view(b, -1, h, d).transpose(1, 2)  # (B, H, M, d)
        v = v.view(b, -1, h, d).transpose(1, 2)
        logits = (q @ k.transpose(-1, -2)) / d**0.5  # (B, H, L, M)
        logits = logits.masked_fill(~(valid | ~usable[:, None])[:, None, None, :], float("-inf"))
        probs = F.softmax(logits, dim=-1)
        context = (probs @ v).transpose(1, 2).reshape(b, length, dim)  # (B, L, dim)
        context = self.out(context) * usable[:, None, None].to(x.dtype)
        if not stats:
            return context, None
        p = probs.float().clamp_min(1e-12)
        keep = usable.float()[:, None, None, None]
        n = keep.sum().clamp_min(1.0) * h * length
        return context, AttentionStats(
            entropy=(-(p * p.log()).sum(-1, keepdim=True) * keep).sum() / n,
            pmax=(probs.float().amax(-1, keepdim=True) * keep).sum() / n,
            slot_mass=(probs.float() * keep).sum(dim=(0, 1, 2)) / n,
            nonfinite=(~finite).sum().float(),
            ctx_norm=context.float().norm(dim=-1).mean(),
            x_norm=x.float().norm(dim=-1).mean(),
        )


class GatedCrossAttention(nn.Module):
    """`x + tanh(g) · CrossAttention(x, mem)`; `last_stats` keeps the last requested statistics."""

    def __init__(self, dim: int, mem_dim: int, heads: int, gate_init: float = 0.0) -> None:
        super().__init__()
        self.attn = CrossAttention(dim, mem_dim, heads)
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))
        self.last_stats: AttentionStats | None = None

    def forward(
        self, x: torch.Tensor, mem: torch.Tensor, mem_mask: torch.Tensor | None = None, stats: bool = False
    ) -> torch.Tensor:
        context, self.last_stats = self.attn(x, mem, mem_mask, stats)
        return x + torch.tanh(self.gate).to(x.dtype) * context
