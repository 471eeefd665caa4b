"""Processors of `smolvla_world`: what LeRobot's fine-tuning builds for E0 from the same init checkpoint.

Why: E0 fine-tunes through `lerobot-train --policy.path=<init>`, and LeRobot then loads the init checkpoint's
saved processors — its steps and settings — with the normaliser and unnormaliser statistics replaced by the
training dataset's (`lerobot_train.py`: unless resuming, `stats = dataset.meta.stats`). A world-branch arm
that kept the init checkpoint's own statistics would normalise states and actions differently from E0 whenever
the two differ (another dataset revision, another episode selection): a confound of every comparison. So a
world-branch arm loads the same saved pipeline with the same overrides, and gets the same statistics from the
same source. (Rebuilding SmolVLA's default pipeline instead lost the init's steps and conventions and gave 0%
success — seed note, "Processor mismatch".) The parity gate checks the resolved processors of every arm
against E0's, tensor for tensor.
"""

from typing import Any

import torch
from lerobot.policies.smolvla.processor_smolvla import make_smolvla_pre_post_processors
from lerobot.processor import PolicyProcessorPipeline
from lerobot.processor.converters import (
    batch_to_transition,
    policy_action_to_transition,
    transition_to_batch,
    transition_to_policy_action,
)

from .configuration_smolvla_world import SmolVLAWorldConfig


def fine_tuning_overrides(
    config: SmolVLAWorldConfig, dataset_stats: dict[str, dict[str, torch.Tensor]] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The overrides `lerobot-train` gives an init checkpoint's saved pre- and post-processor when it
    fine-tunes it (features, normalisation map, device, no renaming, and the training dataset's stats)."""
    features = {**config.input_features, **config.output_features}
    norm_map = config.normalization_mapping
    pre: dict[str, Any] = {
        "normalizer_processor": {"features": features, "norm_map": norm_map},
        "rename_observations_processor": {"rename_map": {}},
    }
    if config.device:
        pre["device_processor"] = {"device": config.device}
    post: dict[str, Any] = {
        "unnormalizer_processor": {"features": config.output_features, "norm_map": norm_map}
    }
    if dataset_stats is not None:
        pre["normalizer_processor"]["stats"] = dataset_stats
        post["unnormalizer_processor"]["stats"] = dataset_stats
    return pre, post


def make_smolvla_world_pre_post_processors(
    config: SmolVLAWorldConfig,
    dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None,
    **kwargs: Any,
) -> tuple[PolicyProcessorPipeline, PolicyProcessorPipeline]:
    if not config.init_from_policy_path:
        return make_smolvla_pre_post_processors(config, dataset_stats)
    pre, post = fine_tuning_overrides(config, dataset_stats)
    preprocessor = PolicyProcessorPipeline.from_pretrained(
        config.init_from_policy_path,
        config_filename="policy_preprocessor.json",
        overrides=pre,
        to_transition=batch_to_transition,
        to_output=transition_to_batch,
    )
    postprocessor = PolicyProcessorPipeline.from_pretrained(
        config.init_from_policy_path,
        config_filename="policy_postprocessor.json",
        overrides=post,
        to_transition=policy_action_to_transition,
        to_output=transition_to_policy_action,
    )
    return preprocessor, postprocessor
