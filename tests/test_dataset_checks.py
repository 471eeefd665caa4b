"""The dataset contract check fails fast, naming what is wrong (synthetic data; no simulator)."""

import pandas as pd
import pytest

from wmvla.data.checks import DatasetContractError, check_libero_dataset

from .datasets import synthetic_dataset


@pytest.fixture
def dataset(tmp_path):
    return synthetic_dataset(tmp_path / "ds")


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


def test_holdout_split_takes_every_nth_episode_and_never_overlaps():
    from wmvla.data.suites import SplitError, split_episodes

    episodes = [3, 4, 5, 6, 7, 8, 9, 10]
    train = split_episodes(episodes, "train", 4)
    holdout = split_episodes(episodes, "holdout", 4)
    assert holdout == [6, 10] and train == [3, 4, 5, 7, 8, 9]
    assert split_episodes(episodes, "all", None) == episodes
    with pytest.raises(SplitError, match="holdout split is empty"):
        split_episodes([1, 2], "holdout", 4)
    with pytest.raises(SplitError, match="needs --holdout-every"):
        split_episodes(episodes, "train", None)


def test_the_largest_copy_a_job_makes_is_its_largest_suites_share_of_the_data(tmp_path):
    """What the preflight sizes the jobs' scratch by: LeRobot copies the episodes a job selects."""
    from wmvla.data.suites import largest_copy_bytes

    spatial = "pick up the black bowl between the plate and the ramekin and place it on the plate"
    other = "pick up the alphabet soup and place it in the basket"  # libero_object
    root = synthetic_dataset(tmp_path / "ds", lengths=(6, 2, 2), tasks=(spatial, other))
    data = sum(p.stat().st_size for p in (root / "data").rglob("*.parquet"))
    assert largest_copy_bytes(root, ["libero_spatial"]) == round(data * 8 / 10)  # episodes 0 and 2: 8 frames
    assert largest_copy_bytes(root, ["libero_object"]) == round(data * 2 / 10)
    assert largest_copy_bytes(root, ["libero_object", "libero_spatial"]) == round(data * 8 / 10)
