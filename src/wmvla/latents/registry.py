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
    family: str  # which implementation loads it (wmvla.latents.encoders)
    repo_id: str | None  # Hub model id; None: a tiny random-weight model the DAG builds (wmvla.tiny_models)
    dim: int  # D, the latent size (checked against the loaded model)
    files: tuple[str, ...] = ("*.json", "*.safetensors")  # what the hub stage downloads of the repo

    @property
    def is_tiny(self) -> bool:
        return self.repo_id is None


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec("vjepa2-vitl", "vjepa2", "facebook/vjepa2-vitl-fpc64-256", 1024),
        EncoderSpec("vjepa2-vitg", "vjepa2", "facebook/vjepa2-vitg-fpc64-256", 1408),
        EncoderSpec("vjepa2-tiny", "vjepa2", None, 64),  # TinyVJEPA2Spec.hidden
    )
}


def encoder_spec(name: str) -> EncoderSpec:
    try:
        return ENCODERS[name]
    except KeyError:
        raise UnknownEncoderError(f"unknown encoder {name!r}; known: {', '.join(sorted(ENCODERS))}") from None
