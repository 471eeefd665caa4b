"""The world branch's settings and the rules their values obey, without torch: the plugin's config checks
them when it is built, and the DAG checks every arm's overrides with the same rules before any job runs
(DESIGN.md §4 "Fusion points"), so `world_k: 0` fails the dry run, not a GPU job hours later.
"""

from collections.abc import Mapping
from typing import Any

TRAIN_MODES = ("pred", "zero", "oracle", "shuffle", "random", "learned")  # wmvla.world.memory says each
ROLLOUT_MODES = ("pred", "zero", "random", "learned")  # no future is known at rollout
SCENELESS_MODES = ("learned", "zero")  # memories that read nothing of the scene: no camera, no encoder needed
HYPOTHESIS_METHODS = ("dropout", "noise", "ensemble", "mixture")  # wmvla.world.imagination
PREFIX_BLOCKS = ("prefix", "state")  # F3a: join the image/language block, or behave like state

CHOICES = {
    "world_memory_mode_train": TRAIN_MODES,
    "world_memory_mode_rollout": ROLLOUT_MODES,
    "world_prefix_block": PREFIX_BLOCKS,
    "world_hypothesis_method": HYPOTHESIS_METHODS,
}
AT_LEAST_ONE = (
    "world_dim", "world_t_ctx", "world_k", "world_temporal_window", "world_num_hypotheses",
    "world_prophet_width", "world_prophet_layers", "world_fusion_heads", "world_log_freq",
)  # fmt: skip
NOT_NEGATIVE = ("world_prefix_tokens", "lambda_world", "world_best_of_n_temperature")
FUSION_POINTS = (
    "enable_world_injection", "world_inject_suffix_in", "world_prefix_tokens", "world_prefix_cross_attn",
)  # fmt: skip


def default_rollout_mode(train_mode: str) -> str:
    """A rollout as trained: the training mode where a rollout can build it (pred, learned, zero), else the
    Prophet's predictions (oracle, shuffle and random need what a rollout does not have)."""
    return train_mode if train_mode in ROLLOUT_MODES else "pred"


def world_settings_problem(values: Mapping[str, Any]) -> str | None:
    """The first rule `values` break, as one line naming the field, or None. A setting absent from `values`
    (at DAG time: a default only the job knows) is not judged; a rollout mode of None is as trained."""
    known = {k: v for k, v in values.items() if v is not None}
    if "world_memory_mode_train" in known and "world_memory_mode_rollout" not in known:
        known["world_memory_mode_rollout"] = default_rollout_mode(known["world_memory_mode_train"])
    for name, allowed in CHOICES.items():
        if name in known and known[name] not in allowed:
            return f"{name}={known[name]!r} is not one of {', '.join(allowed)}"
    for name in AT_LEAST_ONE:
        if name in known and known[name] < 1:
            return f"{name} must be >= 1, got {known[name]}"
    for name in NOT_NEGATIVE:
        if name in known and known[name] < 0:
            return f"{name} must be >= 0, got {known[name]}"
    modes = (known.get("world_memory_mode_rollout"), known.get("world_memory_mode_train"))
    if "learned" in modes and known.get("world_memory_mode_train") != "learned":
        return (
            "world_memory_mode_rollout=learned needs a policy trained with learned memory tokens "
            "(world_memory_mode_train=learned)"
        )
    if known.get("world_prefix_tokens") and known.get("prefix_length", 0) > 0:
        return "world_prefix_tokens needs an unpadded prefix (prefix_length <= 0)"
    if all(name in known for name in FUSION_POINTS) and not any(known[name] for name in FUSION_POINTS):
        return f"no fusion point is enabled: set one of {', '.join(FUSION_POINTS)}"
    return None
