"""The world branch's building blocks: Prophet, gated fusion, memory modes, imagination bank, loss."""

import math

import pytest
import torch

from wmvla.world.fusion import GatedCrossAttention
from wmvla.world.imagination import ImaginationBank
from wmvla.world.loss import hypothesis_losses, world_loss
from wmvla.world.memory import build_memory
from wmvla.world.prophet import Prophet, ProphetConfig
from wmvla.world.settings import HYPOTHESIS_METHODS

D, T, K = 32, 4, 6
SMALL = ProphetConfig(dim=D, t_ctx=T, k=K, width=16, layers=1, heads=2, dropout=0.1)


def _history(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, T, D, generator=g)
    mask = torch.ones(b, T, dtype=torch.bool)
    mask[0, :2] = False  # sample 0 is two frames into its episode
    return z, mask


# --- Prophet ------------------------------------------------------------------------------------------


def test_delta_prophet_adds_its_prediction_to_the_newest_latent():
    z, mask = _history()
    prophet = Prophet(SMALL).eval()
    pred = prophet(z, mask)
    assert pred.shape == (3, K, D) and not torch.allclose(pred, z[:, -1:].expand(-1, K, -1))
    for head in prophet.heads:  # a head that predicts no change gives z_t exactly
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
    assert torch.equal(prophet(z, mask), z[:, -1:].expand(-1, K, -1))


def test_prophet_ignores_masked_history():
    torch.manual_seed(0)
    prophet = Prophet(
        ProphetConfig(dim=D, t_ctx=T, k=K, width=16, layers=1, heads=2, predict_delta=False)
    ).eval()
    z, mask = _history()
    changed = z.clone()
    changed[0, :2] = 1e3  # masked positions of sample 0
    torch.testing.assert_close(prophet(z, mask), prophet(changed, mask))
    assert not torch.allclose(prophet(z, mask)[1], prophet(changed.roll(1, 1), mask)[1])


@pytest.mark.parametrize(("field", "value"), [("width", 15), ("k", 0), ("dropout", 1.0)])
def test_prophet_config_is_validated(field, value):
    with pytest.raises(ValueError, match=field if field != "width" else "divisible"):
        ProphetConfig(**{**SMALL.__dict__, field: value})


# --- gated cross-attention ----------------------------------------------------------------------------


def _fusion(gate=0.0, seed=0):
    torch.manual_seed(seed)
    return GatedCrossAttention(dim=24, mem_dim=D, heads=4, gate_init=gate)


def test_closed_gate_is_exactly_the_identity():
    x, mem = torch.randn(2, 5, 24), torch.randn(2, 7, D)
    assert torch.equal(_fusion()(x, mem), x)


def test_closed_gate_still_learns_from_informative_memory():
    fusion = _fusion()
    x, mem = torch.randn(2, 5, 24), torch.randn(2, 7, D)
    (fusion(x, mem) * torch.randn(2, 5, 24)).sum().backward()
    assert fusion.gate.grad is not None and fusion.gate.grad.abs() > 0


def test_zero_memory_carries_nothing_not_even_a_learned_constant():
    """E1's capacity control: zero memory gives a zero context, so its gate has no reason to move."""
    fusion = _fusion()
    x = torch.randn(2, 5, 24)
    out = fusion(x, torch.zeros(2, 7, D))
    (out * torch.randn(2, 5, 24)).sum().backward()
    assert torch.equal(out, x) and fusion.gate.grad.item() == 0.0


def test_nonfinite_memory_is_ignored_and_counted():
    fusion = _fusion(gate=1.5)
    x, mem = torch.randn(3, 5, 24), torch.randn(3, 7, D)
    mem[1, 2, 0] = float("nan")
    mem[2, 0, 3] = float("inf")
    out = fusion(x, mem, stats=True)
    assert torch.isfinite(out).all()
    assert torch.equal(out[1:], x[1:])  # those samples get exactly nothing from the branch
    assert not torch.allclose(out[0], x[0])
    assert fusion.last_stats.nonfinite.item() == 2


def test_fully_masked_memory_contributes_nothing():
    fusion = _fusion(gate=1.0)
    x, mem = torch.randn(2, 5, 24), torch.randn(2, 7, D)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[0] = False
    out = fusion(x, mem, mask)
    assert torch.isfinite(out).all() and torch.equal(out[0], x[0])


def test_attention_statistics_are_distributions():
    fusion = _fusion(gate=0.5)
    fusion(torch.randn(2, 5, 24), torch.randn(2, 7, D), stats=True)
    s = fusion.last_stats
    assert 0.0 <= s.entropy.item() <= math.log(7) + 1e-6
    assert 1 / 7 - 1e-6 <= s.pmax.item() <= 1.0
    assert s.slot_mass.shape == (7,) and s.slot_mass.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert s.ctx_norm.item() > 0 and s.x_norm.item() > 0


# --- memory modes ---------------------------------------------------------------------------------------


def _pred(b=4, n=2):
    return torch.randn(b, n, K, D)


def test_pred_memory_concatenates_hypotheses():
    z = _pred()
    mem, mask = build_memory("pred", z)
    assert mem.shape == (4, 2 * K, D) and mask.all()
    assert torch.equal(mem[:, K:], z[:, 1])


def test_zero_memory_is_zero():
    mem, mask = build_memory("zero", _pred())
    assert mem.shape == (4, 2 * K, D) and not mem.any() and mask.all()


def test_oracle_memory_is_the_true_future_with_its_mask():
    future, fmask = torch.randn(4, K, D), torch.rand(4, K) > 0.3
    mem, mask = build_memory("oracle", _pred(), future, fmask)
    assert torch.equal(mem, future) and torch.equal(mask, fmask)
    with pytest.raises(ValueError, match="needs z_future"):
        build_memory("oracle", _pred())


def test_shuffle_memory_gives_every_sample_another_samples_prediction():
    z = _pred(b=6)
    mem, _ = build_memory("shuffle", z, generator=torch.Generator().manual_seed(3))
    flat = z.reshape(6, -1, D)
    sources = [next(j for j in range(6) if torch.equal(mem[i], flat[j])) for i in range(6)]
    assert sorted(sources) == list(range(6)) and all(s != i for i, s in enumerate(sources))


def test_random_memory_keeps_scale_but_not_content():
    z = _pred(b=3) * 5
    mem, _ = build_memory("random", z, generator=torch.Generator().manual_seed(0))
    assert mem.shape == (3, 2 * K, D)
    assert mem.std().item() == pytest.approx(z.std().item(), rel=0.15)
    corr = torch.corrcoef(torch.stack([mem.flatten(), z.reshape(3, -1, D).flatten()]))[0, 1]
    assert abs(corr.item()) < 0.1


def test_unknown_memory_mode_is_named():
    with pytest.raises(ValueError, match="unknown memory mode 'future'"):
        build_memory("future", _pred())


# --- imagination bank -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", HYPOTHESIS_METHODS)
def test_every_method_yields_n_distinct_hypotheses(method):
    torch.manual_seed(0)
    bank = ImaginationBank(SMALL, n=3, method=method, noise_std=0.5)
    bank.eval()  # dropout hypotheses must stay stochastic at rollout
    z, mask = _history()
    out = bank(z, mask)
    assert out.shape == (3, 3, K, D)
    assert not torch.allclose(out[:, 0], out[:, 1]) and not torch.allclose(out[:, 1], out[:, 2])


def test_single_hypothesis_is_the_plain_prophet():
    torch.manual_seed(0)
    bank = ImaginationBank(SMALL, n=1).eval()
    z, mask = _history()
    assert torch.equal(bank(z, mask)[:, 0], bank.prophet(z, mask))


def test_bad_bank_settings_are_named():
    with pytest.raises(ValueError, match="world_hypothesis_method"):
        ImaginationBank(SMALL, n=2, method="beam")
    with pytest.raises(ValueError, match="dropout > 0"):
        ImaginationBank(ProphetConfig(**{**SMALL.__dict__, "dropout": 0.0}), n=2, method="dropout")


# --- world loss ---------------------------------------------------------------------------------------


def test_best_of_n_is_at_most_the_mean_and_softmin_lies_between():
    g = torch.Generator().manual_seed(0)
    z_pred, z_future, z_now = (
        torch.randn(5, 4, K, D, generator=g),
        torch.randn(5, K, D, generator=g),
        torch.randn(5, D),
    )
    fmask = torch.ones(5, K, dtype=torch.bool)
    per, _ = hypothesis_losses(z_pred, z_future, z_now, fmask, delta=True)
    valid = fmask.any(1)
    mean = world_loss(per, valid, best_of_n=False)
    hard = world_loss(per, valid, best_of_n=True)
    soft = world_loss(per, valid, best_of_n=True, temperature=0.1)
    assert hard <= soft <= mean and hard < mean


def test_loss_ignores_masked_future_and_perfect_prediction_is_zero():
    z_now, z_future = torch.randn(2, D), torch.randn(2, K, D)
    z_pred = z_future[:, None].clone()
    fmask = torch.ones(2, K, dtype=torch.bool)
    fmask[1, 3:] = False
    z_pred[1, 0, 3:] = -z_pred[1, 0, 3:]  # wrong only where the future is masked
    per, cos = hypothesis_losses(z_pred, z_future, z_now, fmask, delta=False)
    assert torch.allclose(per, torch.zeros_like(per), atol=1e-6) and torch.allclose(cos, torch.ones_like(cos))
    no_future = torch.zeros(2, dtype=torch.bool)
    assert world_loss(per + 1.0, no_future, best_of_n=False) == 0.0


def test_delta_targets_compare_changes_not_states():
    z_now, z_future = torch.randn(1, D), torch.randn(1, K, D)
    stay = z_now[:, None, None].expand(1, 1, K, D)  # "nothing changes"
    fmask = torch.ones(1, K, dtype=torch.bool)
    _, cos_abs = hypothesis_losses(stay, z_future + 100 * z_now[:, None], z_now, fmask, delta=False)
    _, cos_delta = hypothesis_losses(stay, z_future, z_now, fmask, delta=True)
    assert cos_abs.item() > 0.9 and cos_delta.item() == pytest.approx(0.0, abs=1e-6)
