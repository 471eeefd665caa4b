"""A training config resolved exactly as `lerobot-train` will resolve it (what the parity gate compares).

Why resolve rather than read the study config: E0 takes its SmolVLA settings from the init checkpoint
(`--policy.path`), the world-branch arms from the same checkpoint through `lerobot-wm-train`'s base config;
only LeRobot's own parsing shows what each run will really train and evaluate with.
"""

import functools
import json
import sys
from pathlib import Path
from typing import Any


@functools.cache
def _register_plugins() -> None:
    """What lerobot-train does first: import the installed policy plugins (smolvla_world)."""
    from lerobot.utils.import_utils import register_third_party_plugins

    register_third_party_plugins()


def resolve_train_config(argv: list[str], scratch: Path) -> dict[str, Any]:
    """`lerobot-train`'s validated config for these `lerobot-wm-train` arguments, as a plain dict.

    `scratch`: a directory for the output dir LeRobot requires (never written to).
    """
    import draccus
    from lerobot.configs import parser
    from lerobot.configs.train import TrainPipelineConfig

    from wmvla.train.lerobot_wm_train import lerobot_argv

    _register_plugins()

    @parser.wrap()
    def parse(cfg: TrainPipelineConfig) -> TrainPipelineConfig:
        return cfg

    argv = [a for a in argv if not a.startswith("--output_dir=")]
    argv.append(f"--output_dir={Path(scratch) / 'never-written'}")
    saved = sys.argv
    with lerobot_argv(argv) as args:
        sys.argv = ["lerobot-train", *args]
        try:
            cfg = parse()
            cfg.validate()
        finally:
            sys.argv = saved
    return json.loads(json.dumps(draccus.encode(cfg), default=str))
