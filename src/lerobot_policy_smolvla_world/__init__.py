"""LeRobot policy plugin `smolvla_world` (`--policy.type=smolvla_world`)."""

from .configuration_smolvla_world import SmolVLAWorldConfig
from .modeling_smolvla_world import SmolVLAWorldPolicy
from .processor_smolvla_world import make_smolvla_world_pre_post_processors

__all__ = ["SmolVLAWorldConfig", "SmolVLAWorldPolicy", "make_smolvla_world_pre_post_processors"]
