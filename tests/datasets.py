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
    videos: bool = False,
    invert_from: dict[int, int] | None = None,
) -> Path:
    """Episodes of random frames; episode i has `lengths[i]` frames and instruction tasks[i % len(tasks)].

    videos: store the cameras as LeRobot writes videos (AV1 by default) instead of images;
    invert_from: {episode: t} inverts that episode's main-camera frames from time t on (all else equal).
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = libero_features(image_size)
    if videos:
        for key in ("observation.images.image", "observation.images.image2"):
            features[key]["dtype"] = "video"
    dataset = LeRobotDataset.create(
        repo_id="test/synthetic", fps=20, features=features, root=root, use_videos=videos
    )
    rng = np.random.default_rng(seed)
    shape = (image_size, image_size, 3)
    for i, length in enumerate(lengths):
        for t in range(length):
            image = rng.integers(0, 255, shape, dtype=np.uint8)
            if invert_from is not None and t >= invert_from.get(i, length):
                image = 255 - image
            dataset.add_frame(
                {
                    "observation.images.image": image,
                    "observation.images.image2": rng.integers(0, 255, shape, dtype=np.uint8),
                    "observation.state": rng.normal(size=8).astype(np.float32),
                    "action": rng.normal(size=7).astype(np.float32),
                    "task": tasks[i % len(tasks)],
                }
            )
        dataset.save_episode()
    dataset.finalize()
    return Path(root)
