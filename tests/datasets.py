"""Synthetic LIBERO-format datasets for tests that do not need the simulator."""

from pathlib import Path

import numpy as np

from wmvla.data.features import libero_features


def synthetic_dataset(
    root: Path,
    lengths: tuple[int, ...] = (3, 3),
    tasks: tuple[str, ...] = ("put the bowl on the plate", "open the drawer"),
    image_size: int = 16,
    seed: int = 0,
) -> Path:
    """Episodes of random frames; episode i has `lengths[i]` frames and instruction tasks[i % len(tasks)]."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset.create(
        repo_id="test/synthetic", fps=20, features=libero_features(image_size), root=root, use_videos=False
    )
    rng = np.random.default_rng(seed)
    shape = (image_size, image_size, 3)
    for i, length in enumerate(lengths):
        for _ in range(length):
            dataset.add_frame(
                {
                    "observation.images.image": rng.integers(0, 255, shape, dtype=np.uint8),
                    "observation.images.image2": rng.integers(0, 255, shape, dtype=np.uint8),
                    "observation.state": rng.normal(size=8).astype(np.float32),
                    "action": rng.normal(size=7).astype(np.float32),
                    "task": tasks[i % len(tasks)],
                }
            )
        dataset.save_episode()
    dataset.finalize()
    return Path(root)
