"""The analysis design of a study: which experiment plays which part in the seed notes' criteria, filled from
the config while the DAG is built (DESIGN.md §6 "Roles").

Why the `Design` itself, not a dictionary like it: the roles are defined once (`wmvla.design.Design`), and
filling that dataclass here makes a role the analysis does not know fail the dry run instead of the last job
of a study; every analysis step gets it as one JSON argument (`Design.from_json` reads it back). An arm in no
role is named before any job runs.
"""

from dataclasses import fields

from wmvla.design import Design, Settings
from wmvla.study.config import baseline, experiment_encoder, uses_world

FUSION_FLAGS = {  # a fusion ablation sets one of these (DESIGN.md §4); the verdicts describe it so
    "world_inject_suffix_in": "earlier injection into the action expert's inputs (F2)",
    "world_prefix_tokens": "world tokens in the VLM prefix (F3a)",
    "world_prefix_cross_attn": "prefix cross-attention to the memory (F3b)",
}
ROLE_NAMES = (
    "baseline, capacity control, world arm, fusion ablation, imagination bank, encoder arm, variant of the "
    "world arm"
)


def _differences(arm: dict, world: dict) -> str:
    """What an arm's overrides change relative to the world arm's, as a reader reads it."""
    keys = sorted(k for k in set(arm) | set(world) if arm.get(k) != world.get(k))
    return ", ".join(
        f"{k} {arm.get(k, 'at its default')} instead of {world.get(k, 'its default')}" for k in keys
    )


def analysis_design(config: dict) -> Design:
    """The roles of the experiments and the analysis thresholds.

    An arm whose latents come from another encoder than the world arm's is an encoder arm (whatever else
    it changes); of the others, one that sets a fusion flag is a fusion ablation (also when it keeps several
    hypotheses: each arm has one role, so one comparison with the world arm), one with several hypotheses an
    imagination bank, and any other world arm but the capacity control a variant of the world
    arm. A non-world arm other than the baseline, or any world arm of a study without a world arm, has no
    role: no verdict reads it (`uncovered`).
    """
    analysis, experiments = config["analysis"], config["experiments"]

    def present(name: str | None) -> str | None:
        return name if name in experiments else None

    def args(exp: str | None) -> dict:
        return experiments[exp].get("policy_args", {}) if exp else {}

    world_arm, capacity = present(analysis["world_arm"]), present(analysis["capacity_control"])
    world_encoder = experiment_encoder(config, world_arm) if world_arm else config["world"]["encoder"]
    world = [e for e in experiments if uses_world(config, e) and e != world_arm] if world_arm else []
    encoders = [e for e in world if experiment_encoder(config, e) != world_encoder]
    same_encoder = [e for e in world if e not in encoders]
    fusion = [e for e in same_encoder if any(args(e).get(flag) for flag in FUSION_FLAGS)]
    banks = [e for e in same_encoder if int(args(e).get("world_num_hypotheses", 1)) > 1]
    imagination = [
        e for e in banks if e not in fusion
    ]  # one role each: a fusion ablation that is also a bank
    # is compared with the world arm once, as a fusion ablation, and what it changes names both
    variants = [e for e in same_encoder if e not in (*fusion, *imagination, capacity)]
    changes = {}
    for exp in [*fusion, *encoders]:
        labels = [label for flag, label in FUSION_FLAGS.items() if args(exp).get(flag)]
        if exp in banks:
            labels.append(f"an imagination bank of {args(exp)['world_num_hypotheses']} hypotheses")
        if exp in encoders:
            labels.insert(0, f"latents of {experiment_encoder(config, exp)} instead of {world_encoder}")
        changes[exp] = " and ".join(labels)
    changes |= {exp: _differences(args(exp), args(world_arm)) for exp in variants}
    roles = {baseline(config), capacity, world_arm, *fusion, *imagination, *encoders, *variants}
    return Design(
        baseline=baseline(config),
        capacity=capacity,
        world=world_arm,
        fusion=tuple(fusion),
        imagination=tuple(imagination),
        encoders=tuple(encoders),
        variants=tuple(variants),
        uncovered=tuple(e for e in experiments if e not in roles),
        changes=changes,
        settings=Settings(**{f.name: analysis[f.name] for f in fields(Settings) if f.name in analysis}),
    )


def design_json(config: dict) -> str:
    return analysis_design(config).to_json()


def uncovered_warnings(config: dict) -> list[str]:
    """One line per arm no verdict reads: its numbers are in the tables, its answer is nowhere."""
    design = analysis_design(config)
    return [
        f"experiment {exp} is in no verdict's role ({ROLE_NAMES}): the tables compare it with "
        f"{design.baseline} ('other arms vs baseline'), no verdict reads it (DESIGN.md §6 \"Roles\")"
        for exp in design.uncovered
    ]
