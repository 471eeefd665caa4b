"""The tiny stand-in models a study's DAG builds (`wmvla models tiny --model <model>`), named once: the tiny
VLM and every registered encoder without a Hub id. A config names one by `<model>-tiny` (`vlm_model_name:
smolvlm-tiny`, `encoder: vjepa2-tiny`), where `<model>` is the VLM (`smolvlm`) or an encoder family; it is
written to `results/<study>/models/<model>-tiny`.

Why here: the list follows from the encoder registry (DESIGN.md §9) — a new tiny encoder is a registry entry
and its family's builder, nothing more — and the DAG needs it without importing torch.
"""

from wmvla.latents.registry import ENCODERS, FAMILIES, TINY_SUFFIX
from wmvla.models.names import VLM_MODEL, VLM_TINY_BUILDER

MODELS_WITH_TINY = (VLM_MODEL, *dict.fromkeys(spec.family for spec in ENCODERS.values() if spec.is_tiny))
TINY_MODELS = tuple(model + TINY_SUFFIX for model in MODELS_WITH_TINY)


def model_of_tiny(name: str) -> str | None:
    """The model a tiny model name stands in for (`vjepa2-tiny` → `vjepa2`), or None for any other name."""
    return name.removesuffix(TINY_SUFFIX) if name in TINY_MODELS else None


def tiny_builder(model: str) -> str:
    """The function of `wmvla.models.tiny` that writes the tiny stand-in of `model`."""
    builder = VLM_TINY_BUILDER if model == VLM_MODEL else FAMILIES[model].tiny_builder
    if builder is None:  # the registry refuses a tiny encoder of a family without a builder
        raise KeyError(f"no tiny builder for {model!r}")
    return builder
