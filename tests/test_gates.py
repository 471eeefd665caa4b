"""Sanity gates: each passes on a sound input and fails, by name, on a broken one; the summary enforces."""

import json
from pathlib import Path

import numpy as np
import pytest

from wmvla.gates.experiment import train_steps_gate
from wmvla.gates.init_policy import init_policy_gate
from wmvla.gates.latents import latent_gates
from wmvla.gates.record import Gate, GateFailure, read_gates, summarise, write_gates
from wmvla.latents.cache import CacheRequest, build_cache
from wmvla.latents.encoders import load_encoder

from .datasets import synthetic_dataset
from .policies import tiny_world_train_args

LIMITS = {"max_consecutive_cos": 0.9999, "min_relative_std": 0.001}


@pytest.fixture(scope="module")
def world_data(tmp_path_factory, tiny_vjepa2):
    root = tmp_path_factory.mktemp("gates")
    dataset = synthetic_dataset(root / "ds", lengths=(6, 5, 7, 4), image_size=64)
    request = CacheRequest("test/synthetic", "vjepa2-tiny", 4)
    cache = build_cache(dataset, request, load_encoder("vjepa2-tiny", tiny_vjepa2), root / "cache", 4, 8).path
    return {"dataset": dataset, "cache": cache}


def _with_rows(cache: Path, out: Path, rows) -> Path:
    """A copy of `cache` whose latents are replaced by `rows(z)`."""
    import shutil

    shutil.copytree(cache, out)
    meta = json.loads((out / "meta.json").read_text())
    for shard in meta["shards"]:
        z = np.load(out / shard["file"])
        np.save(out / shard["file"], rows(z).astype(np.float16))
    return out


def test_an_informative_cache_passes_and_a_degenerate_one_fails_by_name(world_data, tmp_path):
    ok = latent_gates(world_data["cache"], **LIMITS)
    assert [g.passed for g in ok] == [True, True, True], [g.line for g in ok]
    constant = _with_rows(world_data["cache"], tmp_path / "black", lambda z: np.ones_like(z))  # black frames
    names = {g.name: g for g in latent_gates(constant, **LIMITS)}  # named per encoder: a study has several
    vary, change = (
        names["latents_vary_across_frames[vjepa2-tiny]"],
        names["latents_change_between_frames[vjepa2-tiny]"],
    )
    assert vary.passed is False and vary.value == 0
    assert change.passed is False and change.value == pytest.approx(1.0)

    def row_two_nan(z):
        return np.where(np.arange(len(z))[:, None] == 2, np.nan, z)

    nan = _with_rows(world_data["cache"], tmp_path / "nan", row_two_nan)
    finite = latent_gates(nan, **LIMITS)[0]
    assert (
        finite.name == "latents_finite[vjepa2-tiny]" and finite.passed is False and finite.value == 3
    )  # row 2 of 3 shards


def test_the_gate_read_shard_by_shard_gives_the_statistics_of_the_whole_cache(world_data, tmp_path):
    """Running statistics over shards (episodes cross shard boundaries here: 22 rows, shards of 8) equal
    numpy's over every row at once, non-finite rows included."""
    cache = _with_rows(
        world_data["cache"], tmp_path / "nan", lambda z: np.where(np.arange(len(z))[:, None] == 5, np.nan, z)
    )
    meta = json.loads((cache / "meta.json").read_text())
    z = np.concatenate([np.load(cache / s["file"]) for s in meta["shards"]]).astype(np.float32)
    finite = np.isfinite(z).all(axis=1)
    good = z[finite]
    relative_std = good.std(axis=0).mean() / np.sqrt((good**2).mean())
    crossing = np.zeros(len(z) - 1, dtype=bool)
    crossing[np.asarray(meta["episodes"]["end"])[:-1] - 1] = True
    pairs = ~crossing & finite[:-1] & finite[1:]
    a, b = z[:-1][pairs], z[1:][pairs]
    cos = ((a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).mean()
    gates = latent_gates(cache, **LIMITS)
    assert len(meta["shards"]) > 1 and gates[0].value == int((~finite).sum())
    assert gates[1].value == pytest.approx(round(relative_std, 5), abs=1e-5)
    assert (
        gates[2].value == pytest.approx(round(cos, 6), abs=1e-6)
        and f"{int(pairs.sum())} consecutive" in gates[2].detail
    )


def _plan(world_data, tiny_smolvlm, tiny_vjepa2, *extra) -> dict:
    args = [
        *tiny_world_train_args(world_data["dataset"], tiny_smolvlm, world_data["cache"], tiny_vjepa2),
        "--steps=100",  # replaced by the gate's own
        *extra,
    ]
    # the synthetic tasks are no LIBERO instructions: hold nothing out, train on every episode
    return {"experiment": "E2", "args": args, "suite": None, "holdout_every": None}


def test_an_experiment_that_trains_passes_and_one_that_cannot_fails_naming_the_error(
    world_data, tiny_smolvlm, tiny_vjepa2, tmp_path, monkeypatch
):
    import wmvla.data.suites as suites

    monkeypatch.setattr(suites, "suite_episodes", lambda root, suite: [0, 1, 2, 3])
    monkeypatch.setattr(suites, "split_episodes", lambda episodes, split, every: episodes)
    gate, rates = train_steps_gate(_plan(world_data, tiny_smolvlm, tiny_vjepa2), 6, tmp_path)
    assert gate.name == "trains[E2]" and gate.passed is True, gate.detail
    assert gate.detail == "6 logged losses, 6 world-metric records"
    per_step = rates["seconds_per_step"]  # timed after the warm-up steps, with its spread
    assert per_step["n"] == 4 and 0 < per_step["p10"] <= per_step["median"] <= per_step["p90"]
    assert rates["startup_s"] > 0 and rates["max_rss_mb"] > 100  # the training process's own peak
    assert (
        tmp_path / "E2/checkpoints/000006/pretrained_model/model.safetensors"
    ).is_file()  # for evaluates[]
    broken, no_rates = train_steps_gate(
        _plan(world_data, tiny_smolvlm, tiny_vjepa2, "--policy.world_dim=63"), 2, tmp_path / "broken"
    )
    assert broken.passed is False and broken.detail.startswith("lerobot-wm-train failed:")
    assert "D=64" in broken.detail and no_rates is None


def _result(successes: int, n: int = 50) -> dict:
    return {"suite": "libero_goal", "overall": {"sr": successes / n, "successes": successes, "n_episodes": n,
                                                 "sr_ci95": [0.1, 0.9]}}  # fmt: skip


def test_the_init_policy_gate_catches_a_zero_success_setup():
    assert init_policy_gate(_result(41), 0.5).passed is True
    zero = init_policy_gate(_result(0), 0.5)
    assert zero.name == "init_policy_sr[libero_goal]" and zero.passed is False
    assert zero.line.startswith("init_policy_sr[libero_goal]: FAILED (value 0.0, threshold >= 0.5)")


def test_the_summary_enforces_one_line_per_failed_gate_or_records_the_override(tmp_path):
    ok = write_gates(tmp_path / "a.json", [Gate("a", "q", 1, ">= 1", True)])
    bad = write_gates(
        tmp_path / "b.json", [Gate("b", "q", 0, ">= 1", False, "why"), Gate("c", "q", 0, "0", False)]
    )
    skipped = [Gate("init_policy_sr", "not run", None, "—", None, "skipped: no init")]
    with pytest.raises(GateFailure) as failed:
        summarise([ok, bad], enforce=True, out=tmp_path / "gates.json", skipped=skipped)
    lines = str(failed.value).splitlines()
    assert (
        "b: FAILED (value 0, threshold >= 1) — why" in lines and "c: FAILED (value 0, threshold 0)" in lines
    )
    assert not (tmp_path / "gates.json").exists()
    summarise([ok, bad], enforce=False, out=tmp_path / "gates.json", skipped=skipped)
    summary = json.loads((tmp_path / "gates.json").read_text())
    assert summary["enforced"] is False and summary["overridden"] == ["b", "c"]
    assert [g.passed for g in read_gates(tmp_path / "gates.json")] == [True, False, False, None]


def test_the_protocol_gate_refuses_more_actions_than_a_chunk():
    from wmvla.gates.experiment import protocol_gate

    resolved = {"policy": {"chunk_size": 50}}
    assert protocol_gate("E2", resolved, 10).passed is True
    too_many = protocol_gate("E2", resolved, 51)
    assert too_many.passed is False and too_many.line.startswith(
        "protocol[E2]: FAILED (value 51, threshold <= chunk_size 50)"
    )
