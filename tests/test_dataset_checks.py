"""The dataset contract check fails fast, naming what is wrong (synthetic data; no simulator)."""

import numpy as np
import pandas as pd
import pytest

from wmvla.data.checks import DatasetContractError, check_libero_dataset
from wmvla.data.features import libero_features


def _synthetic_dataset(root, tasks=("put the bowl on the plate", "open the drawer"), frames=3):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset.create(
        repo_id="test/synthetic", fps=20, features=libero_features(16), root=root, use_videos=False
    )
    rng = np.random.default_rng(0)
    for task in tasks:
        for _ in range(frames):
            dataset.add_frame(
                {
                    "observation.images.image": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8),
                    "observation.images.image2": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8),
                    "observation.state": rng.normal(size=8).astype(np.float32),
                    "action": rng.normal(size=7).astype(np.float32),
                    "task": task,
                }
            )
        dataset.save_episode()
    dataset.finalize()
    return root


@pytest.fixture
def dataset(tmp_path):
    return _synthetic_dataset(tmp_path / "ds")


def _rewrite_episode_tasks(root, tasks_of_episode):
    for path in (root / "meta" / "episodes").rglob("*.parquet"):
        table = pd.read_parquet(path)
        table["tasks"] = [tasks_of_episode(int(ep)) for ep in table["episode_index"]]
        table.to_parquet(path)


def test_a_good_dataset_passes(dataset):
    summary = check_libero_dataset(dataset)
    assert summary.num_episodes == 2 and summary.num_frames == 6
    assert summary.image_shape == (16, 16, 3)
    assert summary.tasks == ("open the drawer", "put the bowl on the plate")


def test_missing_task_table_fails_naming_task(dataset):
    (dataset / "meta" / "tasks.parquet").unlink()
    with pytest.raises(DatasetContractError, match="`task` key is required"):
        check_libero_dataset(dataset)


@pytest.mark.parametrize("empty", [[""], ["   "], []])
def test_empty_instruction_fails_naming_the_episode(dataset, empty):
    _rewrite_episode_tasks(dataset, lambda ep: empty if ep == 1 else ["open the drawer"])
    with pytest.raises(
        DatasetContractError, match=r"1 episode\(s\) have an empty or missing `task`.*episodes 1"
    ):
        check_libero_dataset(dataset)


def test_wrong_state_shape_fails(dataset):
    info_file = dataset / "meta" / "info.json"
    info_file.write_text(info_file.read_text().replace('"shape": [\n                8\n', '"shape": [\n 9\n'))
    with pytest.raises(DatasetContractError, match=r"observation.state has shape \(9,\), expected \(8,\)"):
        check_libero_dataset(dataset)


def test_not_a_dataset_fails(tmp_path):
    with pytest.raises(DatasetContractError, match="is not a LeRobot dataset"):
        check_libero_dataset(tmp_path)
