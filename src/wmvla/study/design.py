"""The analysis design of a study: which experiment plays which part in the seed notes' criteria.

Why from the config, at DAG time: the roles (baseline E0, capacity control E1, world arm E2, fusion ablations,
imagination banks, encoder arms) follow from `analysis:` and each experiment's overrides; every analysis step
gets them as one JSON argument, which `wmvla.design.Design.from_json` reads (the same fields).
"""

import json

from wmvla.study.config import baseline, experiment_encoder, uses_world

FUSION_FLAGS = {  # a fusion ablation sets one of these (DESIGN.md §4); the verdicts describe it so
    "world_inject_suffix_in": "earlier injection into the action expert's inputs (F2)",
    "world_prefix_tokens": "world tokens in the VLM prefix (F3a)",
    "world_prefix_cross_attn": "prefix cross-attention to the memory (F3b)",
}
SETTINGS = (
    "alpha",
    "equivalence_margin",
    "power",
    "target_difference",
    "gate_open_threshold",
)  # thresholds of `analysis:`


def analysis_design(config: dict) -> dict:
    """The roles of the experiments and the analysis thresholds (the fields of the analysis's `Design`).

    An arm whose latents come from another encoder than the world arm's is an encoder arm (whatever else
    it changes); of the others, one that sets a fusion flag is a fusion ablation, one with several
    hypotheses an imagination bank.
    """
    analysis, experiments = config["analysis"], config["experiments"]

    def present(name: str | None) -> str | None:
        return name if name in experiments else None

    def args(exp: str) -> dict:
        return experiments[exp].get("policy_args", {})

    world_arm = present(analysis["world_arm"])
    world_encoder = experiment_encoder(config, world_arm) if world_arm else config["world"]["encoder"]
    world = [e for e in experiments if uses_world(config, e) and e != world_arm]
    encoders = [e for e in world if experiment_encoder(config, e) != world_encoder]
    same_encoder = [e for e in world if e not in encoders]
    fusion = [e for e in same_encoder if any(args(e).get(flag) for flag in FUSION_FLAGS)]
    changes = {}
    for exp in [*fusion, *encoders]:
        labels = [label for flag, label in FUSION_FLAGS.items() if args(exp).get(flag)]
        if exp in encoders:
            labels.insert(0, f"latents of {experiment_encoder(config, exp)} instead of {world_encoder}")
        changes[exp] = " and ".join(labels)
    return {
        "baseline": baseline(config),
        "capacity": present(analysis["capacity_control"]),
        "world": world_arm,
        "fusion": fusion,
        "imagination": [e for e in same_encoder if int(args(e).get("world_num_hypotheses", 1)) > 1],
        "encoders": encoders,
        "changes": changes,
        "settings": {k: analysis[k] for k in SETTINGS},
    }


def design_json(config: dict) -> str:
    return json.dumps(analysis_design(config), sort_keys=True)
