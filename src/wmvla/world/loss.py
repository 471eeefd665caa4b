"""World loss: masked mean of (1 − cos(ẑ, target)), with best-of-N over hypotheses."""

import torch
import torch.nn.functional as F


def hypothesis_losses(
    z_pred: torch.Tensor, z_future: torch.Tensor, z_now: torch.Tensor, future_mask: torch.Tensor, delta: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-hypothesis loss (B, N) and mean cosine (B, N) over valid future steps.

    z_pred (B, N, K, D), z_future (B, K, D), z_now (B, D), future_mask (B, K). With `delta`, both sides
    are compared as changes from z_now (a Prophet that predicts "no change" then has cos 0, not ~1).
    """
    pred, target = z_pred, z_future[:, None]
    if delta:
        pred, target = pred - z_now[:, None, None], target - z_now[:, None, None]
    cos = F.cosine_similarity(pred.float(), target.float(), dim=-1, eps=1e-6)  # (B, N, K)
    weight = future_mask[:, None, :].float()  # (B, 1, K)
    count = weight.sum(-1).clamp_min(1.0)
    return ((1.0 - cos) * weight).sum(-1) / count, (cos * weight).sum(-1) / count


def combine_hypotheses(
    per_hypothesis: torch.Tensor, best_of_n: bool, temperature: float = 0.0
) -> torch.Tensor:
    """(B, N) losses → (B,): mean over hypotheses, or best-of-N (min, or soft-min when temperature > 0).

    The soft-min is −τ·log mean_i exp(−l_i/τ), which lies between the min and the mean.
    """
    if not best_of_n or per_hypothesis.shape[1] == 1:
        return per_hypothesis.mean(dim=1)
    if temperature > 0:
        n = per_hypothesis.shape[1]
        lse = torch.logsumexp(-per_hypothesis / temperature, dim=1)
        return -temperature * (lse - torch.log(torch.tensor(float(n), device=lse.device)))
    return per_hypothesis.min(dim=1).values


def world_loss(
    per_hypothesis: torch.Tensor, valid: torch.Tensor, best_of_n: bool, temperature: float = 0.0
) -> torch.Tensor:
    """Mean over samples with at least one valid future step of the combined per-sample loss."""
    w = valid.float()
    return (combine_hypotheses(per_hypothesis, best_of_n, temperature) * w).sum() / w.sum().clamp_min(1.0)
