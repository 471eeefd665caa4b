"""Processors of `smolvla_world`: SmolVLA's, or exactly those saved with the checkpoint it starts from.

Why reuse the init checkpoint's processors: its normalisation statistics and action conventions are
what its weights were trained with; rebuilding them from the fine-tuning dataset's statistics silently
changed the action scale and gave 0% success (seed note, "Processor mismatch").
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


def make_smolvla_world_pre_post_processors(
    config: SmolVLAWorldConfig,
    dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None,
    **kwargs: Any,
) -> tuple[PolicyProcessorPipeline, PolicyProcessorPipeline]:
    if not config.init_from_policy_path:
        return make_smolvla_pre_post_processors(config, dataset_stats)
    device = {"device_processor": {"device": config.device}} if config.device else {}
    preprocessor = PolicyProcessorPipeline.from_pretrained(
        config.init_from_policy_path,
        config_filename="policy_preprocessor.json",
        overrides=device,
        to_transition=batch_to_transition,
        to_output=transition_to_batch,
    )
    postprocessor = PolicyProcessorPipeline.from_pretrained(
        config.init_from_policy_path,
        config_filename="policy_postprocessor.json",
        to_transition=policy_action_to_transition,
        to_output=transition_to_policy_action,
    )
    return preprocessor, postprocessor
