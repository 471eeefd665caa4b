"""What a verdict asserts, as data (DESIGN.md §6 "Verdicts").

Why: two verdicts of one report must never contradict each other, and prose cannot be checked for that. Each
verdict lists its claims — a relation of a subject in a scope, read from the typed findings of the tables —
and the report's consistency is decided on these: two claims conflict when they speak of the same subject in
overlapping scopes with incompatible relations.
"""

from dataclasses import dataclass

HIGHER, LOWER, EQUIVALENT, NOT_HIGHER = "higher", "lower", "equivalent", "not shown higher"
MATTERS, IGNORED = "matters", "ignored"  # of a policy's memory at rollout
EVERY_SCOPE = "every scope"  # overall and every suite
INCOMPATIBLE = {
    frozenset({HIGHER, LOWER}),
    frozenset({HIGHER, EQUIVALENT}),
    frozenset({LOWER, EQUIVALENT}),
    frozenset({HIGHER, NOT_HIGHER}),
    frozenset({MATTERS, IGNORED}),
}
INFERRED = " (inferred)"


@dataclass(frozen=True)
class Claim:
    """`subject` (a comparison, "E2/zero vs E2", or "memory of E2") stands in `relation` in `scope` (overall,
    a suite, or every scope). An inferred claim is drawn from a reading of other claims (E2's gain credited to
    its memory) and yields to a measured one."""

    subject: str
    scope: str
    relation: str
    inferred: bool = False

    def __str__(self) -> str:
        return f"{self.subject} @ {self.scope}: {self.relation}" + (INFERRED if self.inferred else "")

    @classmethod
    def parse(cls, text: str) -> "Claim":
        inferred = text.endswith(INFERRED)
        head, relation = text.removesuffix(INFERRED).rsplit(": ", 1)
        subject, scope = head.split(" @ ", 1)
        return cls(subject, scope, relation, inferred)


def conflict(a: Claim, b: Claim) -> bool:
    """Whether `a` and `b` cannot both hold."""
    overlapping = a.scope == b.scope or EVERY_SCOPE in (a.scope, b.scope)
    return a.subject == b.subject and overlapping and frozenset({a.relation, b.relation}) in INCOMPATIBLE


def join(claims: tuple[Claim, ...]) -> str:
    """As the verdicts table stores them: one string, claims separated by '; '."""
    return "; ".join(map(str, claims))


def split(text: str) -> list[Claim]:
    return [Claim.parse(part) for part in text.split("; ")] if isinstance(text, str) and text else []
