"""A second world encoder: the Cosmos continuous video tokenizer (tiny, random weights) beside V-JEPA 2.

What must hold for both: one vector per frame that never depends on a later frame, a cache keyed by the
encoder's name, and an online encoder that reproduces the cache's rows during rollouts.
"""

import re

import numpy as np
import pytest
import torch

from lerobot_policy_smolvla_world import SmolVLAWorldConfig, SmolVLAWorldPolicy
from wmvla.errors import WmvlaError
from wmvla.eval.offline import OfflineRequest, run_offline_check
from wmvla.latents.cache import CacheRequest, LatentCacheError, build_cache
from wmvla.latents.encoders import CosmosEncoder, load_encoder
from wmvla.latents.frames import EpisodeFrames
from wmvla.latents.online import OnlineWorldEncoder
from wmvla.latents.reader import WorldLatents
from wmvla.latents.registry import encoder_spec
from wmvla.world.settings import TRAIN_MODES

from .datasets import synthetic_dataset
from .policies import TINY_WORLD, libero_batch, save_checkpoint, smolvla_kwargs

REPO_ID = "test/synthetic"
LENGTHS = (12, 3, 10)  # episodes longer and shorter than a 9-frame Cosmos clip
TEMPORAL_WINDOWS = {"vjepa2-tiny": 4, "cosmos-tiny": 9}  # frames per clip
VJEPA_CACHE_REFUSED = re.escape("encoder.name is 'vjepa2-tiny', expected 'cosmos-tiny'")


@pytest.fixture(scope="module")
def encoders(tiny_vjepa2, tiny_cosmos):
    return {
        "vjepa2-tiny": load_encoder("vjepa2-tiny", tiny_vjepa2),
        "cosmos-tiny": load_encoder("cosmos-tiny", tiny_cosmos),
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory.mktemp("ds") / "ds", lengths=LENGTHS, image_size=32)


def _request(encoder: str) -> CacheRequest:
    return CacheRequest(REPO_ID, encoder, TEMPORAL_WINDOWS[encoder])


def _build(root, encoders, name, out):
    cache = out / name / f"temporal_window_{TEMPORAL_WINDOWS[name]}"
    return build_cache(root, _request(name), encoders[name], cache, 4, 8).path


@pytest.fixture(scope="module")
def caches(dataset, encoders, tmp_path_factory):
    out = tmp_path_factory.mktemp("caches")
    return {name: _build(dataset, encoders, name, out) for name in TEMPORAL_WINDOWS}


def _rows(cache) -> np.ndarray:
    return np.concatenate([np.load(p) for p in sorted(cache.glob("shard_*.npy"))])


def test_the_tokenizer_is_causal_in_time(encoders):
    """Latent 0 encodes frame 0 alone and latent 1 frames 1..8: 17 frames give the same first two latents
    as their first 9, and changing frame 8 changes latent 1 but not latent 0."""
    encoder: CosmosEncoder = encoders["cosmos-tiny"]
    g = torch.Generator().manual_seed(0)
    video = encoder.preprocess(torch.randint(0, 256, (17, 48, 48, 3), dtype=torch.uint8, generator=g))

    def latents(frames: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return encoder.model.encode(frames[None].permute(0, 2, 1, 3, 4)).latent_dist.mode()

    long, short = latents(video), latents(video[:9])
    assert long.shape[:3] == (1, 16, 3) and short.shape[:3] == (1, 16, 2)
    torch.testing.assert_close(long[:, :, :2], short, rtol=1e-4, atol=1e-5)
    changed = video[:9].clone()
    changed[8] = -changed[8]
    moved = latents(changed)
    torch.testing.assert_close(moved[:, :, 0], short[:, :, 0])
    assert (moved[:, :, 1] - short[:, :, 1]).abs().max() > 1e-3


@pytest.mark.parametrize("name", sorted(TEMPORAL_WINDOWS))
def test_a_vector_never_depends_on_a_later_frame(name, dataset, encoders, caches, tmp_path):
    """Invert episode 0's frames from t = 6 on: the cache's rows 0..5 stay, every later row of it moves."""
    changed = synthetic_dataset(tmp_path / "ds", lengths=LENGTHS, image_size=32, invert_from={0: 6})
    before, after = _rows(caches[name]), _rows(_build(changed, encoders, name, tmp_path))
    np.testing.assert_array_equal(after[:6], before[:6])
    moved = np.abs(after[6 : LENGTHS[0]].astype(np.float32) - before[6 : LENGTHS[0]].astype(np.float32))
    assert (moved.max(axis=1) > 1e-3).all()
    np.testing.assert_array_equal(after[LENGTHS[0] :], before[LENGTHS[0] :])  # other episodes untouched


def test_cosmos_cache_rows_are_the_normalised_pooled_last_latent(caches, dataset, encoders):
    """Row t = latent 1 of the clip of frames t-8..t (padded with the episode's first), normalised by the
    config's statistics and pooled to 3 x 3 cells per channel: D = 144."""
    encoder = encoders["cosmos-tiny"]
    rows = _rows(caches["cosmos-tiny"])
    assert rows.shape == (sum(LENGTHS), 16 * 3 * 3) == (25, encoder_spec("cosmos-tiny").dim)
    frames = encoder.preprocess(EpisodeFrames(dataset, _request("cosmos-tiny").camera).episode(0))
    t = 4  # clip: frame 0 five times, then frames 1..4
    clip = frames[[max(0, t - 8 + i) for i in range(9)]]
    with torch.inference_mode():
        latent = encoder.model.encode(clip[None].permute(0, 2, 1, 3, 4)).latent_dist.mode()[0, :, 1]
    config = encoder.model.config
    mean = torch.tensor(config.latents_mean).view(16, -1)[:, 1, None, None]
    std = torch.tensor(config.latents_std).view(16, -1)[:, 1, None, None]
    want = torch.nn.functional.adaptive_avg_pool2d((latent - mean) / std, 3).flatten()
    torch.testing.assert_close(torch.from_numpy(rows[t]).float(), want, rtol=2e-3, atol=2e-3)


def test_a_tokenizer_config_with_null_statistics_builds_an_unnormalised_cache_and_says_so(
    dataset, encoders, caches, tmp_path
):
    """diffusers' conversion leaves `latents_mean`/`latents_std` null without a `mean_std.pt`: the cache is
    built from the unnormalised latents (nothing invented), and its metadata records how."""
    import json

    from .hub_replicas import cosmos

    null = cosmos(tmp_path / "cosmos-null", null_statistics=True)
    assert json.loads((null / "vae/config.json").read_text())["latents_mean"] is None
    encoder = load_encoder("cosmos-tiny", null)
    assert "null statistics (latents_mean and latents_std" in encoder.normalisation
    out = tmp_path / "cosmos-tiny" / "temporal_window_9"
    cache = build_cache(dataset, _request("cosmos-tiny"), encoder, out, 4, 8).path
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["encoder"]["normalisation"] == encoder.normalisation
    normalised = encoders["cosmos-tiny"]
    assert "latents_mean/latents_std" in normalised.normalisation and "null" not in normalised.normalisation
    config = normalised.model.config
    mean = torch.tensor(config.latents_mean).view(16, -1)[:, 1, None, None]
    std = torch.tensor(config.latents_std).view(16, -1)[:, 1, None, None]
    rows, published = _rows(cache), _rows(caches["cosmos-tiny"])  # the same weights, published statistics
    # pooling is linear: published rows = (unnormalised rows - mean) / std, channel by channel
    want = (torch.from_numpy(rows).float().view(-1, 16, 9) - mean.view(1, 16, 1)) / std.view(1, 16, 1)
    torch.testing.assert_close(torch.from_numpy(published).float(), want.view(-1, 144), rtol=2e-3, atol=2e-3)


def test_reader_serves_cosmos_windows_and_refuses_a_vjepa_cache(caches):
    reader = WorldLatents(caches["cosmos-tiny"], _request("cosmos-tiny"), t_ctx=3, k=2)
    windows = reader.windows(np.array([0, 13, 24]))
    assert reader.dim == 144 and windows["z_hist"].shape == (3, 3, 144)
    assert windows["z_future"].shape == (3, 2, 144)
    with pytest.raises(LatentCacheError, match=VJEPA_CACHE_REFUSED):
        WorldLatents(caches["vjepa2-tiny"], _request("cosmos-tiny"), t_ctx=3, k=2)


def test_cosmos_takes_only_its_own_clip_length(encoders, dataset, tmp_path):
    with pytest.raises(WmvlaError, match="clips of 9 frames, not 4"):
        OnlineWorldEncoder(encoders["cosmos-tiny"], temporal_window=4, t_ctx=3, n_envs=1)
    with pytest.raises(WmvlaError, match="clips of 9 frames, not 4"):
        build_cache(dataset, CacheRequest(REPO_ID, "cosmos-tiny", 4), encoders["cosmos-tiny"], tmp_path / "c")


def test_online_cosmos_encoder_reproduces_the_cache(caches, dataset, encoders):
    """Two envs step through episodes 0 and 2; every step's history equals the cache's windows."""
    encoder = encoders["cosmos-tiny"]
    frames = EpisodeFrames(dataset, _request("cosmos-tiny").camera)
    reader = WorldLatents(caches["cosmos-tiny"], _request("cosmos-tiny"), t_ctx=3, k=1)
    online = OnlineWorldEncoder(encoder, temporal_window=9, t_ctx=3, n_envs=2)
    a, b = frames.episode(0), frames.episode(2)  # rows 0..11 and 15..24
    for t in range(10):
        online.observe(torch.stack([a[t], b[t]]))
        z, mask = online.history()
        want = reader.windows(np.array([t, 15 + t]))
        assert torch.equal(mask, want["hist_mask"])
        torch.testing.assert_close(z.half().float(), want["z_hist"], rtol=2e-3, atol=2e-3)


def test_cosmos_cache_from_an_av1_video_dataset(tmp_path, encoders):
    """LeRobot writes videos with AV1 (libsvtav1) by default, as `lerobot/libero` stores its cameras."""
    import av

    root = synthetic_dataset(tmp_path / "v", lengths=(10, 4), image_size=32, videos=True)
    video = next((root / "videos").rglob("*.mp4"))
    with av.open(str(video)) as container:
        assert container.streams.video[0].codec_context.name in ("libdav1d", "av1", "libaom-av1")
    cache = _build(root, encoders, "cosmos-tiny", tmp_path)
    rows = _rows(cache)
    assert rows.shape == (14, 144) and np.isfinite(rows).all()
    assert np.abs(np.diff(rows[:10].astype(np.float32), axis=0)).max() > 0  # frames differ, rows too


# --- the policy on Cosmos latents: training reads its cache, the offline check and rollouts encode online --

COSMOS_WORLD = {**TINY_WORLD, "world_encoder": "cosmos-tiny", "world_dim": 144, "world_temporal_window": 9}
STATS = {
    "observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)},
    "action": {"mean": torch.zeros(7), "std": torch.ones(7)},
}


@pytest.fixture(scope="module")
def cosmos_checkpoint(tiny_smolvlm, tiny_cosmos, caches, tmp_path_factory):
    """A smolvla_world policy on Cosmos latents with open gates (the memory shapes the actions)."""
    config = SmolVLAWorldConfig(
        **smolvla_kwargs(tiny_smolvlm),
        **COSMOS_WORLD,
        world_latents_path=str(caches["cosmos-tiny"]),
        world_encoder_path=str(tiny_cosmos),
    )
    torch.manual_seed(0)
    policy = SmolVLAWorldPolicy(config)
    for gate in policy.model.world.gates().values():
        gate.data.fill_(1.0)
    return save_checkpoint(policy, STATS, tmp_path_factory.mktemp("ckpt") / "cosmos")


def test_training_on_a_vjepa_cache_is_refused_for_a_cosmos_policy(tiny_smolvlm, caches):
    config = SmolVLAWorldConfig(
        **smolvla_kwargs(tiny_smolvlm), **COSMOS_WORLD, world_latents_path=str(caches["vjepa2-tiny"])
    )
    policy = SmolVLAWorldPolicy(config)
    batch = {"index": torch.tensor([0, 1])}
    with pytest.raises(LatentCacheError, match=VJEPA_CACHE_REFUSED):
        policy._training_windows(batch)


def test_offline_check_runs_on_cosmos_latents(cosmos_checkpoint, dataset):
    request = OfflineRequest(cosmos_checkpoint, dataset, REPO_ID, episodes=[2], batch_size=4)
    result = run_offline_check(request)
    by_mode = {m["mode"]: m for m in result["modes"]}
    assert set(by_mode) == set(TRAIN_MODES) - {"learned"}  # learned tokens only in a policy trained with them
    assert all(m["n_frames"] == LENGTHS[2] for m in by_mode.values())
    assert by_mode["oracle"]["action_loss_minus_pred"] != 0  # open gates: the memory matters


def test_rollout_encodes_online_with_the_cosmos_tokenizer(cosmos_checkpoint):
    """At rollout the policy loads the encoder its config names, and its memory moves with the frames."""
    policy = SmolVLAWorldPolicy.from_pretrained(cosmos_checkpoint).eval()
    batch = libero_batch(2)
    policy.reset()
    actions = policy.predict_action_chunk(batch)
    assert isinstance(policy._online.encoder, CosmosEncoder) and policy._online.temporal_window == 9
    z, mask = policy._online.history()
    assert z.shape == (2, policy.config.world_t_ctx, 144) and mask.all(dim=0).tolist()[-1]
    assert torch.isfinite(actions).all() and not torch.equal(z[0, -1], z[1, -1])  # two envs, two frames
