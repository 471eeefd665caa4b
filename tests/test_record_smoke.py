"""The smoke recorder, in the real LIBERO simulator (slow: ~1 min per recording on 2 CPU cores)."""

import numpy as np
import pandas as pd
import pytest

from wmvla.data.checks import check_libero_dataset
from wmvla.data.record_smoke import SmokeSpec, record_smoke_dataset

pytestmark = pytest.mark.slow

SPEC = SmokeSpec(task_ids=(1,), episodes_per_task=2, steps_per_episode=6, image_size=32, seed=7)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return record_smoke_dataset(tmp_path_factory.mktemp("rec") / "smoke", SPEC)


def _frames(root):
    return pd.concat(pd.read_parquet(p) for p in sorted((root / "data").rglob("*.parquet"))).reset_index(
        drop=True
    )


def test_recording_loads_with_lerobot_and_keeps_the_contract(recorded):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    summary = check_libero_dataset(recorded)
    assert summary.num_episodes == 2 and summary.num_frames == 12
    assert summary.tasks == ("pick up the black bowl next to the ramekin and place it on the plate",)

    dataset = LeRobotDataset(SPEC.repo_id, root=recorded)
    assert len(dataset) == 12 and dataset.meta.fps == 20
    item = dataset[7]
    assert item["observation.images.image"].shape == (3, 32, 32)
    assert item["observation.images.image2"].shape == (3, 32, 32)
    assert item["observation.state"].shape == (8,) and item["action"].shape == (7,)
    assert item["task"] == summary.tasks[0] and int(item["episode_index"]) == 1
    # Real renders, not blank frames; gripper state is two finger positions of opposite sign.
    assert item["observation.images.image"].std() > 0.02
    assert float(item["observation.state"][6]) > 0 > float(item["observation.state"][7])


def test_episodes_start_from_different_init_states(recorded):
    frames = _frames(recorded)
    first = frames.groupby("episode_index")["observation.state"].first()
    assert not np.allclose(first[0], first[1])


def test_same_spec_records_identical_data(recorded, tmp_path):
    again = record_smoke_dataset(tmp_path / "again", SPEC)
    a, b = _frames(recorded), _frames(again)
    pd.testing.assert_frame_equal(a, b)  # images (PNG bytes), state, action, indices, task ids


def test_existing_output_is_not_overwritten(recorded):
    with pytest.raises(FileExistsError):
        record_smoke_dataset(recorded, SPEC)


def test_online_latents_equal_cache_rows_on_a_recorded_episode(recorded, tiny_vjepa2, tmp_path):
    """Frames streamed step by step through the online encoder give the cache's history windows."""
    import torch

    from wmvla.latents.cache import CacheRequest, build_cache
    from wmvla.latents.encoders import VideoEncoder
    from wmvla.latents.frames import EpisodeFrames
    from wmvla.latents.online import OnlineWorldEncoder
    from wmvla.latents.reader import WorldLatents

    encoder = VideoEncoder("vjepa2-tiny", local_dir=tiny_vjepa2)
    request = CacheRequest(SPEC.repo_id, "vjepa2-tiny", temporal_window=4)
    cache = build_cache(recorded, request, encoder, tmp_path / "cache", batch_size=4, shard_size=8)
    reader = WorldLatents(cache.path, request, t_ctx=4, k=8)
    frames = EpisodeFrames(recorded, request.camera).episode(1)  # rows 6..11
    online = OnlineWorldEncoder(encoder, temporal_window=4, t_ctx=4, n_envs=1)
    for t in range(len(frames)):
        online.observe(frames[t : t + 1])
        z, mask = online.history()
        want = reader.windows(np.array([6 + t]))
        assert torch.equal(mask, want["hist_mask"])
        torch.testing.assert_close(z.half().float(), want["z_hist"], rtol=2e-3, atol=2e-3)
