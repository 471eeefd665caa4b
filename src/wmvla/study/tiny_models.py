"""The tiny stand-in models a study's DAG builds (`wmvla models tiny --kind <kind>`), named once: the tiny VLM
and every registered encoder without a Hub id. A config names one by `<kind>-tiny` (`vlm_model_name:
smolvlm-tiny`, `encoder: vjepa2-tiny`); it is written to `results/<study>/models/<kind>-tiny`.

Why here: the list follows from the encoder registry (DESIGN.md §9) — a new tiny encoder is a registry entry
and its family's builder, nothing more — and the DAG needs it without importing torch.
"""

from wmvla.latents.registry import ENCODERS, FAMILIES, TINY_SUFFIX
from wmvla.models.names import VLM_TINY_BUILDER, VLM_TINY_KIND

TINY_KINDS = (VLM_TINY_KIND, *dict.fromkeys(spec.family for spec in ENCODERS.values() if spec.is_tiny))
TINY_MODELS = tuple(kind + TINY_SUFFIX for kind in TINY_KINDS)


def tiny_kind(name: str) -> str | None:
    """The kind of a tiny model name (`vjepa2-tiny` → `vjepa2`), or None for any other name."""
    return name.removesuffix(TINY_SUFFIX) if name in TINY_MODELS else None


def tiny_builder(kind: str) -> str:
    """The function of `wmvla.models.tiny` that writes a tiny model of `kind`."""
    builder = VLM_TINY_BUILDER if kind == VLM_TINY_KIND else FAMILIES[kind].tiny_builder
    if builder is None:  # the registry refuses a tiny encoder of a family without a builder
        raise KeyError(f"no tiny builder for {kind!r}")
    return builder
