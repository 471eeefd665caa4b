"""The study's design as the analysis needs it: which experiment plays which part, and the thresholds — the
one definition of the roles (DESIGN.md §6 "Roles").

Why explicit: the seed notes' criteria name roles — the baseline (E0), the capacity control (E1), the
world arm (E2), the fusion ablations, the imagination banks, the world arm on another encoder's latents
(E2_cosmos: which world representation helps), and any other variant of the world arm — and the verdicts,
tables and figures must agree on them. The workflow fills a `Design` from the study config
(`wmvla.study.design`, while the DAG is built: a role it does not know fails the dry run) and hands it to
every analysis step as JSON, read back here field by field.
"""

import json
import typing
from dataclasses import asdict, dataclass, field, fields

from wmvla.errors import WmvlaError


class DesignError(WmvlaError, ValueError):
    """The analysis design cannot answer its questions as configured (e.g. a margin above the target)."""


@dataclass(frozen=True)
class Settings:
    """Thresholds of the analysis (config section `analysis:`); the rules they must obey, checked once here
    (the DAG builds one from the config, so a broken rule fails the dry run)."""

    alpha: float = 0.05  # family-wise error rate of each family of tests (weighted Holm)
    equivalence_margin: float = 0.02  # |SR difference| within which two arms count as equivalent (TOST)
    power: float = 0.8  # for the smallest detectable difference of a comparison
    target_difference: float = 0.02  # an inconclusive comparison says the seeds per suite this would need
    gate_open_threshold: float = 0.05  # |tanh g| at the end of training above which a gate counts as open
    # the overall difference's weight of each suite, fixed before any result; None: equal (the LIBERO average)
    suite_weights: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.equivalence_margin > self.target_difference:
            raise DesignError(
                f"analysis.equivalence_margin {self.equivalence_margin} exceeds analysis.target_difference "
                f"{self.target_difference}: a claim of no difference would call 'equivalent' the very "
                "differences the study sets out to detect; set the margin at most to the target"
            )
        if self.suite_weights is not None and (
            not self.suite_weights or any(not w > 0 for w in self.suite_weights.values())
        ):
            raise DesignError(
                f"analysis.suite_weights {self.suite_weights} must give each suite a positive weight (they "
                "are normalised to sum 1); leave it out for equal weights, the LIBERO average"
            )

    def missing_weights(self, suites: list[str]) -> list[str]:
        """The study's suites the configured weights leave out (none when the weights are equal)."""
        return [s for s in suites if self.suite_weights is not None and s not in self.suite_weights]


@dataclass(frozen=True)
class Design:
    baseline: str | None = None  # plain SmolVLA fine-tune every arm is paired against (E0)
    capacity: str | None = None  # the world branch without scene information (E1)
    world: str | None = None  # predicted futures, late injection (E2)
    fusion: tuple[str, ...] = ()  # F2, F3a, F3b: compared with the world arm
    encoders: tuple[str, ...] = ()  # the world arm on another encoder's latents: compared with it and E0
    imagination: tuple[str, ...] = ()  # imagination banks: compared with the world arm
    variants: tuple[str, ...] = ()  # any other world-branch arm on the world arm's latents: compared with it
    uncovered: tuple[str, ...] = ()  # arms no verdict reads (named when the DAG is built)
    changes: dict[str, str] = field(default_factory=dict)  # arm → what it changes relative to the world arm
    settings: Settings = field(default_factory=Settings)

    @property
    def versus_baseline(self) -> tuple[str, ...]:
        """The arms whose verdicts rest on a comparison with the baseline, as one family of tests: the
        capacity control (V1), the world arm (V4) and the encoder arms (V8)."""
        return tuple(self.compared_in(VS_BASELINE))

    @property
    def versus_world(self) -> list[str]:
        """The arms compared with the world arm, as one family of tests."""
        return self.compared_in(VS_WORLD)

    def arms(self, role: str) -> tuple[str, ...]:
        """The arms of one role (a role of one arm: that arm, or none)."""
        value = getattr(self, role)
        return tuple(value) if isinstance(value, tuple) else (value,) if value else ()

    def compared_in(self, family: str) -> list[str]:
        """The arms some verdict compares in `family` (its declaration's `compares`), in the order of the
        roles' fields, each once (an arm's one role puts it in a family once)."""
        placed = {role for v in VERDICTS for f, role in v.compares if f == family}
        found = [arm for role in role_fields() if role in placed for arm in self.arms(role)]
        return list(dict.fromkeys(found))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Design":
        """The design `to_json` wrote: every field by its declared type (a role list is a tuple)."""
        data = json.loads(text)
        hints = typing.get_type_hints(cls)
        values = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if hints[f.name] is Settings:
                value = Settings(**value)
            elif typing.get_origin(hints[f.name]) is tuple:
                value = tuple(value)
            values[f.name] = value
        if unknown := sorted(set(data) - set(values)):
            raise DesignError(f"the design names {unknown}, which are no fields of wmvla.design.Design")
        return cls(**values)


NOT_ROLES = ("uncovered", "changes", "settings")  # fields of `Design` that are no role


def role_fields() -> tuple[str, ...]:
    """The roles, in `Design`'s field order: the order of the arms in each family of tests."""
    return tuple(f.name for f in fields(Design) if f.name not in NOT_ROLES)


# The families of tests a verdict can compare an arm in (wmvla.analysis.comparisons, .perturbation build them)
VS_BASELINE, VS_WORLD, WORLD_VS_CAPACITY = "vs baseline", "vs world arm", "world arm vs capacity control"
ABLATIONS, UNDER_PERTURBATION = "rollout ablations", "under perturbation"
FAMILIES = (VS_BASELINE, VS_WORLD, WORLD_VS_CAPACITY, ABLATIONS, UNDER_PERTURBATION)
PERTURBATION = "perturbation"  # `each`: one verdict per perturbation the study evaluated
COMPARISON = "{comparison}"  # in a method: the study's comparison method (it names the suite weights)
RUN_UNIT = "training run (suite × seed)"
INTERACTION_METHOD = (
    "; under a perturbation, the same per-run-pair difference on the perturbed suite (the variant's own init "
    "states, identical for both arms) and the interaction, that difference minus the plain suite's for the "
    "same pair of checkpoints: its variance each run's change from plain to perturbed, pooled over the arms "
    "evaluated in both (one-way ANOVA on the arm), never below the two differences' sampling variances; "
    "every difference and interaction of every perturbation one family; suites where both arms are at 0% "
    "or 100% left out"
)


@dataclass(frozen=True)
class Criterion:
    """One verdict, declared once (DESIGN.md §6 "Verdicts"): the DAG checks it (`wmvla.study.design`), `wmvla
    design` shows it, the analysis runs it (`wmvla.analysis.verdicts`). `function` is named by its dotted
    path, so that this module and the DAG import no pandas: `f(tables, design)`, or with `each`
    `f(tables, design, arm_or_kind)`."""

    id: str  # V<n>; one per arm of `each`: V<n>.<arm>; one per perturbation: V<n>-<kind>
    question: str  # in the roles' words (each verdict's own question names the arms)
    roles: tuple[str, ...]  # the `Design` fields it reads
    unit: str  # what a replicate is
    method: str  # the statistics behind it (COMPARISON: the study's comparison method)
    function: str  # "wmvla.analysis.<module>.<function>"
    each: str = ""  # a role: one verdict per arm of it; PERTURBATION: one per perturbation evaluated
    compares: tuple[tuple[str, str], ...] = ()  # (family, role): the role's arms are tested in that family


V = "wmvla.analysis.verdicts."
ARM = "wmvla.analysis.arm_verdicts."
VERDICTS = (  # the report's order; V0 first: if the baseline does not work, nothing else is assessable
    Criterion("V0", "Does the baseline work (success > 0 in every suite)?", ("baseline",),
              "episode, pooled per suite", "success rate with its Wilson 95% interval (statsmodels)",
              V + "baseline_works"),
    Criterion("V1", "Is the capacity control equivalent to the baseline?", ("baseline", "capacity"),
              RUN_UNIT, COMPARISON, V + "capacity_equivalent", compares=((VS_BASELINE, "capacity"),)),
    Criterion("V2", "Does the world arm's gate open?", ("world",), "training run",
              "each run's final |tanh g| against the threshold, and its trend; runs counted",
              V + "gate_opens"),
    Criterion("V3", "Offline, does the true future help the world arm and noise not?", ("world",),
              "training run (its interval: held-out demonstrations)",
              "per run, the held-out action loss under each memory mode minus under predicted memory, with a "
              "bootstrap interval that resamples demonstrations (scipy); runs counted",
              V + "offline_ordering"),
    Criterion("V4", "Does the world arm beat the baseline, beyond capacity?",
              ("baseline", "capacity", "world"), RUN_UNIT, COMPARISON, V + "world_beats_baseline",
              compares=((VS_BASELINE, "world"), (WORLD_VS_CAPACITY, "world"))),
    Criterion("V5", "Does ablating the world arm's memory at rollout lower its success?", ("world",),
              RUN_UNIT, COMPARISON, V + "rollout_ablations_hurt", compares=((ABLATIONS, "world"),)),
    Criterion("V6", "Does a fusion ablation beat the world arm?", ("world", "fusion"), RUN_UNIT, COMPARISON,
              ARM + "fusion_vs_world", "fusion", ((VS_WORLD, "fusion"),)),
    Criterion("V7", "Does an imagination bank beat the world arm (attention sharpening)?",
              ("world", "imagination"), RUN_UNIT, COMPARISON, ARM + "bank_vs_world", "imagination",
              ((VS_WORLD, "imagination"),)),
    Criterion("V8", "Does the world arm on another encoder beat it (and the baseline)?",
              ("baseline", "world", "encoders"), RUN_UNIT, COMPARISON, ARM + "encoder_vs_world", "encoders",
              ((VS_WORLD, "encoders"), (VS_BASELINE, "encoders"))),
    Criterion("V9", "Does a variant of the world arm beat it?", ("world", "variants"), RUN_UNIT, COMPARISON,
              ARM + "variant_vs_world", "variants", ((VS_WORLD, "variants"),)),
    Criterion("V10", "Under a perturbation, does the world arm's advantage grow, and hold?",
              ("baseline", "world"), RUN_UNIT, COMPARISON + INTERACTION_METHOD,
              "wmvla.analysis.perturbation_verdicts.perturbation_verdict", PERTURBATION,
              ((UNDER_PERTURBATION, "world"),)),
)  # fmt: skip
