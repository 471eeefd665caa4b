"""World latents: episode-aware windows, the sharded cache, the reader, online encoding."""

import json

import numpy as np
import pytest
import torch

from wmvla.latents.cache import CacheRequest, LatentCacheError, build_cache
from wmvla.latents.encoders import load_encoder
from wmvla.latents.frames import EpisodeFrames
from wmvla.latents.online import OnlineWorldEncoder
from wmvla.latents.reader import WorldLatents
from wmvla.latents.registry import UnknownEncoderError
from wmvla.latents.windows import clip_frame_rows, future_rows, history_rows

from .datasets import synthetic_dataset

EPISODE_LENGTHS = (5, 1, 7, 3)  # includes a 1-frame episode
REPO_ID = "test/synthetic"
CAMERA = "observation.images.image"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory.mktemp("ds") / "ds", lengths=EPISODE_LENGTHS, image_size=32)


@pytest.fixture(scope="module")
def encoder(tiny_vjepa2):
    return load_encoder("vjepa2-tiny", tiny_vjepa2)


def _request(temporal_window=4, **kw):
    return CacheRequest(kw.pop("repo_id", REPO_ID), kw.pop("encoder", "vjepa2-tiny"), temporal_window, **kw)


@pytest.fixture(scope="module")
def cache(dataset, encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "vjepa2-tiny" / "temporal_window_4"
    return build_cache(dataset, _request(), encoder, out, batch_size=3, shard_size=6)


# --- windows: the slow, obviously-correct reference is a loop over rows ---------------------------


def _episode_bounds(lengths):
    end = np.cumsum(lengths)
    return end - np.asarray(lengths), end


def _reference(rows, lengths, temporal_window, t_ctx, k):
    starts, ends = _episode_bounds(lengths)
    clips, hist, hmask, fut, fmask = [], [], [], [], []
    for r in rows:
        e = int(np.searchsorted(ends, r, side="right"))
        s, end = starts[e], ends[e]
        clips.append([max(r - temporal_window + 1 + j, s) for j in range(temporal_window)])
        hist.append([max(r - t_ctx + 1 + j, s) for j in range(t_ctx)])
        hmask.append([r - t_ctx + 1 + j >= s for j in range(t_ctx)])
        fut.append([min(r + 1 + j, end - 1) for j in range(k)])
        fmask.append([r + 1 + j < end for j in range(k)])
    return [np.array(x) for x in (clips, hist, hmask, fut, fmask)]


def test_windows_never_cross_episode_boundaries():
    lengths = EPISODE_LENGTHS
    starts, ends = _episode_bounds(lengths)
    rows = np.arange(sum(lengths))
    of = np.searchsorted(ends, rows, side="right")
    clips, hist, hmask, fut, fmask = _reference(rows, lengths, temporal_window=4, t_ctx=3, k=2)
    np.testing.assert_array_equal(clip_frame_rows(rows, starts[of], 4), clips)
    h, hm = history_rows(rows, starts[of], 3)
    f, fm = future_rows(rows, ends[of], 2)
    np.testing.assert_array_equal(h, hist)
    np.testing.assert_array_equal(hm, hmask)
    np.testing.assert_array_equal(f, fut)
    np.testing.assert_array_equal(fm, fmask)
    # spot values: first frame of episode 2 (row 6), the 1-frame episode (row 5), last frame (row 15)
    assert clips[6].tolist() == [6, 6, 6, 6] and hmask[6].tolist() == [False, False, True]
    assert clips[5].tolist() == [5, 5, 5, 5] and not fmask[5].any()
    assert fmask[15].tolist() == [False, False] and fmask[14].tolist() == [True, False]


# --- the cache --------------------------------------------------------------------------------------


def test_cache_rows_equal_naive_per_clip_encoding(cache, dataset, encoder):
    """Reference: decode each clip's frames on their own, preprocess the clip, encode it alone."""
    frames = EpisodeFrames(dataset, CAMERA)
    episodes = [frames.episode(p) for p in range(len(EPISODE_LENGTHS))]
    all_frames = torch.cat(episodes)
    rows = np.arange(sum(EPISODE_LENGTHS))
    clips = _reference(rows, EPISODE_LENGTHS, 4, 1, 1)[0]
    reader = WorldLatents(cache.path, _request())
    for r in rows:
        clip = encoder.preprocess(all_frames[torch.from_numpy(clips[r])])
        expected = encoder.encode(clip[None])[0].half().float().numpy()
        np.testing.assert_allclose(reader.rows(np.array([r]))[0], expected, rtol=2e-3, atol=2e-3)


def test_build_decodes_each_frame_once_and_writes_metadata(cache, dataset):
    assert cache.frames_decoded == sum(EPISODE_LENGTHS) and cache.clips_encoded == sum(EPISODE_LENGTHS)
    meta = json.loads((cache.path / "meta.json").read_text())
    assert meta["encoder"]["name"] == "vjepa2-tiny" and meta["encoder"]["dim"] == 64
    assert meta["temporal_window"] == 4 and meta["camera"] == CAMERA
    assert meta["num_frames"] == 16 and len(meta["shards"]) == 3  # 6 + 6 + 4 rows
    assert meta["episodes"]["start"] == [0, 5, 6, 13] and meta["episodes"]["end"] == [5, 6, 13, 16]
    assert meta["dataset"]["repo_id"] == REPO_ID and meta["dataset"]["fingerprint"]
    assert meta["image_shape"] == [32, 32, 3] and meta["dtype"] == "float16"
    assert "git_commit" in meta["code_version"] and meta["nonfinite_rows"] == []
    assert not (cache.path.parent / (cache.path.name + ".partial")).exists()


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_request(encoder="vjepa2-vitg"), "encoder.name"),
        (_request(temporal_window=8), "temporal_window"),
        (_request(camera="observation.images.image2"), "camera"),
        (_request(repo_id="other/dataset"), "dataset.repo_id"),
    ],
)
def test_reader_rejects_a_cache_built_for_something_else(cache, request_, field):
    with pytest.raises(LatentCacheError, match=rf"{field} is .*, expected"):
        WorldLatents(cache.path, request_)


def test_reader_rejects_a_changed_dataset(cache, tmp_path):
    changed = synthetic_dataset(tmp_path / "other", lengths=(3, 3), image_size=32)
    with pytest.raises(LatentCacheError, match=r"built from another version of the dataset \(fingerprint "):
        WorldLatents(cache.path, _request(), dataset_root=changed)


def test_reader_matches_a_slow_reference_on_random_indices(cache):
    reader = WorldLatents(cache.path, _request(), t_ctx=3, k=5)
    table = np.concatenate([np.load(cache.path / f"shard_{i:05d}.npy") for i in range(3)]).astype(np.float32)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 16, size=50)
    got = reader.windows(torch.from_numpy(rows))
    _, hist, hmask, fut, fmask = _reference(rows, EPISODE_LENGTHS, 4, 3, 5)
    np.testing.assert_array_equal(got["hist_mask"].numpy(), hmask)
    np.testing.assert_array_equal(got["future_mask"].numpy(), fmask)
    np.testing.assert_array_equal(got["z_hist"].numpy(), np.where(hmask[..., None], table[hist], 0.0))
    np.testing.assert_array_equal(got["z_future"].numpy(), np.where(fmask[..., None], table[fut], 0.0))
    assert got["z_hist"].shape == (50, 3, 64) and got["z_future"].shape == (50, 5, 64)


def test_reader_rejects_out_of_range_indices(cache):
    with pytest.raises(LatentCacheError, match="out of range"):
        WorldLatents(cache.path, _request()).windows(np.array([16]))


class _Interrupting:
    """Wraps an encoder and raises KeyboardInterrupt on a given call, like Ctrl-C mid-build."""

    def __init__(self, encoder, fail_at_call=None, nan_rows=()):
        self.inner, self.fail_at_call, self.nan_rows = encoder, fail_at_call, set(nan_rows)
        self.calls, self.rows_seen = 0, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, clips):
        self.calls += 1
        if self.calls == self.fail_at_call:
            raise KeyboardInterrupt
        z = self.inner.encode(clips)
        for i in range(len(z)):
            if self.rows_seen + i in self.nan_rows:
                z[i] = float("nan")
        self.rows_seen += len(z)
        return z


def test_interrupted_build_resumes_to_identical_bytes(cache, dataset, encoder, tmp_path):
    out = tmp_path / "c"
    with pytest.raises(KeyboardInterrupt):
        build_cache(
            dataset, _request(), _Interrupting(encoder, fail_at_call=4), out, batch_size=3, shard_size=6
        )
    partial = tmp_path / "c.partial"
    assert sorted(p.name for p in partial.glob("shard_*.npy")) == ["shard_00000.npy"]  # 2 batches/shard
    assert not out.exists()

    resumed = _Interrupting(encoder)
    report = build_cache(dataset, _request(), resumed, out, batch_size=3, shard_size=6)
    assert report.clips_encoded == 10 and resumed.calls == 4  # shards 1 and 2 only
    assert not list(tmp_path.glob("c.lease*"))  # two leases taken and ended in one process: none left
    for i in range(3):
        name = f"shard_{i:05d}.npy"
        assert (out / name).read_bytes() == (cache.path / name).read_bytes()


def test_nonfinite_rows_fail_the_build_with_their_indices(dataset, encoder, tmp_path):
    with pytest.raises(LatentCacheError, match=r"2 latent row\(s\) are not finite \(rows 3, 9\)"):
        build_cache(dataset, _request(), _Interrupting(encoder, nan_rows={3, 9}), tmp_path / "c", 3, 6)
    report = build_cache(
        dataset,
        _request(),
        _Interrupting(encoder, nan_rows={3, 9}),
        tmp_path / "c",
        3,
        6,
        allow_nonfinite=True,
    )
    assert report.clips_encoded == 0  # every shard was kept from the failed run
    reader = WorldLatents(report.path, _request(), t_ctx=2, k=1)
    assert reader.meta["nonfinite_rows"] == [3, 9]
    w = reader.windows(np.array([3, 4, 8]))  # row 3 itself, row 4 (history holds 3), row 8 (future is 9)
    assert w["hist_mask"].tolist() == [[True, False], [False, True], [True, True]]
    assert w["future_mask"][2].tolist() == [False]
    assert torch.isfinite(w["z_hist"]).all() and torch.isfinite(w["z_future"]).all()


def test_complete_cache_is_not_overwritten(cache, dataset, encoder):
    with pytest.raises(FileExistsError):
        build_cache(dataset, _request(), encoder, cache.path)


def test_unknown_encoder_names_the_known_ones():
    with pytest.raises(UnknownEncoderError, match="vjepa2-vitg"):
        load_encoder("dino-v9")


# --- online encoding ---------------------------------------------------------------------------------


def test_online_encoder_reproduces_cache_windows(cache, dataset, encoder):
    """Two envs step through different episodes; every step's history equals the cache's windows."""
    frames = EpisodeFrames(dataset, CAMERA)
    reader = WorldLatents(cache.path, _request(), t_ctx=3, k=1)
    online = OnlineWorldEncoder(encoder, temporal_window=4, t_ctx=3, n_envs=2)
    a, b = frames.episode(2), frames.episode(0)  # rows 6..12 and 0..4
    calls = encoder.calls
    for t in range(5):
        online.observe(torch.stack([a[t], b[t]]))
        z, mask = online.history()
        want = reader.windows(np.array([6 + t, 0 + t]))
        assert torch.equal(mask, want["hist_mask"])
        torch.testing.assert_close(z.half().float(), want["z_hist"], rtol=2e-3, atol=2e-3)
    assert encoder.calls - calls == 5  # one batched call per chunk for all envs and clips

    online.reset([1])  # env 1 starts the 1-frame episode; env 0 continues
    c = frames.episode(1)
    online.observe(torch.stack([a[5], c[0]]))
    z, mask = online.history()
    want = reader.windows(np.array([11, 5]))
    assert torch.equal(mask, want["hist_mask"])
    torch.testing.assert_close(z.half().float(), want["z_hist"], rtol=2e-3, atol=2e-3)


def test_video_datasets_decode_each_episode_in_order(tmp_path):
    """MP4-backed datasets (lerobot/libero) read through the episode's video metadata."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from wmvla.data.features import libero_features

    features = libero_features(32)
    for key in ("observation.images.image", "observation.images.image2"):
        features[key]["dtype"] = "video"
    dataset = LeRobotDataset.create(
        repo_id="t/v", fps=20, features=features, root=tmp_path / "v", use_videos=True
    )
    for episode, length in enumerate((5, 7)):
        for t in range(length):
            frame = np.full((32, 32, 3), 20 * t + 100 * episode, dtype=np.uint8)
            dataset.add_frame(
                {
                    "observation.images.image": frame,
                    "observation.images.image2": frame,
                    "observation.state": np.zeros(8, np.float32),
                    "action": np.zeros(7, np.float32),
                    "task": "open the drawer",
                }
            )
        dataset.save_episode()
    dataset.finalize()
    frames = EpisodeFrames(tmp_path / "v", CAMERA)
    second = frames.episode(1)
    assert second.shape == (7, 32, 32, 3) and frames.frames_decoded == 7
    expected = torch.tensor([100 + 20 * t for t in range(7)], dtype=torch.float32)
    torch.testing.assert_close(second[:, 16, 16, 0].float(), expected, atol=4, rtol=0)  # lossy codec


def test_online_latents_at_chunk_boundaries_equal_per_step_encoding(encoder):
    """The policy asks for latents only when it needs a new chunk; they must equal what encoding every
    step's clip as it arrives (the obvious, T_ctx-fold costlier way) would have given at that step."""
    temporal_window, t_ctx, chunk, steps = 4, 3, 3, 11
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (steps, 2, 32, 32, 3), dtype=torch.uint8, generator=g)
    online = OnlineWorldEncoder(encoder, temporal_window=temporal_window, t_ctx=t_ctx, n_envs=2)
    seen: list[list[torch.Tensor]] = [[], []]  # preprocessed frames of each env's episode so far
    per_step: list[list[torch.Tensor]] = [[], []]  # z_t of each step, encoded as the frame arrived
    online_calls = reference_calls = 0
    for t in range(steps):
        if t == 7:  # env 1 starts a new episode mid-run
            online.reset([1])
            seen[1], per_step[1] = [], []
        online.observe(frames[t])
        processed = encoder.preprocess(frames[t])
        for env in range(2):
            seen[env].append(processed[env])
            m = temporal_window  # the clip pads with the episode's first frame
            clip = [seen[env][max(0, len(seen[env]) - m + i)] for i in range(m)]
            before = encoder.calls
            per_step[env].append(encoder.encode(torch.stack(clip)[None])[0])
            reference_calls += encoder.calls - before
        if t % chunk == 0:  # a chunk boundary: the policy reads the memory
            before = encoder.calls
            z, mask = online.history()
            online_calls += encoder.calls - before
            for env in range(2):
                recent = per_step[env][-t_ctx:]
                want = torch.stack([torch.zeros_like(recent[0])] * (t_ctx - len(recent)) + recent)
                assert mask[env].tolist() == [False] * (t_ctx - len(recent)) + [True] * len(recent)
                torch.testing.assert_close(z[env], want, rtol=1e-5, atol=1e-5)
    assert online_calls == len(range(0, steps, chunk)) == 4  # one call per chunk, all envs and clips
    assert reference_calls == 2 * steps


def test_online_encoder_needs_only_the_frames_of_its_next_history(dataset, encoder):
    """Frames a history never reads may be skipped (not rendered): the history is the same; a needed
    frame that was skipped is a clear error, not a silently shifted clip."""
    frames = EpisodeFrames(dataset, CAMERA).episode(2)  # 7 frames
    every = OnlineWorldEncoder(encoder, temporal_window=2, t_ctx=2, n_envs=1)
    sparse = OnlineWorldEncoder(encoder, temporal_window=2, t_ctx=2, n_envs=1)
    for t in range(7):
        every.observe(frames[t : t + 1])
        if t == 0 or t >= 4:  # the history at t = 6 reads frames 4, 5, 6 (and frame 0 pads)
            sparse.observe(frames[t : t + 1])
        else:
            sparse.skip()
    z_every, mask_every = every.history()
    z_sparse, mask_sparse = sparse.history()
    assert torch.equal(mask_every, mask_sparse) and torch.equal(z_every, z_sparse)

    short = OnlineWorldEncoder(encoder, temporal_window=2, t_ctx=2, n_envs=1)
    short.observe(frames[0:1])
    short.skip()
    short.skip()
    with pytest.raises(RuntimeError, match=r"needs the frames of steps \[1, 2\]"):
        short.history()
