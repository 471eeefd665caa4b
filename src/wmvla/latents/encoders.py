"""Frozen video encoders: one D-vector per clip (mean over the encoder's tokens).

Encoders are named in the registry (`wmvla.latents.registry`); caches are keyed by that name. Weights
always load from a directory through `from_pretrained` — a tiny model the DAG built, or a Hub snapshot
in the study's offline cache — so tests and the full study share the very same loading path.
"""

import logging
from pathlib import Path

import torch

from wmvla.errors import WmvlaError
from wmvla.hub import snapshot_revision
from wmvla.latents.registry import encoder_spec

log = logging.getLogger(__name__)


def default_device_and_dtype() -> tuple[torch.device, torch.dtype]:
    """bf16 on a GPU (MI300X/ROCm reports as cuda), fp32 on CPU where bf16 matmuls are slow."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


class VideoEncoder:
    """A frozen V-JEPA 2 encoder with its own preprocessing.

    Preprocessing (resize, centre crop, normalise) acts frame by frame, so frames are preprocessed
    once and clips are assembled from them afterwards — the same result as preprocessing each clip.
    """

    def __init__(
        self,
        name: str,
        path: Path | str | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """`path`: the model directory (a Hub snapshot `…/snapshots/<sha>` names the commit caches record).

        Without `path` a Hub encoder loads by its repo id (network or the user's HF cache): fine by hand,
        never used by the study, whose jobs run offline on the snapshots the hub stage fetched.
        """
        from transformers import AutoVideoProcessor, VJEPA2Model

        self.spec = encoder_spec(name)
        if path is None and self.spec.is_tiny:
            raise WmvlaError(f"encoder {name!r} is built locally: give its model directory")
        source = str(path) if path is not None else self.spec.repo_id
        if path is not None and not Path(source).is_dir():
            raise WmvlaError(
                f"encoder {name!r} expects a model directory at {source}; build or fetch it first"
            )
        default_device, default_dtype = default_device_and_dtype()
        self.device = device or default_device
        self.dtype = dtype or default_dtype
        self.processor = AutoVideoProcessor.from_pretrained(source)
        model = VJEPA2Model.from_pretrained(source, dtype=self.dtype)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.dim = int(model.config.hidden_size)
        if self.dim != self.spec.dim:
            raise WmvlaError(
                f"encoder {name!r} at {source} has D={self.dim}, the registry says {self.spec.dim}"
            )
        self.crop_size = int(model.config.crop_size)
        self.tubelet_size = int(model.config.tubelet_size)
        self.source = source
        self.resolved_revision = snapshot_revision(source) or getattr(model.config, "_commit_hash", None)
        self.calls = 0  # forward passes so far (benchmarks and tests count them)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (T, H, W, C) → model-ready float frames (T, C, crop, crop) on CPU."""
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames (T, H, W, 3), got {tuple(frames.shape)} {frames.dtype}")
        video = frames.permute(0, 3, 1, 2)  # (T, C, H, W)
        return self.processor(video, return_tensors="pt")["pixel_values_videos"][0]

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Preprocessed clips (B, m, C, crop, crop) → latents (B, D) in float32 on CPU."""
        self.calls += 1
        with torch.inference_mode():
            tokens = self.model.get_vision_features(clips.to(self.device, self.dtype))  # (B, N, D)
            latents = tokens.float().mean(dim=1).cpu()
        return latents.clone()  # outside inference mode: an ordinary tensor callers may modify
