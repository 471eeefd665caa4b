"""`lerobot-wm-train` fills in the project's defaults and nothing else."""

from pathlib import Path

import pytest

from wmvla.train.lerobot_wm_train import TrainArgsError, lerobot_train_args


def test_sample_budget_becomes_steps():
    args = lerobot_train_args(["--policy.type=smolvla", "--batch_size=4", "--total_samples=400"])
    assert args == ["--policy.type=smolvla", "--batch_size=4", "--steps=100"]


def test_world_policy_gets_metric_defaults():
    args = lerobot_train_args(["--policy.type=smolvla_world", "--log_freq=10", "--output_dir=out/run/"])
    assert "--policy.world_log_freq=10" in args
    assert "--policy.world_metrics_file=out/run/metrics.jsonl" in args


def test_explicit_values_win():
    argv = ["--policy.type=smolvla_world", "--policy.world_log_freq=3", "--policy.world_metrics_file=m.jsonl"]
    assert lerobot_train_args(argv) == argv


def test_lerobot_default_log_freq_is_used_when_none_is_given():
    assert "--policy.world_log_freq=200" in lerobot_train_args(["--policy.type=smolvla_world"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--total_samples=10", "--steps=3"], "either --total_samples or --steps"),
        (["--total_samples=10", "--batch_size=4"], "not a multiple"),
        (["--policy.type", "smolvla"], "--key=value"),
    ],
)
def test_inconsistent_arguments_are_named(argv, message):
    with pytest.raises(TrainArgsError, match=message):
        lerobot_train_args(argv)


def test_the_wrappers_own_options_never_reach_lerobot_train():
    from wmvla.train.lerobot_wm_train import own_options

    argv = [
        "--policy.type=smolvla",
        "--steps=10",
        "--keep_checkpoints=2",
        "--start_over=true",
        "--curves_dir=c",
    ]
    assert lerobot_train_args(argv) == ["--policy.type=smolvla", "--steps=10"]
    assert own_options(argv) == (["--policy.type=smolvla", "--steps=10"], 2, True, Path("c"))
