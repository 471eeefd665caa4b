"""The offline check (`offline.json`): held-out action loss of one checkpoint under each memory mode.

Why: before any closed-loop number means anything, the fusion must be seen to use the memory —
the true future (`oracle`) should lower the action loss, a wrong one (`shuffle`, `random`) should not
help, and `zero` shows what the branch adds at all. Every mode sees the same held-out frames and the
same flow-matching noise and time, so the differences between modes are paired, per frame.
A plain `smolvla` checkpoint has no memory: its action loss is reported under mode `none`.

Which frames: the demonstrations held out of fine-tuning (the init checkpoint may have seen them), each
contributing the same number of frames, drawn with a fixed seed — so a frame budget covers every task and
demonstration of the suite (the dataset stores demonstrations by task: reading them in order would see two
or three tasks), and every arm and mode reads the same frames. Frames of one demonstration are strongly
alike, so intervals resample demonstrations, not frames — and a `shuffle` memory that came from another moment
of the same demonstration would be nearly the right one: each frame's shuffled memory is the Prophet's
prediction for a frame of another held-out demonstration, of another task where the suite has one
(`shuffle_donors`, a fixed seed: the same pairs for every arm).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import bootstrap
from tqdm import tqdm

from wmvla.errors import WmvlaError
from wmvla.files import checkpoint_step
from wmvla.hub.localize import check_loadable_offline

log = logging.getLogger(__name__)

PLAIN_MODE = "none"
REFERENCE_MODE = "pred"


class OfflineCheckError(WmvlaError, ValueError):
    """The checkpoint or the held-out data cannot be checked."""


SELECTION_SEED = 0  # the held-out frames are the same for every arm, training seed and memory mode


def held_out_frames(
    lengths: dict[int, int], budget: int | None, seed: int = SELECTION_SEED
) -> dict[int, list[int]]:
    """Frame offsets to read in each held-out demonstration (episode → sorted offsets).

    Every demonstration gets the same share of the `budget` (at least one frame; all of its frames when they
    fit), drawn without replacement by a generator seeded with (seed, episode): adding a demonstration never
    changes another's frames. None: every frame.
    """
    if not lengths:
        raise ValueError("no held-out demonstrations")
    share = None if budget is None else max(1, budget // len(lengths))
    chosen = {}
    for episode, length in sorted(lengths.items()):
        if share is None or share >= length:
            chosen[episode] = list(range(length))
        else:
            rng = np.random.default_rng([seed, episode])
            chosen[episode] = sorted(int(f) for f in rng.choice(length, share, replace=False))
    return chosen


SHUFFLE_RULE = (
    "each frame's memory is the Prophet's prediction for a held-out frame of another demonstration, of "
    "another task where the held-out demonstrations cover several (uniform, fixed seed: the same pairs for "
    "every arm)"
)


def shuffle_donors(
    episodes: Sequence[int], tasks: dict[int, tuple[str, ...]], seed: int = SELECTION_SEED
) -> tuple[np.ndarray, dict[str, float]]:
    """For each frame (its demonstration in `episodes`), the position of the frame whose prediction its
    shuffled memory takes: another demonstration's, of another task where there is one. Also the shares of
    pairs that cross demonstrations and tasks (recorded with the result)."""
    episodes = np.asarray(episodes)
    task_of = [tasks.get(int(e), ()) for e in episodes]
    other_task_of = {t: np.array([u != t for u in task_of]) for t in set(task_of)}
    rng = np.random.default_rng(seed)
    donors = np.empty(len(episodes), dtype=np.int64)
    for i, episode in enumerate(episodes):
        other_demonstration = episodes != episode
        other_task = np.flatnonzero(other_demonstration & other_task_of[task_of[i]])
        pool = other_task if len(other_task) else np.flatnonzero(other_demonstration)
        if not len(pool):  # one demonstration held out: another of its moments (recorded in the shares)
            pool = np.flatnonzero(np.arange(len(episodes)) != i)
        donors[i] = rng.choice(pool) if len(pool) else i
    crosses = episodes[donors] != episodes
    tasks_differ = np.array([task_of[d] != task_of[i] for i, d in enumerate(donors)], dtype=bool)
    return donors, {"other_demonstration": float(crosses.mean()), "other_task": float(tasks_differ.mean())}


def demonstration_bootstrap_ci(
    differences: np.ndarray, episodes: np.ndarray, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean per-frame difference between two memory modes, resampling
    whole demonstrations (scipy; the statistic: resampled sum over resampled frame count). None with fewer
    than two demonstrations: nothing to resample."""
    differences, episodes = np.asarray(differences, dtype=float), np.asarray(episodes)
    ids = np.unique(episodes)
    if len(ids) < 2:
        return None
    sums = np.array([differences[episodes == e].sum() for e in ids])
    counts = np.array([(episodes == e).sum() for e in ids], dtype=float)
    if np.ptp(sums / counts) == 0:  # every demonstration alike: nothing varies under resampling
        mean = float(sums.sum() / counts.sum())
        return mean, mean
    result = bootstrap(
        (sums, counts), lambda s, c, axis=-1: s.sum(axis=axis) / c.sum(axis=axis), paired=True,
        vectorized=True, n_resamples=2000, confidence_level=level, method="percentile",
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    low, high = result.confidence_interval
    return float(low), float(high)


@dataclass(frozen=True)
class OfflineRequest:
    checkpoint: Path  # …/pretrained_model
    dataset: Path  # LeRobot dataset root
    repo_id: str
    episodes: list[int]  # held-out episodes
    batch_size: int = 8
    max_batches: int | None = None
    seed: int = 0
    device: str = "cpu"


def _load(request: OfflineRequest):
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies import make_pre_post_processors
    from lerobot.policies.factory import get_policy_class
    from lerobot.utils.import_utils import register_third_party_plugins

    register_third_party_plugins()  # smolvla_world
    if not (request.checkpoint / "model.safetensors").is_file():
        raise OfflineCheckError(f"{request.checkpoint} holds no model.safetensors; is it a checkpoint?")
    config = PreTrainedConfig.from_pretrained(request.checkpoint)
    config.device = request.device
    check_loadable_offline(request.checkpoint, config.vlm_model_name)
    policy = get_policy_class(config.type).from_pretrained(request.checkpoint, config=config)
    policy.eval()
    if hasattr(policy, "read_dataset"):  # its latent cache is checked against the held-out data's dataset
        policy.read_dataset(request.repo_id, request.dataset)
    preprocessor, _ = make_pre_post_processors(
        config,
        pretrained_path=str(request.checkpoint),
        preprocessor_overrides={"device_processor": {"device": request.device}},
    )
    return policy, preprocessor


def _loader(request: OfflineRequest, policy) -> tuple[torch.utils.data.DataLoader, dict[str, Any]]:
    """The held-out frames (`held_out_frames`) as batches, and which demonstrations, frames and tasks."""
    from lerobot.datasets.factory import resolve_delta_timestamps
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    meta = LeRobotDatasetMetadata(request.repo_id, root=request.dataset)
    dataset = LeRobotDataset(
        request.repo_id,
        root=request.dataset,
        episodes=request.episodes,
        delta_timestamps=resolve_delta_timestamps(policy.config, meta),
        video_backend="pyav",
    )
    episode_of = np.asarray(dataset.hf_dataset["episode_index"])
    positions = {int(e): np.flatnonzero(episode_of == e) for e in request.episodes}
    budget = None if request.max_batches is None else request.max_batches * request.batch_size
    chosen = held_out_frames({e: len(p) for e, p in positions.items()}, budget)
    selected = [int(positions[e][f]) for e, frames in chosen.items() for f in frames]
    tasks = {
        int(e): list(t) for e, t in zip(meta.episodes["episode_index"], meta.episodes["tasks"], strict=True)
    }
    frame_episodes = [e for e, frames in chosen.items() for _ in frames]
    donors, shares = shuffle_donors(frame_episodes, {e: tuple(t) for e, t in tasks.items()})
    index_of = np.asarray(dataset.hf_dataset["index"])
    coverage = {
        "frames_per_episode": {str(e): len(f) for e, f in chosen.items()},
        "tasks": sorted({t for e in chosen for t in tasks.get(e, [])}),
        "shuffle": {"rule": SHUFFLE_RULE, **shares},
        "donor_index": index_of[np.asarray(selected)[donors]].tolist(),
    }
    subset = torch.utils.data.Subset(dataset, selected)
    loader = torch.utils.data.DataLoader(subset, batch_size=request.batch_size, shuffle=False, num_workers=0)
    return loader, coverage


def _batch_losses(
    policy, batch: dict, modes: tuple[str, ...], seed: int, donors: torch.Tensor | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Per-sample losses of one batch under every mode, all from the same noise and time draw (`donors`: the
    dataset indices whose predictions the `shuffle` memory takes)."""
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    torch.manual_seed(seed)
    actions = policy.prepare_action(batch)
    noise = policy.model.sample_noise(actions.shape, actions.device)
    time = policy.model.sample_time(actions.shape[0], actions.device)
    out = {}
    with torch.no_grad():
        if modes == (PLAIN_MODE,):
            loss, _ = SmolVLAPolicy.forward(policy, batch, noise=noise, time=time, reduction="none")
            return {PLAIN_MODE: {"action_loss": loss.float().cpu().numpy()}}
        for mode in modes:
            generator = torch.Generator().manual_seed(seed)  # random: the same draw for every batch rerun
            losses = policy.offline_losses(
                batch, mode, noise, time, generator, donors if mode == "shuffle" else None
            )
            out[mode] = {k: v.float().cpu().numpy() for k, v in losses.items()}
    return out


def _summary(per_mode: dict[str, dict[str, np.ndarray]], episodes: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    reference = per_mode.get(REFERENCE_MODE, {}).get("action_loss")
    for mode, losses in per_mode.items():
        action = losses["action_loss"]
        row: dict[str, Any] = {
            "mode": mode,
            "n_frames": int(action.size),
            "action_loss": float(action.mean()),
            "action_loss_sd": float(action.std(ddof=1)) if action.size > 1 else None,
        }
        for key in ("world_loss", "world_cos"):
            if key in losses and np.isfinite(losses[key]).any():
                row[key] = float(np.nanmean(losses[key]))
        if reference is not None and mode != REFERENCE_MODE:
            diff = action - reference
            row[f"action_loss_minus_{REFERENCE_MODE}"] = float(diff.mean())
            row[f"action_loss_minus_{REFERENCE_MODE}_ci95"] = demonstration_bootstrap_ci(diff, episodes)
        rows.append(row)
    return rows


def run_offline_check(request: OfflineRequest) -> dict[str, Any]:
    """Action (and world) losses on the held-out episodes under every memory mode of the checkpoint."""
    if not request.episodes:
        raise OfflineCheckError("no held-out episodes to check")
    policy, preprocessor = _load(request)
    world = hasattr(policy, "offline_losses")
    modes = policy.memory_modes() if world else (PLAIN_MODE,)
    loader, coverage = _loader(request, policy)
    donors = torch.as_tensor(coverage.pop("donor_index"))
    collected: dict[str, dict[str, list[np.ndarray]]] = {}
    episodes = []
    for i, batch in enumerate(tqdm(loader, desc="offline check", unit="batch")):
        episodes.append(np.asarray(batch["episode_index"]))
        batch_donors = donors[i * request.batch_size : i * request.batch_size + len(episodes[-1])]
        per_mode = _batch_losses(policy, preprocessor(batch), modes, request.seed + i, batch_donors)
        for mode, losses in per_mode.items():
            for key, values in losses.items():
                collected.setdefault(mode, {}).setdefault(key, []).append(values)
    per_mode = {m: {k: np.concatenate(v) for k, v in losses.items()} for m, losses in collected.items()}
    return {
        "policy_type": policy.config.type,
        "checkpoint_step": checkpoint_step(request.checkpoint),
        "episodes": request.episodes,
        **coverage,
        "n_batches": len(loader),
        "reference_mode": REFERENCE_MODE if world else None,
        "interval": "percentile bootstrap over held-out demonstrations (null with one demonstration)",
        "modes": _summary(per_mode, np.concatenate(episodes)),
    }
