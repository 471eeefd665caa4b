"""Every arm's training config resolved as `lerobot-train` will resolve it, compared with the baseline's.

Why resolve rather than read the study config: E0 takes its SmolVLA settings from the init checkpoint
(`--policy.path`), the world arms from the same checkpoint through `lerobot-wm-train`'s base config;
only LeRobot's own parsing shows what each run will really train and evaluate with. The static check
of the study config (`wmvla.config_checks.check_parity`) catches overrides; this one catches anything.
"""

import functools
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wmvla.policy_fields import world_only_fields

IGNORED_POLICY_FIELDS = {"type", "pretrained_path"}  # pretrained_path: E0 loads its weights through it
COMPARED_SECTIONS = ("policy", "optimizer", "scheduler")  # optimizer/scheduler: presets of the policy


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

    from wmvla.train_cli import lerobot_argv

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


def parity_differences(
    resolved: Mapping[str, dict[str, Any]], baseline: str, declared: Mapping[str, list[str]]
) -> list[str]:
    """One line per setting in which an arm differs from the baseline beyond its world branch.

    `declared`: per experiment, the SmolVLA fields it differs in on purpose (`differs_from_baseline`);
    declaring an `optimizer_*` / `scheduler_*` field also accepts the optimizer and scheduler presets,
    which LeRobot derives from those fields (the scheduler's peak lr is the optimizer's lr).
    """
    world = world_only_fields()
    base = resolved[baseline]
    lines = []
    for exp, config in resolved.items():
        if exp == baseline:
            continue
        allowed = set(declared.get(exp, []))
        presets_declared = any(f.startswith(("optimizer_", "scheduler_")) for f in allowed)
        for section in COMPARED_SECTIONS:
            if section != "policy" and presets_declared:
                continue
            ours, theirs = config.get(section) or {}, base.get(section) or {}
            for key in sorted(set(ours) | set(theirs)):
                if section == "policy" and (key in world or key in IGNORED_POLICY_FIELDS or key in allowed):
                    continue
                if ours.get(key) != theirs.get(key):
                    lines.append(
                        f"{exp}: {section}.{key} = {ours.get(key)!r}, {baseline} has {theirs.get(key)!r}"
                    )
    return lines
