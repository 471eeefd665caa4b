"""Registry of frozen video encoders by name: what each one is, where its weights come from, its D.

Why apart from the encoders themselves: the study config, the DAG and the hub lock need these facts
at DAG-construction time, which must not import torch or transformers (the full dry run has a 5 s budget).
"""

from dataclasses import dataclass

from wmvla.errors import WmvlaError


class UnknownEncoderError(WmvlaError, KeyError):
    """The config names an encoder the registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    family: str  # which implementation loads it (wmvla.latents.encoders): vjepa2 | cosmos
    repo_id: str | None  # Hub model id; None: a tiny random-weight model the DAG builds (wmvla.models.tiny)
    dim: int  # D, the latent size (checked against the loaded model)
    files: tuple[str, ...] = ("*.json", "*.safetensors")  # what the hub stage downloads of the repo
    subfolder: str | None = None  # where in the repository the model lives
    window: int | None = None  # frames per clip fixed by the model; None: the study's temporal_window
    grid: int | None = None  # cosmos: the latent grid is average-pooled to grid × grid cells per channel
    size: int | None = None  # cosmos: frames are resized to size × size before encoding

    @property
    def is_tiny(self) -> bool:
        return self.repo_id is None


# The Cosmos continuous video tokenizer: 16 latent channels, 8× in time and space, causal in time — a clip
# of 1 + 8 frames gives two latents, the second encoding frames 2..9. One vector per frame t: the second
# latent of the clip ending at t, normalised by the published per-channel statistics and pooled to a
# grid × grid grid (16 · grid² values). See wmvla.latents.encoders.CosmosEncoder.
COSMOS_CLIP = 9

ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec("vjepa2-vitl", "vjepa2", "facebook/vjepa2-vitl-fpc64-256", 1024),
        EncoderSpec("vjepa2-vitg", "vjepa2", "facebook/vjepa2-vitg-fpc64-256", 1408),
        EncoderSpec("vjepa2-tiny", "vjepa2", None, 64),  # TinyVJEPA2Spec.hidden
        EncoderSpec(
            "cosmos-cv8x8x8",
            "cosmos",
            "nvidia/Cosmos-1.0-Tokenizer-CV8x8x8",
            16 * 4 * 4,
            files=("vae/*.json", "vae/*.safetensors"),
            subfolder="vae",
            window=COSMOS_CLIP,
            grid=4,
            size=256,
        ),
        EncoderSpec(  # TinyCosmosSpec; its D differs from vjepa2-tiny's, so a mixed-up cache cannot pass
            "cosmos-tiny", "cosmos", None, 16 * 3 * 3, subfolder="vae", window=COSMOS_CLIP, grid=3, size=64
        ),
    )
}


def encoder_spec(name: str) -> EncoderSpec:
    try:
        return ENCODERS[name]
    except KeyError:
        raise UnknownEncoderError(f"unknown encoder {name!r}; known: {', '.join(sorted(ENCODERS))}") from None
