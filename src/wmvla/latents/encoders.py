"""Frozen video encoders: one D-vector per frame, from the clip of frames ending at that frame.

Encoders are named in the registry (`wmvla.latents.registry`); caches are keyed by that name. One small
interface, two implementations on their well-kept libraries:
  - V-JEPA 2 (transformers' `VJEPA2Model`): the mean of the clip's tokens;
  - the Cosmos continuous video tokenizer (diffusers' `AutoencoderKLCosmos`): the clip's last latent,
    normalised and pooled (see `CosmosEncoder`).
Weights always load from a directory through `from_pretrained` — a tiny model the DAG built, or a Hub
snapshot in the study's offline cache — so tests and the full study share the very same loading path.
Preprocessing acts frame by frame, so frames are preprocessed once and clips assembled from them
afterwards (the cache builder and the online encoder both rely on it).
"""

import logging
from abc import ABC, abstractmethod
from pathlib import Path

import torch

from wmvla.errors import WmvlaError
from wmvla.latents.registry import FAMILIES, EncoderSpec, encoder_spec

log = logging.getLogger(__name__)


def default_device_and_dtype() -> tuple[torch.device, torch.dtype]:
    """bf16 on a GPU (MI300X/ROCm reports as cuda), fp32 on CPU where bf16 matmuls are slow."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


def _check_frames(frames: torch.Tensor) -> None:
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {tuple(frames.shape)} {frames.dtype}")


class VideoEncoder(ABC):
    """What the cache builder and the online encoder need of an encoder.

    `preprocess`: uint8 frames (T, H, W, 3) → model-ready frames (T, C, H', W') on CPU;
    `encode`: preprocessed clips (B, m, C, H', W') of m = temporal_window frames → one float32 vector (B, D)
    per clip, the vector of the clip's last frame (it never depends on a later frame: clips end at the frame
    they describe).
    """

    def __init__(
        self,
        spec: EncoderSpec,
        source: str,
        device: torch.device | None,
        dtype: torch.dtype | None,
        revision: str | None = None,
    ) -> None:
        default_device, default_dtype = default_device_and_dtype()
        self.spec, self.source = spec, source
        self.device, self.dtype = device or default_device, dtype or default_dtype
        self.resolved_revision = revision  # the commit of a Hub snapshot (recorded in the cache metadata)
        self.calls = 0  # forward passes so far (benchmarks and tests count them)
        self.dim = spec.dim
        self.crop_size = 0  # frame size the model sees (recorded in the cache metadata)
        self.normalisation: str | None = None  # how latents are scaled, if at all (recorded in the metadata)

    def _checked_dim(self, dim: int) -> int:
        if dim != self.spec.dim:
            raise WmvlaError(
                f"encoder {self.spec.name!r} at {self.source} has D={dim}, the registry says {self.spec.dim}"
            )
        return dim

    def check_temporal_window(self, temporal_window: int) -> None:
        """Refuse a clip length the model does not take (Cosmos: exactly 1 + its temporal compression)."""
        fixed = self.spec.temporal_window
        if fixed is not None and temporal_window != fixed:
            raise WmvlaError(
                f"encoder {self.spec.name!r} encodes clips of {fixed} frames, not {temporal_window} "
                "(its registry entry fixes the temporal_window)"
            )

    @abstractmethod
    def preprocess(self, frames: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def encode(self, clips: torch.Tensor) -> torch.Tensor: ...


class VJEPA2Encoder(VideoEncoder):
    """A frozen V-JEPA 2 encoder with its own video processor (resize, centre crop, normalise)."""

    def __init__(self, spec: EncoderSpec, source: str, device=None, dtype=None, revision=None) -> None:
        from transformers import AutoVideoProcessor, VJEPA2Model

        super().__init__(spec, source, device, dtype, revision)
        self.processor = AutoVideoProcessor.from_pretrained(source, subfolder=spec.subfolder or "")
        model = VJEPA2Model.from_pretrained(source, subfolder=spec.subfolder or "", dtype=self.dtype)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.dim = self._checked_dim(int(model.config.hidden_size))
        self.crop_size = int(model.config.crop_size)
        self.resolved_revision = self.resolved_revision or getattr(model.config, "_commit_hash", None)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (T, H, W, C) → model-ready float frames (T, C, crop, crop) on CPU."""
        _check_frames(frames)
        return self.processor(frames.permute(0, 3, 1, 2), return_tensors="pt")["pixel_values_videos"][0]

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Preprocessed clips (B, m, C, crop, crop) → the mean of their tokens (B, D), float32 on CPU."""
        self.calls += 1
        with torch.inference_mode():
            tokens = self.model.get_vision_features(clips.to(self.device, self.dtype))  # (B, N, D)
            latents = tokens.float().mean(dim=1).cpu()
        return latents.clone()  # outside inference mode: an ordinary tensor callers may modify


class CosmosEncoder(VideoEncoder):
    """The Cosmos continuous video tokenizer (diffusers' `AutoencoderKLCosmos`), causal in time.

    The tokenizer compresses 8× in time, causally: latent 0 encodes the clip's first frame alone, latent
    j ≥ 1 frames 8j−7 .. 8j (receptive field ending there). A clip of the 9 frames t−8 .. t (the cache and
    the online encoder pad an episode's start with its first frame) gives latents 0 and 1; frame t's vector
    is latent 1 — frames t−7 .. t, with frame t−8 as context — so it never depends on a frame after t.
    That latent, (16, H/8, W/8), is normalised by the published statistics of the model config
    (`latents_mean`/`latents_std` of its latent-time index 1, as diffusers' Cosmos pipelines use them), then
    average-pooled to `grid × grid` cells per channel and flattened: D = 16 · grid². A config whose
    statistics are null (diffusers' conversion sets them only from a `mean_std.pt`) leaves the latents
    unnormalised — no statistics are invented — and the cache's metadata says so (`normalisation`).
    """

    def __init__(self, spec: EncoderSpec, source: str, device=None, dtype=None, revision=None) -> None:
        from diffusers import AutoencoderKLCosmos
        from diffusers.video_processor import VideoProcessor

        super().__init__(spec, source, device, dtype, revision)
        model = AutoencoderKLCosmos.from_pretrained(source, subfolder=spec.subfolder, torch_dtype=self.dtype)
        self.model = model.to(self.device).eval().requires_grad_(False)
        config = model.config
        if spec.temporal_window != 1 + config.temporal_compression_ratio:
            ratio, registered = config.temporal_compression_ratio, spec.temporal_window
            raise WmvlaError(f"{source}: temporal compression {ratio}, the registry says {registered - 1}")
        channels = config.latent_channels
        self.processor = VideoProcessor(vae_scale_factor=config.spatial_compression_ratio)
        self.mean, self.std, self.normalisation = latent_statistics(config, channels)
        self.dim = self._checked_dim(channels * spec.grid**2)
        self.crop_size = spec.size

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (T, H, W, C) → frames in [-1, 1] (T, C, size, size), as Cosmos pipelines feed them."""
        _check_frames(frames)
        video = frames.permute(0, 3, 1, 2).float() / 255.0  # (T, C, H, W) in [0, 1]
        return self.processor.preprocess(video, height=self.spec.size, width=self.spec.size)

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Preprocessed clips (B, 9, C, H, W) → the last latent, normalised and pooled (B, 16·grid²)."""
        self.calls += 1
        with torch.inference_mode():
            video = clips.to(self.device, self.dtype).permute(0, 2, 1, 3, 4)  # (B, C, T, H, W)
            latent = self.model.encode(video).latent_dist.mode()[:, :, -1].float().cpu()  # (B, 16, H/8, W/8)
            latent = (latent - self.mean) / self.std
            pooled = torch.nn.functional.adaptive_avg_pool2d(latent, self.spec.grid)  # (B, 16, grid, grid)
        return pooled.flatten(1).clone()


def latent_statistics(config, channels: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Per-channel mean and std of latent-time index 1 (each (1, C, 1, 1)), and how they were chosen.

    Null statistics in the config (one or both) stand for "no normalisation" of that part: mean 0, std 1.
    """
    mean, std = config.latents_mean, config.latents_std

    def at_index_1(values, default: float) -> torch.Tensor:
        if values is None:
            return torch.full((1, channels, 1, 1), default)
        return torch.tensor(values).view(channels, -1)[:, 1].view(1, channels, 1, 1)

    if mean is not None and std is not None:
        how = "the model config's latents_mean/latents_std (latent-time index 1)"
    else:
        missing = " and ".join(n for n, v in (("latents_mean", mean), ("latents_std", std)) if v is None)
        how = f"none where the model config has null statistics ({missing}: mean 0, std 1 instead)"
    return at_index_1(mean, 0.0), at_index_1(std, 1.0), how


def load_encoder(
    name: str,
    path: Path | str | None = None,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
    revision: str | None = None,
) -> VideoEncoder:
    """The registered encoder `name`, loaded from `path`: the model directory; `revision`, the commit of a
    Hub snapshot (recorded by the caches built with it; else the model config's own commit hash, if any).

    Without `path` a Hub encoder loads by its repo id (network or the user's HF cache): fine by hand, never
    used by the study, whose jobs run offline on the snapshots the hub stage fetched.
    """
    spec = encoder_spec(name)
    if path is None and spec.is_tiny:
        raise WmvlaError(f"encoder {name!r} is built locally: give its model directory")
    source = str(path) if path is not None else spec.repo_id
    if path is not None and not Path(source).is_dir():
        raise WmvlaError(f"encoder {name!r} expects a model directory at {source}; build or fetch it first")
    implementation = globals()[FAMILIES[spec.family].encoder_class]  # the DAG checked it is defined here
    return implementation(spec, source, device, dtype, revision)
