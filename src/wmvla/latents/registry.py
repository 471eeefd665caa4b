"""Registry of frozen video encoders by name: what each one is, where its weights come from, its D — the
one place a new encoder is declared (DESIGN.md §9).

Why apart from the encoders themselves: the study config, the DAG and the hub lock need these facts
at DAG-construction time, which must not import torch or transformers (the full dry run takes ~4.4 s).
Every name here follows one rule (`NAME_RULE`, checked as an entry is made). The config's encoder names
(checked against this table when the DAG is built), the DAG's wildcards and the tiny models follow from it;
a family names its implementation (a `VideoEncoder` class in `wmvla.latents.encoders`, a tiny builder in
`wmvla.models.tiny`), which the DAG checks exists when it is built (`wmvla.study.checks`).
"""

import re
from dataclasses import dataclass

from wmvla.errors import WmvlaError


class RegistryError(WmvlaError, ValueError):
    """The registry contradicts itself (a family nobody implements, a tiny model named otherwise)."""


class UnknownEncoderError(WmvlaError, KeyError):
    """The config names an encoder the registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


TINY_SUFFIX = "-tiny"  # a tiny stand-in is named `<family>-tiny` and built by its family's tiny builder

# One rule for every encoder and family name, Hub or tiny. Why: a name is a path component (a latent cache's
# `<encoder>/temporal_window_<m>`), a DAG wildcard, a hub lock key and a model directory; capitals would
# make two names of one model where a filesystem ignores case.
NAME_RULE = "^[a-z0-9]+(-[a-z0-9]+)*$"


def check_name(what: str, name: str) -> None:
    """Refuse, in one line naming it and the rule, a registry name that breaks `NAME_RULE`."""
    if not re.fullmatch(NAME_RULE, name):
        raise RegistryError(
            f"{what} {name!r} breaks the naming rule of wmvla.latents.registry: lowercase letters and "
            f"digits, in words joined by single hyphens ({NAME_RULE})"
        )


@dataclass(frozen=True)
class EncoderFamily:
    """One implementation of encoders: how its models load, and how its tiny stand-in is built."""

    name: str
    encoder_class: str  # its VideoEncoder subclass in wmvla.latents.encoders
    tiny_builder: str | None = None  # its builder in wmvla.models.tiny (a smoke study needs one)

    def __post_init__(self) -> None:
        check_name("encoder family", self.name)  # its tiny model is `<family>-tiny`


FAMILIES: dict[str, EncoderFamily] = {
    family.name: family
    for family in (
        EncoderFamily("vjepa2", "VJEPA2Encoder", "build_tiny_vjepa2"),
        EncoderFamily("cosmos", "CosmosEncoder", "build_tiny_cosmos"),
    )
}


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    family: str  # which implementation loads it: a key of FAMILIES
    repo_id: str | None  # Hub model id; None: a tiny random-weight model the DAG builds (wmvla.models.tiny)
    dim: int  # D, the latent size (checked against the loaded model)
    files: tuple[str, ...] = ("*.json", "*.safetensors")  # what the hub stage downloads of the repo
    subfolder: str | None = None  # where in the repository the model lives
    temporal_window: int | None = None  # frames per clip fixed by the model; None: world.temporal_window
    grid: int | None = None  # cosmos: the latent grid is average-pooled to grid × grid cells per channel
    size: int | None = None  # cosmos: frames are resized to size × size before encoding

    @property
    def is_tiny(self) -> bool:
        return self.repo_id is None

    def __post_init__(self) -> None:
        check_name("encoder", self.name)
        family = FAMILIES.get(self.family)
        if family is None:
            raise RegistryError(
                f"encoder {self.name!r} names family {self.family!r}, which is not in FAMILIES "
                f"({', '.join(FAMILIES)}) of wmvla.latents.registry"
            )
        if self.is_tiny and (self.name != self.family + TINY_SUFFIX or family.tiny_builder is None):
            raise RegistryError(
                f"encoder {self.name!r} has no Hub id, so the DAG builds it: name it "
                f"{self.family + TINY_SUFFIX!r} and give family {self.family!r} a tiny_builder"
            )


# The Cosmos continuous video tokenizer: 16 latent channels, 8× in time and space, causal in time — a clip
# of 1 + 8 frames gives two latents, the second encoding frames 2..9. One vector per frame t: the second
# latent of the clip ending at t, normalised by the published per-channel statistics and pooled to a
# grid × grid grid (16 · grid² values). See wmvla.latents.encoders.CosmosEncoder.
COSMOS_CLIP = 9


def _by_name(*specs: EncoderSpec) -> dict[str, EncoderSpec]:
    names = [spec.name for spec in specs]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise RegistryError(f"encoder(s) {', '.join(twice)} registered twice in wmvla.latents.registry")
    return {spec.name: spec for spec in specs}


ENCODERS: dict[str, EncoderSpec] = _by_name(
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
        temporal_window=COSMOS_CLIP,
        grid=4,
        size=256,
    ),
    EncoderSpec(  # TinyCosmosSpec; its D differs from vjepa2-tiny's, so a mixed-up cache cannot pass
        "cosmos-tiny",
        "cosmos",
        None,
        16 * 3 * 3,
        subfolder="vae",
        temporal_window=COSMOS_CLIP,
        grid=3,
        size=64,
    ),
)


def encoder_spec(name: str) -> EncoderSpec:
    try:
        return ENCODERS[name]
    except KeyError:
        raise UnknownEncoderError(f"unknown encoder {name!r}; known: {', '.join(sorted(ENCODERS))}") from None
