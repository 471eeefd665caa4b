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


@pytest.fixture(scope="module")
def recorded_cache(recorded, tiny_vjepa2, tmp_path_factory):
    from wmvla.latents.cache import CacheRequest, build_cache
    from wmvla.latents.encoders import load_encoder

    encoder = load_encoder("vjepa2-tiny", tiny_vjepa2)
    request = CacheRequest(SPEC.repo_id, "vjepa2-tiny", temporal_window=4)
    return build_cache(recorded, request, encoder, tmp_path_factory.mktemp("lat") / "c", 4, 8).path


def test_online_latents_equal_cache_rows_on_a_recorded_episode(recorded, recorded_cache, tiny_vjepa2):
    """Frames streamed step by step through the online encoder give the cache's history windows."""
    import torch

    from wmvla.latents.cache import CacheRequest
    from wmvla.latents.encoders import load_encoder
    from wmvla.latents.frames import EpisodeFrames
    from wmvla.latents.online import OnlineWorldEncoder
    from wmvla.latents.reader import WorldLatents

    encoder = load_encoder("vjepa2-tiny", tiny_vjepa2)
    request = CacheRequest(SPEC.repo_id, "vjepa2-tiny", temporal_window=4)
    reader = WorldLatents(recorded_cache, request, t_ctx=4, k=8)
    frames = EpisodeFrames(recorded, request.camera).episode(1)  # rows 6..11
    online = OnlineWorldEncoder(encoder, temporal_window=4, t_ctx=4, n_envs=1)
    for t in range(len(frames)):
        online.observe(frames[t : t + 1])
        z, mask = online.history()
        want = reader.windows(np.array([6 + t]))
        assert torch.equal(mask, want["hist_mask"])
        torch.testing.assert_close(z.half().float(), want["z_hist"], rtol=2e-3, atol=2e-3)


def test_stock_lerobot_train_runs_smolvla_world(recorded, recorded_cache, tiny_smolvlm, tmp_path):
    """LeRobot's own CLI finds the plugin, trains 2 steps and the policy writes finite metrics."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [
        shutil.which("lerobot-train", path=os.path.dirname(sys.executable)),
        "--policy.type=smolvla_world",
        f"--policy.vlm_model_name={tiny_smolvlm}",
        "--policy.resize_imgs_with_padding=[64,64]",
        "--policy.chunk_size=4",
        "--policy.n_action_steps=4",
        "--policy.num_vlm_layers=4",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        f"--policy.world_latents_path={recorded_cache}",
        "--policy.world_encoder=vjepa2-tiny",
        "--policy.world_dim=64",
        "--policy.world_prophet_width=64",
        "--policy.world_fusion_heads=4",
        "--policy.world_log_freq=1",
        f"--policy.world_metrics_file={out}/metrics.jsonl",
        f"--dataset.repo_id={SPEC.repo_id}",
        f"--dataset.root={recorded}",
        "--dataset.video_backend=pyav",
        "--batch_size=2",
        "--steps=2",
        "--log_freq=1",
        "--num_workers=0",
        f"--output_dir={out}",
        "--wandb.enable=false",
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    required = {
        "loss_total", "world_loss", "world_cos", "world_valid_frac", "world_gate", "world_mem_norm",
        "world_z_hist_norm", "world_z_future_norm", "world_attn_entropy", "world_attn_pmax",
        "world_ctx_norm", "world_act_norm", "samples",
    }  # fmt: skip
    assert required <= set(records[0])
    assert {"grad_world_inject", "grad_prophet", "lr"} <= set(records[1])  # from the previous step
    assert all(v is not None and np.isfinite(v) for r in records for v in r.values())
    assert (out / "checkpoints" / "000002" / "pretrained_model" / "model.safetensors").is_file()
