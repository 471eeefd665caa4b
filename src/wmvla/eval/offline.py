"""The offline check (`offline.json`): held-out action loss of one checkpoint under each memory mode.

Why: before any closed-loop number means anything, the fusion must be seen to use the memory —
the true future (`oracle`) should lower the action loss, a wrong one (`shuffle`, `random`) should not
help, and `zero` shows what the branch adds at all. Every mode sees the same held-out frames and the
same flow-matching noise and time, so the differences between modes are paired, per frame.
A plain `smolvla` checkpoint has no memory: its action loss is reported under mode `none`.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import bootstrap
from tqdm import tqdm

from wmvla.errors import WmvlaError
from wmvla.files import checkpoint_step
from wmvla.world.memory import TRAIN_MODES

log = logging.getLogger(__name__)

PLAIN_MODE = "none"
REFERENCE_MODE = "pred"


class OfflineCheckError(WmvlaError, ValueError):
    """The checkpoint or the held-out data cannot be checked."""


def paired_bootstrap_ci(differences: np.ndarray, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean per-frame difference between two memory modes (scipy)."""
    differences = np.asarray(differences, dtype=float)
    if differences.size == 0:
        raise ValueError("no paired differences to resample")
    if np.ptp(differences) == 0:  # nothing varies under resampling
        return float(differences[0]), float(differences[0])
    result = bootstrap(
        (differences,), np.mean, n_resamples=2000, confidence_level=level, method="percentile",
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
    policy = get_policy_class(config.type).from_pretrained(request.checkpoint, config=config)
    policy.eval()
    preprocessor, _ = make_pre_post_processors(
        config,
        pretrained_path=str(request.checkpoint),
        preprocessor_overrides={"device_processor": {"device": request.device}},
    )
    return policy, preprocessor


def _loader(request: OfflineRequest, policy) -> torch.utils.data.DataLoader:
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
    return torch.utils.data.DataLoader(dataset, batch_size=request.batch_size, shuffle=False, num_workers=0)


def _batch_losses(policy, batch: dict, modes: tuple[str, ...], seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Per-sample losses of one batch under every mode, all from the same noise and time draw."""
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
            generator = torch.Generator().manual_seed(seed)  # shuffle/random: same draw for every batch rerun
            losses = policy.offline_losses(batch, mode, noise, time, generator)
            out[mode] = {k: v.float().cpu().numpy() for k, v in losses.items()}
    return out


def _summary(per_mode: dict[str, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
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
            low, high = paired_bootstrap_ci(diff)
            row[f"action_loss_minus_{REFERENCE_MODE}"] = float(diff.mean())
            row[f"action_loss_minus_{REFERENCE_MODE}_ci95"] = [low, high]
        rows.append(row)
    return rows


def run_offline_check(request: OfflineRequest) -> dict[str, Any]:
    """Action (and world) losses on the held-out episodes under every memory mode of the checkpoint."""
    if not request.episodes:
        raise OfflineCheckError("no held-out episodes to check")
    policy, preprocessor = _load(request)
    world = hasattr(policy, "offline_losses")
    modes = TRAIN_MODES if world else (PLAIN_MODE,)
    loader = _loader(request, policy)
    n_batches = len(loader) if request.max_batches is None else min(len(loader), request.max_batches)
    collected: dict[str, dict[str, list[np.ndarray]]] = {}
    for i, batch in enumerate(tqdm(loader, total=n_batches, desc="offline check", unit="batch")):
        if i == n_batches:
            break
        for mode, losses in _batch_losses(policy, preprocessor(batch), modes, request.seed + i).items():
            for key, values in losses.items():
                collected.setdefault(mode, {}).setdefault(key, []).append(values)
    per_mode = {m: {k: np.concatenate(v) for k, v in losses.items()} for m, losses in collected.items()}
    return {
        "policy_type": policy.config.type,
        "checkpoint_step": checkpoint_step(request.checkpoint),
        "episodes": request.episodes,
        "n_batches": n_batches,
        "reference_mode": REFERENCE_MODE if world else None,
        "modes": _summary(per_mode),
    }
