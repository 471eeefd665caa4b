"""What a study config will answer, before it runs (`wmvla design`): every arm with its role(s), the verdicts
and families of tests it enters, each family's size, and the perturbation axis — from the same `Design` and
verdict declarations the DAG hands the analysis (DESIGN.md §6 "Roles"), at dry-run speed.

A family's size is its number of tests, which its error budget is shared over: arms × scopes, a scope being
the overall test plus one per suite when the study has several (`wmvla.analysis.comparisons.scopes`); the
perturbation family tests a difference and an interaction per kind (`wmvla.analysis.perturbation`).
"""

from dataclasses import asdict, dataclass

from wmvla.design import (
    ABLATIONS,
    PERTURBATION,
    UNDER_PERTURBATION,
    VERDICTS,
    VS_BASELINE,
    VS_WORLD,
    WORLD_VS_CAPACITY,
    Design,
    role_fields,
)
from wmvla.study.config import perturbation_kinds, perturbed_arms, perturbed_runs
from wmvla.study.design import ROLE_LABELS, analysis_design, design_warnings, role_candidates

FAMILY_ORDER = (VS_BASELINE, ABLATIONS, VS_WORLD, WORLD_VS_CAPACITY, UNDER_PERTURBATION)
OTHERS = "other arms vs baseline"  # described, read by no verdict: it dilutes no verdict's family


@dataclass(frozen=True)
class Family:
    name: str  # as the comparison tables name it
    members: list[str]  # "exp" or "exp mode", each tested against `reference`
    reference: str
    tests: int
    verdicts: list[str]


@dataclass(frozen=True)
class Arm:
    name: str
    roles: list[str]  # its one role first; roles its settings also give it after
    verdicts: list[str]
    families: list[str]


def _verdict_ids(design: Design, kinds: list[str], role: str, exp: str) -> list[str]:
    """The verdicts an arm of `role` enters: as their subject (V6.F2) or read by them (V10-lan; V6 ×4: each
    of the 4 fusion ablations' verdicts reads the world arm)."""
    ids = []
    for v in VERDICTS:
        if v.each == PERTURBATION and role in v.roles:
            ids += [f"{v.id}-{kind}" for kind in kinds]
        elif v.each == role:
            ids.append(f"{v.id}.{exp}")
        elif v.each and role in v.roles and (n := len(design.arms(v.each))):
            ids.append(f"{v.id}.{design.arms(v.each)[0]}" if n == 1 else f"{v.id} ×{n}")
        elif not v.each and role in v.roles:
            ids.append(v.id)
    return ids


def families(config: dict, design: Design) -> list[Family]:
    """Every family of tests the analysis will run on this config, with its size."""
    suites, kinds = config["suites"], perturbation_kinds(config)
    scopes = 1 + len(suites) if len(suites) > 1 else 1
    modes = {exp: spec["eval_modes"] for exp, spec in config["experiments"].items()}
    read = {family: [v.id for v in VERDICTS if family in dict(v.compares)] for family in FAMILY_ORDER}
    found = []
    b, w, c = design.baseline, design.world, design.capacity
    if b:
        confirm = design.compared_in(VS_BASELINE)
        found.append(Family(VS_BASELINE, confirm, b, len(confirm) * scopes, read[VS_BASELINE]))
        other = [
            e if m == "pred" else f"{e} {m}" for e, ms in modes.items() for m in ms if (e, m) != (b, "pred")
        ]
        other = [x for x in other if x not in confirm]
        found.append(Family(OTHERS, other, b, len(other) * scopes, []))
    ablated = [f"{e} {m}" for e, ms in modes.items() if "pred" in ms for m in ms if m != "pred"]
    found.append(Family(ABLATIONS, ablated, "its pred", len(ablated) * scopes, read[ABLATIONS]))
    if w:
        others = design.compared_in(VS_WORLD)
        found.append(Family(f"vs {w}", others, w, len(others) * scopes, read[VS_WORLD]))
        if c:
            found.append(Family(f"{w} vs {c}", [w], c, scopes, read[WORLD_VS_CAPACITY]))
    if w and b and kinds and {w, b} <= set(perturbed_arms(config)):
        under = [f"{w} under {k}" for k in kinds]  # each: the difference and the interaction
        found.append(Family(UNDER_PERTURBATION, under, b, 2 * len(under) * scopes, read[UNDER_PERTURBATION]))
    return [f for f in found if f.members]


def overview(config: dict) -> dict:
    """The config's design as data (`--json`): arms, families, the perturbation axis, the warnings."""
    design, candidates = analysis_design(config), role_candidates(config)
    kinds = perturbation_kinds(config)
    found = families(config, design)
    arms = []
    for exp in config["experiments"]:
        roles = [r for r in role_fields() if exp in design.arms(r)]
        also = [r for r in role_fields() if exp in candidates[r] and r not in roles]
        ids = [i for r in roles for i in _verdict_ids(design, kinds, r, exp)]
        enters = [f.name for f in found if exp == f.reference or any(m.split()[0] == exp for m in f.members)]
        labels = [ROLE_LABELS.get(r, r) for r in roles] + [f"also {ROLE_LABELS.get(r, r)}" for r in also]
        arms.append(Arm(exp, labels, ids, enters))
    return {
        "study": config["study"],
        "suites": list(config["suites"]),
        "seeds": list(config["seeds"]),
        "arms": [asdict(a) for a in arms],
        "families": [asdict(f) for f in found],
        "perturbations": {
            "kinds": kinds,
            "arms": perturbed_arms(config),
            "evaluations": len(perturbed_runs(config)),
        },
        "warnings": design_warnings(config),
    }
