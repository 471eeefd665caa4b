"""What the fusion attends to: the memory `mem` for one batch, built from a named mode.

Training modes (`world_memory_mode_train`):
  pred     the Prophet's predictions ẑ (B, N·K, D) — the hypothesis under test (E2)
  learned  N·K learned tokens, the same for every sample — capacity control (E1): the branch has all its
           capacity and is trained (its gate gets a gradient, it can move), but reads nothing of the scene
  zero     zeros of the same shape — the branch carries nothing; through a bias-free memory path it adds
           exactly 0 and gets no gradient at all, so it is a rollout ablation, not a control
  oracle   the true future latents z_future — upper bound (offline check)
  shuffle  ẑ of another situation — right statistics, wrong scene: the donors' predictions when the caller
           names donors (the offline check: frames of another held-out demonstration, of another task where
           the suite has one), else another sample of the batch
  random   Gaussian noise with ẑ's per-sample scale — no information at all
Rollout modes (`world_memory_mode_rollout`): pred, learned, zero, random (no future is known at rollout).
"""

import torch

from wmvla.world.settings import SCENELESS_MODES, TRAIN_MODES


def reads_scene(mode: str) -> bool:
    """Whether a rollout memory of `mode` depends on what the cameras see (`random` does: it takes ẑ's
    scale), i.e. whether the world camera must be rendered and encoded for it."""
    return mode not in SCENELESS_MODES


def build_memory(
    mode: str,
    z_pred: torch.Tensor,
    z_future: torch.Tensor | None = None,
    future_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    tokens: torch.Tensor | None = None,
    donors: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """z_pred (B, N, K, D) [+ z_future (B, K, D), future_mask (B, K); tokens (N·K, D) for `learned`;
    donors (B, N, K, D) for `shuffle`: another situation's predictions per sample]
    → mem (B, M, D), mem_mask (B, M)."""
    b, n, k, d = z_pred.shape
    flat = z_pred.reshape(b, n * k, d)  # (B, N·K, D)
    everything = torch.ones(b, n * k, dtype=torch.bool, device=z_pred.device)
    if mode == "pred":
        return flat, everything
    if mode == "zero":
        return torch.zeros_like(flat), everything
    if mode == "learned":
        if tokens is None or tokens.shape != (n * k, d):
            shape = None if tokens is None else tuple(tokens.shape)
            raise ValueError(f"memory mode 'learned' needs tokens of shape {(n * k, d)}, got {shape}")
        return tokens.to(flat.dtype).unsqueeze(0).expand(b, -1, -1), everything
    if mode == "oracle":
        if z_future is None or future_mask is None:
            raise ValueError("memory mode 'oracle' needs z_future and future_mask (training only)")
        return z_future.to(flat.dtype), future_mask
    if mode == "shuffle":
        if donors is not None:
            if donors.shape != z_pred.shape:
                raise ValueError(f"shuffle donors must have the predictions' shape {tuple(z_pred.shape)}")
            return donors.reshape(b, n * k, d).to(flat.dtype), everything
        perm = _derangement(b, z_pred.device, generator)
        return flat[perm], everything
    if mode == "random":
        scale = flat.detach().float().std(dim=(1, 2), keepdim=True).clamp_min(1e-6)  # (B, 1, 1)
        noise = torch.randn(flat.shape, generator=generator, device="cpu" if generator else flat.device)
        return (noise.to(flat.device) * scale).to(flat.dtype), everything
    raise ValueError(f"unknown memory mode {mode!r}; known: {', '.join(TRAIN_MODES)}")


def _derangement(b: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """A permutation of the batch with no fixed point (every sample gets another one's memory)."""
    if b < 2:
        return torch.zeros(1, dtype=torch.long, device=device)
    shift = int(torch.randint(1, b, (1,), generator=generator).item())
    order = torch.randperm(b, generator=generator)
    perm = torch.empty(b, dtype=torch.long)
    perm[order] = order.roll(shift)
    return perm.to(device)
