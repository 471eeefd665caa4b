"""The analysis design of a study: which experiment plays which part in the seed notes' criteria, filled from
the config while the DAG is built (DESIGN.md §6 "Roles").

Why the `Design` itself, not a dictionary like it: the roles are defined once (`wmvla.design.Design`), and
filling that dataclass here makes a role the analysis does not know fail the dry run instead of the last job
of a study; every analysis step gets it as one JSON argument (`Design.from_json` reads it back). An arm in no
role is named before any job runs.
"""

from dataclasses import fields

from wmvla.design import FAMILIES, PERTURBATION, VERDICTS, Design, DesignError, Settings, role_fields
from wmvla.study.arms import duplicate_warnings
from wmvla.study.config import baseline, experiment_encoder, uses_world
from wmvla.study.sources import top_level_names

FUSION_FLAGS = {  # a fusion ablation sets one of these (DESIGN.md §4); the verdicts describe it so
    "world_inject_suffix_in": "earlier injection into the action expert's inputs (F2)",
    "world_prefix_tokens": "world tokens in the VLM prefix (F3a)",
    "world_prefix_cross_attn": "prefix cross-attention to the memory (F3b)",
}
ARMS = ("world", "capacity")  # the roles the config names an arm for (`analysis:`), as `Design` names them
ROLE_LABELS = {  # each role of `Design` as a reader names it
    "baseline": "baseline",
    "capacity": "capacity control",
    "world": "world arm",
    "fusion": "fusion ablation",
    "encoders": "encoder arm",
    "imagination": "imagination bank",
    "variants": "variant of the world arm",
}
ROLE_NAMES = ", ".join(ROLE_LABELS.values())


def _differences(arm: dict, world: dict) -> str:
    """What an arm's overrides change relative to the world arm's, as a reader reads it."""
    keys = sorted(k for k in set(arm) | set(world) if arm.get(k) != world.get(k))
    return ", ".join(
        f"{k} {arm.get(k, 'at its default')} instead of {world.get(k, 'its default')}" for k in keys
    )


def role_candidates(config: dict) -> dict[str, list[str]]:
    """Every role each arm's settings give it, in `Design`'s role order (an arm may have several here).

    An arm whose latents come from another encoder than the world arm's is an encoder arm (whatever else
    it changes); of the others, one that sets a fusion flag is a fusion ablation, one with several hypotheses
    an imagination bank, and any other world-branch arm but the capacity control a variant of the world
    arm. A plain SmolVLA arm other than the baseline, or any world-branch arm of a study without a world
    arm, has no role.
    """
    analysis, experiments = config["analysis"], config["experiments"]

    def args(exp: str) -> dict:
        return experiments[exp].get("policy_args", {})

    world, capacity = (analysis[k] if analysis[k] in experiments else None for k in ARMS)
    world_encoder = experiment_encoder(config, world) if world else config["world"]["encoder"]
    branch = [e for e in experiments if uses_world(config, e) and e != world] if world else []
    encoders = [e for e in branch if experiment_encoder(config, e) != world_encoder]
    same_encoder = [e for e in branch if e not in encoders and e != capacity]
    fusion = [e for e in same_encoder if any(args(e).get(flag) for flag in FUSION_FLAGS)]
    banks = [e for e in same_encoder if int(args(e).get("world_num_hypotheses", 1)) > 1]
    variants = [e for e in same_encoder if e not in (*fusion, *banks)]
    return {
        "baseline": [e for e in (baseline(config),) if e],
        "capacity": [e for e in (capacity,) if e],
        "world": [e for e in (world,) if e],
        "fusion": fusion,
        "encoders": encoders,
        "imagination": banks,
        "variants": variants,
    }


def one_role_each(candidates: dict[str, list[str]]) -> dict:
    """Each arm in its first role of `candidates` (a fusion ablation that is also a bank is compared with the
    world arm once, as a fusion ablation, and what it changes names both): `Design`'s role values."""
    single = {f.name for f in fields(Design) if f.default is None}
    taken: set[str] = set()
    roles = {}
    for role, arms in candidates.items():
        mine = [arm for arm in arms if arm not in taken]
        taken |= set(mine)
        roles[role] = (mine[0] if mine else None) if role in single else tuple(mine)
    return roles


def analysis_design(config: dict) -> Design:
    """The roles of the experiments (`role_candidates`, one each) and the analysis thresholds; the verdicts'
    declarations checked against the roles filled here (`check_verdicts`), so a partial verdict fails the
    dry run."""
    analysis, experiments = config["analysis"], config["experiments"]
    candidates = role_candidates(config)
    roles = one_role_each(candidates)
    check_verdicts(set(roles))
    world = roles["world"]
    world_encoder = experiment_encoder(config, world) if world else config["world"]["encoder"]

    def args(exp: str | None) -> dict:
        return experiments[exp].get("policy_args", {}) if exp else {}

    changes = {}
    for exp in [*roles["fusion"], *roles["encoders"]]:
        labels = [label for flag, label in FUSION_FLAGS.items() if args(exp).get(flag)]
        if exp in candidates["imagination"]:
            labels.append(f"an imagination bank of {args(exp)['world_num_hypotheses']} hypotheses")
        if exp in roles["encoders"]:
            labels.insert(0, f"latents of {experiment_encoder(config, exp)} instead of {world_encoder}")
        changes[exp] = " and ".join(labels)
    changes |= {exp: _differences(args(exp), args(world)) for exp in roles["variants"]}
    read = {role for verdict in VERDICTS for role in verdict.roles}
    covered = {arm for role, value in roles.items() if role in read for arm in _arms(value)}
    return Design(
        **roles,
        uncovered=tuple(e for e in experiments if e not in covered),
        changes=changes,
        settings=Settings(**{f.name: analysis[f.name] for f in fields(Settings) if f.name in analysis}),
    )


def _arms(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,) if value else ()


def check_verdicts(assigned: set[str]) -> None:
    """Every verdict declared whole (`wmvla.design.VERDICTS`): id, question, unit, method, a function its
    module defines (read from the source, not imported), roles that are `Design` fields and filled here,
    known families — and every role filled here a `Design` field. Each problem is one line naming it."""
    roles = set(role_fields())
    if extra := sorted(assigned - roles):
        raise DesignError(f"wmvla.study.design assigns role {extra[0]!r}, which wmvla.design.Design has no "
                          "field for: add the field (DESIGN.md §9)")  # fmt: skip
    if unfilled := [r for r in role_fields() if r not in assigned]:
        raise DesignError(f"wmvla.design.Design has role {unfilled[0]!r}, which wmvla.study.design assigns "
                          "no arm: fill it in role_candidates (DESIGN.md §9)")  # fmt: skip
    seen: set[str] = set()
    for v in VERDICTS:
        where = f"verdict {v.id or '(no id)'} (wmvla.design.VERDICTS)"
        for piece in ("id", "question", "unit", "method", "function"):
            if not getattr(v, piece):
                raise DesignError(f"{where} declares no {piece}")
        if v.id in seen:
            raise DesignError(f"{where} is declared twice")
        seen.add(v.id)
        read = [
            *v.roles,
            *(role for _, role in v.compares),
            *([v.each] if v.each not in ("", PERTURBATION) else []),
        ]
        if fieldless := [role for role in read if role not in roles]:
            raise DesignError(f"{where} reads role {fieldless[0]!r}, which wmvla.design.Design has no field")
        if unknown := [f for f, _ in v.compares if f not in FAMILIES]:
            raise DesignError(
                f"{where} compares in family {unknown[0]!r}; the families: {', '.join(FAMILIES)}"
            )
        module, _, name = v.function.rpartition(".")
        if name not in top_level_names(module):
            raise DesignError(f"{where} names function {v.function}, which {module} does not define")


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


def design_warnings(config: dict) -> list[str]:
    """Every warning the DAG gives about the design: arms no verdict reads, arms that repeat another."""
    return [*uncovered_warnings(config), *duplicate_warnings(config)]
