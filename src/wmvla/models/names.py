"""The tiny stand-in models the DAG builds (`wmvla models tiny`), named once.

Why apart from `wmvla.models.tiny`: the DAG needs the names while it is built, without importing torch.
A config names a tiny model by `<kind>-tiny` (`vlm_model_name: smolvlm-tiny`, `encoder: vjepa2-tiny`).
"""

TINY_KINDS = ("smolvlm", "vjepa2", "cosmos")
TINY_SUFFIX = "-tiny"
TINY_MODELS = tuple(kind + TINY_SUFFIX for kind in TINY_KINDS)


def tiny_kind(name: str) -> str | None:
    """The kind of a tiny model name (`vjepa2-tiny` → `vjepa2`), or None for any other name."""
    return name.removesuffix(TINY_SUFFIX) if name in TINY_MODELS else None
