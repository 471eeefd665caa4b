"""Registry of frozen video encoders: one D-vector per clip (mean over the encoder's tokens).

Why a registry: the study names encoders (`vjepa2-vitg`), caches are keyed by that name, and tests
swap in a locally built tiny model through the very same loading path (`from_pretrained`).
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from wmvla.errors import WmvlaError

log = logging.getLogger(__name__)


class UnknownEncoderError(WmvlaError, KeyError):
    """The config names an encoder the registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    source: str  # Hub model id, or a directory (relative to the working directory) built by the DAG
    revision: str | None  # Hub revision; the resolved commit is recorded in the cache metadata
    dim: int  # D, the latent size (checked against the loaded model)

    @property
    def is_local(self) -> bool:
        return self.revision is None


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        # Branch names: transformers resolves them to a commit (`config._commit_hash`), which the
        # cache metadata records; pin a commit here once one has been validated.
        EncoderSpec("vjepa2-vitl", "facebook/vjepa2-vitl-fpc64-256", "main", 1024),
        EncoderSpec("vjepa2-vitg", "facebook/vjepa2-vitg-fpc64-256", "main", 1408),
        EncoderSpec("vjepa2-tiny", "results/models/vjepa2-tiny", None, 64),  # TinyVJEPA2Spec.hidden
    )
}


def encoder_spec(name: str) -> EncoderSpec:
    try:
        return ENCODERS[name]
    except KeyError:
        raise UnknownEncoderError(f"unknown encoder {name!r}; known: {', '.join(sorted(ENCODERS))}") from None


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
        local_dir: Path | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """`local_dir` replaces the registered directory of a local encoder (tests build it elsewhere)."""
        from transformers import AutoVideoProcessor, VJEPA2Model

        self.spec = encoder_spec(name)
        source = self.spec.source
        if self.spec.is_local:
            source = str(local_dir or source)
            if not Path(source).is_dir():
                raise WmvlaError(f"encoder {name!r} expects a model directory at {source}; build it first")
        default_device, default_dtype = default_device_and_dtype()
        self.device = device or default_device
        self.dtype = dtype or default_dtype
        self.processor = AutoVideoProcessor.from_pretrained(source, revision=self.spec.revision)
        model = VJEPA2Model.from_pretrained(source, revision=self.spec.revision, dtype=self.dtype)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.dim = int(model.config.hidden_size)
        if self.dim != self.spec.dim:
            raise WmvlaError(
                f"encoder {name!r} at {source} has D={self.dim}, the registry says {self.spec.dim}"
            )
        self.crop_size = int(model.config.crop_size)
        self.tubelet_size = int(model.config.tubelet_size)
        self.resolved_revision = getattr(model.config, "_commit_hash", None) or self.spec.revision
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
