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
    imagination: tuple[str, ...] = ()  # imagination banks: compared with the world arm
    encoders: tuple[str, ...] = ()  # the world arm on another encoder's latents: compared with it and E0
    variants: tuple[str, ...] = ()  # any other world arm on the world arm's latents: compared with it
    uncovered: tuple[str, ...] = ()  # arms no verdict reads (named when the DAG is built)
    changes: dict[str, str] = field(default_factory=dict)  # arm → what it changes relative to the world arm
    settings: Settings = field(default_factory=Settings)

    @property
    def versus_baseline(self) -> tuple[str, ...]:
        """The arms whose verdicts rest on a comparison with the baseline, as one family of tests: the
        capacity control (V1), the world arm (V4) and the encoder arms (V8)."""
        return tuple(e for e in (self.capacity, self.world, *self.encoders) if e is not None)

    @property
    def versus_world(self) -> list[str]:
        """The arms compared with the world arm, as one family of tests."""
        return [*self.fusion, *self.encoders, *self.imagination, *self.variants]

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
