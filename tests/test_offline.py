"""The offline check: held-out action loss under every memory mode, paired on frames and noise."""

import pytest
import torch
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

from lerobot_policy_smolvla_world import SmolVLAWorldConfig, SmolVLAWorldPolicy
from wmvla.eval.offline import OfflineCheckError, OfflineRequest, run_offline_check
from wmvla.latents.cache import CacheRequest, build_cache
from wmvla.latents.encoders import load_encoder
from wmvla.world.settings import TRAIN_MODES

from .datasets import synthetic_dataset
from .policies import TINY_WORLD, save_checkpoint, smolvla_kwargs

REPO_ID = "test/synthetic"
STATS = {
    "observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)},
    "action": {"mean": torch.zeros(7), "std": torch.ones(7)},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_vjepa2):
    root = synthetic_dataset(tmp_path_factory.mktemp("ds") / "ds", lengths=(6, 5, 7), image_size=32)
    encoder = load_encoder("vjepa2-tiny", tiny_vjepa2)
    out = tmp_path_factory.mktemp("cache") / "vjepa2-tiny" / "temporal_window_4"
    cache = build_cache(root, CacheRequest(REPO_ID, "vjepa2-tiny", 4), encoder, out, 4, 8).path
    return root, cache


def _world_checkpoint(tiny_smolvlm, cache, directory, gate: float):
    config = SmolVLAWorldConfig(**smolvla_kwargs(tiny_smolvlm), **TINY_WORLD, world_latents_path=str(cache))
    torch.manual_seed(0)
    policy = SmolVLAWorldPolicy(config)
    for g in policy.model.world.gates().values():
        g.data.fill_(gate)
    return save_checkpoint(policy, STATS, directory)


def _check(checkpoint, root, **kw):
    return run_offline_check(OfflineRequest(checkpoint, root, REPO_ID, episodes=[2], batch_size=4, **kw))


def test_every_memory_mode_on_the_same_frames_and_noise(tiny_smolvlm, data, tmp_path):
    root, cache = data
    closed = _check(_world_checkpoint(tiny_smolvlm, cache, tmp_path / "closed", gate=0.0), root)
    assert [m["mode"] for m in closed["modes"]] == [m for m in TRAIN_MODES if m != "learned"]  # no tokens
    assert all(m["n_frames"] == 7 for m in closed["modes"])  # episode 2 only
    # With every gate closed the memory cannot matter: identical losses prove the draws are shared.
    assert {m["action_loss"] for m in closed["modes"]} == {closed["modes"][0]["action_loss"]}

    checkpoint = _world_checkpoint(tiny_smolvlm, cache, tmp_path / "open", gate=1.0)
    opened = _check(checkpoint, root)
    by_mode = {m["mode"]: m for m in opened["modes"]}
    assert "action_loss_minus_pred" not in by_mode["pred"]
    for mode in ("zero", "oracle", "shuffle", "random"):
        row = by_mode[mode]
        assert row["action_loss_minus_pred"] != 0
        assert row["action_loss_minus_pred"] == pytest.approx(
            row["action_loss"] - by_mode["pred"]["action_loss"], rel=1e-4
        )
        assert row["action_loss_minus_pred_ci95"] is None  # one demonstration: no interval over them
    assert (
        opened["shuffle"]["other_demonstration"] == 0.0
    )  # one held out: only its other moments, and said so
    assert by_mode["oracle"]["world_loss"] == by_mode["pred"]["world_loss"]  # the Prophet ignores the mode
    assert -1 <= by_mode["pred"]["world_cos"] <= 1
    assert _check(checkpoint, root)["modes"] == opened["modes"]  # reproducible, shuffle/random included
    assert _check(checkpoint, root, max_batches=1)["modes"][0]["n_frames"] == 4


def test_plain_smolvla_reports_its_action_loss_only(tiny_smolvlm, data, tmp_path):
    root, _ = data
    torch.manual_seed(0)
    checkpoint = save_checkpoint(
        SmolVLAPolicy(SmolVLAConfig(**smolvla_kwargs(tiny_smolvlm))), STATS, tmp_path / "plain"
    )
    check = _check(checkpoint, root)
    assert [m["mode"] for m in check["modes"]] == ["none"] and check["reference_mode"] is None
    assert check["modes"][0]["action_loss"] > 0 and "world_loss" not in check["modes"][0]


def test_no_checkpoint_or_no_episodes_is_a_clear_error(data, tmp_path):
    root, _ = data
    with pytest.raises(OfflineCheckError, match=r"no model\.safetensors"):
        _check(tmp_path, root)
    with pytest.raises(OfflineCheckError, match="no held-out episodes"):
        run_offline_check(OfflineRequest(tmp_path, root, REPO_ID, episodes=[]))


def test_the_frames_span_every_task_of_the_held_out_demonstrations(tiny_smolvlm, tiny_vjepa2, tmp_path):
    """Demonstrations stored by task (as LIBERO datasets store them) and a budget of one batch: every
    held-out demonstration, so every task, is read — not the first demonstration's frames in order."""
    tasks = ("pick the bowl", "pick the bowl", "open the drawer", "open the drawer", "stack the cups")
    root = synthetic_dataset(tmp_path / "ds", lengths=(6, 6, 5, 7, 6), tasks=tasks, image_size=32)
    cache = build_cache(
        root, CacheRequest(REPO_ID, "vjepa2-tiny", 4), load_encoder("vjepa2-tiny", tiny_vjepa2),
        tmp_path / "cache", 4, 8,
    ).path  # fmt: skip
    checkpoint = _world_checkpoint(tiny_smolvlm, cache, tmp_path / "open", gate=1.0)
    request = OfflineRequest(checkpoint, root, REPO_ID, episodes=[0, 1, 2, 3, 4], batch_size=5, max_batches=1)
    check = run_offline_check(request)
    assert check["tasks"] == sorted(set(tasks)) and check["frames_per_episode"] == dict.fromkeys("01234", 1)
    assert all(m["n_frames"] == 5 for m in check["modes"])
    low, high = next(m for m in check["modes"] if m["mode"] == "oracle")["action_loss_minus_pred_ci95"]
    assert low <= high  # an interval over the five demonstrations
    assert check["shuffle"]["other_task"] == 1.0 and "another demonstration" in check["shuffle"]["rule"]


def test_a_shuffled_memory_comes_from_another_demonstration_of_another_task():
    """Held-out frames sorted by demonstration (as the check reads them): a shuffle within a batch would give
    most frames another moment of their own demonstration; the donors never do, and cross tasks when the
    held-out demonstrations have several — the same pairs for every arm (a fixed seed)."""
    from wmvla.eval.offline import shuffle_donors

    episodes = [3] * 20 + [7] * 20 + [11] * 20  # 3 and 7: task A; 11: task B
    tasks = {3: ("A",), 7: ("A",), 11: ("B",)}
    donors, shares = shuffle_donors(episodes, tasks)
    donor_episode = [episodes[d] for d in donors]
    assert all(d != e for d, e in zip(donor_episode, episodes, strict=True))
    assert all(d == 11 for d, e in zip(donor_episode, episodes, strict=True) if e in (3, 7))  # task B
    assert shares == {"other_demonstration": 1.0, "other_task": 1.0}
    assert (shuffle_donors(episodes, tasks)[0] == donors).all()
    one_task = shuffle_donors([3] * 5 + [7] * 5, {3: ("A",), 7: ("A",)})
    assert one_task[1] == {"other_demonstration": 1.0, "other_task": 0.0}
