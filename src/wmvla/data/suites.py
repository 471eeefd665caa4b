"""Select the episodes of one LIBERO suite from a dataset that holds several.

Why: the Hub LIBERO datasets mix all suites; "training on one suite" means training on the episodes
whose instruction is one of that suite's tasks, as LIBERO's benchmark defines them.
"""

import contextlib
import sys
from pathlib import Path

import pandas as pd

from wmvla.data.checks import DatasetContractError, episode_lengths, episode_tasks
from wmvla.errors import WmvlaError


def libero_suite(suite: str):
    """LIBERO's benchmark object of one suite (needs LIBERO set up)."""
    # LIBERO prints to stdout while building a suite; keep stdout clean for callers that parse it.
    with contextlib.redirect_stdout(sys.stderr):
        from libero.libero import benchmark

        suites = benchmark.get_benchmark_dict()
        if suite not in suites:
            raise DatasetContractError(f"unknown LIBERO suite {suite!r}; known: {sorted(suites)}")
        return suites[suite]()


def suite_tasks(suite: str) -> list[str]:
    """The natural-language instruction of each task of a suite, by task id."""
    tasks = libero_suite(suite)
    return [tasks.get_task(i).language for i in range(tasks.n_tasks)]


def suite_instructions(suite: str) -> set[str]:
    return {language.strip().lower() for language in suite_tasks(suite)}


def select_episodes(episodes: pd.DataFrame, instructions: set[str]) -> list[int]:
    """Episodes whose every instruction belongs to `instructions` (case and surrounding space ignored)."""
    return sorted(
        int(ep)
        for ep, tasks in zip(episodes["episode_index"], episodes["tasks"], strict=True)
        if all(str(t).strip().lower() in instructions for t in tasks)
    )


def suite_episodes(root: Path, suite: str) -> list[int]:
    selected = select_episodes(episode_tasks(Path(root)), suite_instructions(suite))
    if not selected:
        raise DatasetContractError(f"{root} has no episode of suite {suite!r}")
    return selected


SPLITS = ("all", "train", "holdout")


class SplitError(WmvlaError, ValueError):
    """A train/holdout split that cannot be made as asked."""


def split_episodes(episodes: list[int], split: str, holdout_every: int | None) -> list[int]:
    """Every `holdout_every`-th episode of a suite (in index order) is held out of training.

    Why by position: LIBERO datasets store each task's demonstrations together, so every n-th
    episode holds out about 1/n of each task's demonstrations, not whole tasks.
    """
    if split not in SPLITS:
        raise SplitError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    if split == "all":
        return list(episodes)
    if not holdout_every or holdout_every < 2:
        raise SplitError(f"split {split!r} needs --holdout-every >= 2, got {holdout_every}")
    held = {ep for i, ep in enumerate(episodes) if i % holdout_every == holdout_every - 1}
    chosen = [ep for ep in episodes if (ep in held) == (split == "holdout")]
    if not chosen:
        raise SplitError(
            f"the {split} split is empty: {len(episodes)} episode(s), every {holdout_every}th held out"
        )
    return chosen


def suite_split(root: Path, suite: str, split: str, holdout_every: int | None) -> list[int]:
    """The episodes of `suite` in the dataset at `root`, then its `split` (what a job trains or checks on)."""
    return split_episodes(suite_episodes(root, suite), split, holdout_every)


def largest_copy_bytes(root: Path, suites: list[str]) -> int:
    """About the most a job copies of the dataset at `root` into its scratch: the rows of its largest suite
    (LeRobot's loader writes an Arrow copy of the episodes a job selects; `wmvla.cluster.scratch`), sized as
    that suite's share of the frames times the bytes of the dataset's parquet data."""
    root = Path(root)
    lengths = episode_lengths(root)
    total = int(lengths.sum())
    data = sum(p.stat().st_size for p in (root / "data").rglob("*.parquet"))
    largest = max(int(lengths[lengths.index.isin(suite_episodes(root, s))].sum()) for s in suites)
    return round(data * largest / max(total, 1))
