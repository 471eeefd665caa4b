"""Power before spending: planted studies of a config's own design (its arms and rollout modes, suites, seeds,
tasks, episodes and perturbations), with effects the user names, run through the real tables and verdicts —
what each verdict would say, and how often, if the world were as planted.

Why here: one generator serves the tests' promises (tests/planted.py calls it) and `wmvla power`, so what a
user sees of a design is what the tests check. The config is read as a plain dict; its design (the roles,
`wmvla.study.design`) and the tasks per suite are given by the caller (this layer does not import the DAG's).
"""

import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wmvla.analysis.claims import EQUIVALENT, EVERY_SCOPE, HIGHER, IGNORED, LOWER, MATTERS, NOT_HIGHER, split
from wmvla.analysis.evidence import OVERALL
from wmvla.analysis.planted import SUITE_LEVELS, PlantedStudy
from wmvla.design import Design, Settings
from wmvla.errors import WmvlaError
from wmvla.sim.perturbations import PLAIN

COMPARISON_TABLES = ("paired", "ablations", "vs_world")
LABELS = ("supported", "contradicted", "inconclusive", "not assessable")
# The share of a suite's plain success rate each LIBERO-PRO perturbation keeps, by default. LIBERO-PRO's
# published policies (OpenVLA, π0) keep 0.79-0.98 under lan and object, and fall to about 0 under swap and
# task; SmolVLA's figures are not published, so the middle of that range for the first two and the floor for
# the others (a floor is left out of the tests and named: give --level to plant headroom there).
PERTURBED_KEEPS = {"lan": 0.9, "object": 0.9, "swap": 0.0, "task": 0.0}
_EFFECT = re.compile(r"(?P<arm>[^/@=]+)(?:/(?P<mode>[^@=]+))?(?:@(?P<where>[^=]+))?=(?P<value>.+)")


class PowerError(WmvlaError, ValueError):
    """An effect, level or sd the config's design cannot take (unknown arm, suite, mode or perturbation)."""


@dataclass(frozen=True)
class Effect:
    """`value` added to `arm`'s success rate (rollout `mode`) in `suites`, plain or under `kind`."""

    arm: str
    mode: str
    suites: tuple[str, ...]
    kind: str  # PLAIN or a perturbation
    value: float
    specific: bool  # names one suite: wins over an effect of every suite, whatever the order given


def config_arms(config: dict) -> dict[str, tuple[str, ...]]:
    """Each arm of the config with its rollout modes (the trained one first)."""
    return {exp: tuple(spec["eval_modes"]) for exp, spec in config["experiments"].items()}


def _kinds(config: dict) -> tuple[list[str], list[str]]:
    perturbations = config.get("perturbations") or {}
    kinds = list(perturbations.get("kinds", []))
    return kinds, list(perturbations.get("experiments", [])) if kinds else []


def _where(where: str | None, suites: list[str], kinds: list[str], text: str) -> tuple[tuple[str, ...], str]:
    """The suites and perturbation a place names: nothing (every plain suite), a suite, a perturbation (every
    suite under it), or a perturbed suite `<suite>_<kind>`."""
    if where is None:
        return tuple(suites), PLAIN
    if where in suites:
        return (where,), PLAIN
    if where in kinds:
        return tuple(suites), where
    for suite in suites:
        kind = where.removeprefix(suite + "_")
        if where.startswith(suite + "_") and kind in kinds:
            return (suite,), kind
    raise PowerError(
        f"{text}: unknown place {where!r}; the config has suites {', '.join(suites)}"
        + (f", perturbations {', '.join(kinds)} and perturbed suites <suite>_<kind>" if kinds else "")
    )


def _value(raw: str, text: str, what: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise PowerError(f"{text}: {what} must be a number in [{low:g}, {high:g}], got {raw!r}")
    return value


def parse_effect(text: str, config: dict) -> Effect:
    """`ARM[/MODE][@PLACE]=±SR`: e.g. E2=+0.03, E2@libero_10=+0.10, E2/zero@libero_spatial=-0.05,
    E2@lan=+0.10, E2@libero_10_lan=+0.10 (a success-rate difference, 0.03 = 3 points)."""
    match = _EFFECT.fullmatch(text.strip())
    if not match:
        raise PowerError(f"effect {text!r}: expected ARM[/MODE][@SUITE|KIND|SUITE_KIND]=±SR, e.g. E2=+0.03")
    arms, (kinds, perturbed_arms) = config_arms(config), _kinds(config)
    arm, mode = match["arm"], match["mode"]
    if arm not in arms:
        raise PowerError(f"effect {text!r}: unknown arm {arm!r}; the config's arms: {', '.join(arms)}")
    suites, kind = _where(match["where"], list(config["suites"]), kinds, f"effect {text!r}")
    if kind == PLAIN and mode is not None and mode not in arms[arm]:
        raise PowerError(f"effect {text!r}: {arm} is evaluated in modes {', '.join(arms[arm])}, not {mode!r}")
    if kind != PLAIN and mode not in (None, "pred"):
        raise PowerError(f"effect {text!r}: a perturbed evaluation rolls out as trained (pred) only")
    if kind != PLAIN and arm not in perturbed_arms:
        raise PowerError(
            f"effect {text!r}: {arm} is not evaluated under perturbations (perturbations.experiments: "
            f"{', '.join(perturbed_arms)})"
        )
    value = _value(match["value"], f"effect {text!r}", "a success-rate difference", -1, 1)
    return Effect(arm, mode or arms[arm][0], suites, kind, value, match["where"] not in (None, *kinds))


def parse_setting(text: str, config: dict, what: str, high: float) -> tuple[tuple[str, ...], str, float]:
    """`[PLACE=]X` (--run-sd, --level): the suites and perturbation it is for, and its value."""
    place, _, raw = text.rpartition("=")
    kinds, _ = _kinds(config)
    suites, kind = _where(place or None, list(config["suites"]), kinds, f"{what} {text!r}")
    return suites, kind, _value(raw, f"{what} {text!r}", what, 0, high)


def plain_levels(suites: Iterable[str], given: dict[str, float]) -> dict[str, float]:
    """Each suite's success rate: as given, else SmolVLA's published one."""
    levels = {}
    for suite in suites:
        if suite not in given and suite not in SUITE_LEVELS:
            raise PowerError(f"no published success rate of {suite}: give one with --level {suite}=<SR>")
        levels[suite] = given.get(suite, SUITE_LEVELS.get(suite))
    return levels


@dataclass(frozen=True)
class Plan:
    """What a planted study of a config varies: effects, levels and between-run sds as the user gave them."""

    effects: Sequence[Effect] = ()
    levels: dict[tuple[str, str], float] = field(default_factory=dict)  # (kind or PLAIN, suite) → SR
    run_sd: float = 0.1  # logit sd of a training run's offset (2x per run and task)
    suite_run_sd: dict[str, float] = field(default_factory=dict)


def planted_from_config(
    config: dict, plan: Plan, tasks: dict[str, int], seeds: int | None = None
) -> PlantedStudy:
    """The planted study of the config's own arms, suites, seeds (or `seeds`), tasks per suite (`tasks`, as
    eval.task_ids narrows them), episodes per task and perturbations, with the plan's effects."""
    suites = list(config["suites"])
    kinds, perturbed_arms = _kinds(config)
    levels = plain_levels(suites, {s: v for (k, s), v in plan.levels.items() if k == PLAIN})
    perturbed = {
        kind: {s: plan.levels.get((kind, s), levels[s] * PERTURBED_KEEPS.get(kind, 1.0)) for s in suites}
        for kind in kinds
    }
    effect: dict[tuple[str, str], dict[str, float]] = {}
    perturbed_effect: dict[tuple[str, str], dict[str, float]] = {}
    for e in sorted(plan.effects, key=lambda e: e.specific):  # a named suite wins over "every suite"
        at = levels if e.kind == PLAIN else perturbed[e.kind]
        _check_room(e, {s: at[s] for s in e.suites})
        planted = effect if e.kind == PLAIN else perturbed_effect
        planted.setdefault((e.arm, e.mode if e.kind == PLAIN else e.kind), {}).update(
            dict.fromkeys(e.suites, e.value)
        )
    return PlantedStudy(
        arms=config_arms(config),
        levels=levels,
        run_sd=plan.run_sd,
        suite_run_sd=dict(plan.suite_run_sd),
        effect=effect,
        seeds=len(config["seeds"]) if seeds is None else seeds,
        suite_tasks={s: tasks[s] for s in suites},
        init_states=int(config["eval"]["n_episodes"]),
        perturbed=perturbed,
        perturbed_arms=tuple(perturbed_arms),
        perturbed_effect=perturbed_effect,
    )


def _check_room(effect: Effect, levels: dict[str, float]) -> None:
    """An effect must leave the success rate inside (0, 1), with a margin for the tasks' spread around it; a
    floor or a ceiling (a perturbation's default swap and task) leaves no room."""
    place = effect.kind
    for suite, level in levels.items():
        if not 0 < level < 1:
            named = suite if effect.kind == PLAIN else f"{suite}_{effect.kind}"
            raise PowerError(
                f"effect of {effect.arm} in {named}: its level is {level:.0%} (a floor or ceiling leaves "
                f"nothing to plant); give one, e.g. --level {named}=0.3 or --level {effect.kind}=0.3"
            )
        if not 0.005 < level + effect.value < 0.995:
            raise PowerError(
                f"effect {effect.value:+.3f} of {effect.arm} in {suite} ({place}) moves its level "
                f"{level:.2f} out of (0, 1)"
            )


@dataclass(frozen=True)
class Report:
    """What one planted study's report says: its verdicts, and the comparison rows they were read from."""

    verdicts: pd.DataFrame
    comparisons: pd.DataFrame

    def verdict(self, vid: str) -> str:
        return self.verdicts.set_index("id").loc[vid, "verdict"]

    def reason(self, vid: str) -> str:
        return self.verdicts.set_index("id").loc[vid, "reason"]


def study_report(study: PlantedStudy, design: Design, seed: int | list[int]) -> Report:
    """One draw of the planted study through the project's tables and verdicts."""
    from wmvla.analysis.report import verdict_tables
    from wmvla.analysis.verdicts import verdicts

    tables = verdict_tables(study.episodes(np.random.default_rng(seed)), design)
    rows = pd.concat([tables[name] for name in COMPARISON_TABLES if not tables[name].empty])
    return Report(verdicts(tables, design), rows.reset_index(drop=True))


def study_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """Every core: fresh processes (spawned: a caller may hold torch and its threads)."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers or os.cpu_count() or 1, mp_context=context)


def many_reports(
    pool: ProcessPoolExecutor, study: PlantedStudy, design: Design, studies: int, seed: int
) -> list[Report]:
    """The reports of `studies` independent draws of the planted study (draw i from seed (seed, i))."""
    draws = [pool.submit(study_report, study, design, [seed, i]) for i in range(studies)]
    return [draw.result() for draw in draws]


def verdict_shares(reports: Sequence[Report]) -> dict[str, dict[str, float]]:
    """Each verdict's share of reports per label (supported, contradicted, inconclusive, not assessable), in
    the reports' order of verdicts."""
    counts: dict[str, Counter] = {}
    for report in reports:
        for row in report.verdicts.itertuples():
            counts.setdefault(row.id, Counter())[row.verdict] += 1
    return {vid: {label: c[label] / len(reports) for label in LABELS} for vid, c in counts.items()}


def _planted(study: PlantedStudy, subject: str, suite: str) -> float | None:
    """The planted difference of a comparison's subject in `suite` ("E2 vs E0", "E2/zero vs E2", "E2 vs E0
    under lan", "E2 vs E0: lan − plain"); None for a subject that is no comparison of two arms."""
    head, _, contrast = subject.partition(": ")
    head, _, under = head.partition(" under ")
    arm, _, ref = head.partition(" vs ")
    if not ref:
        return None

    def effect(side: str, kind: str) -> float:
        exp, _, mode = side.partition("/")
        if kind != PLAIN:
            return study.perturbed_effect.get((exp, kind), {}).get(suite, 0.0)
        return study.effect.get((exp, mode or study.arms[exp][0]), {}).get(suite, 0.0)

    def difference(kind: str) -> float:
        return effect(arm, kind) - effect(ref, kind)

    if contrast:
        return difference(contrast.removesuffix(" − plain")) - difference(PLAIN)
    return difference(under or PLAIN)


def _truths(study: PlantedStudy, subject: str, scope: str, weights: dict[str, float] | None) -> list[float]:
    """The planted differences a claim's scope covers: a suite's, the overall one (the suites' fixed-weight
    average), or both for every scope. A memory's subject: each ablation's difference from the trained
    mode."""
    suites = list(study.levels)
    if subject.startswith("memory of "):
        exp = subject.removeprefix("memory of ")
        subjects = [f"{exp}/{mode} vs {exp}" for mode in study.arms[exp][1:]]
    else:
        subjects = [subject]
    w = np.array([weights.get(s, 0.0) for s in suites]) if weights else np.ones(len(suites))
    out = []
    for name in subjects:
        per_suite = [_planted(study, name, s) for s in suites]
        if None in per_suite:
            return []
        overall = float(np.dot(w, per_suite) / w.sum())
        scoped = {OVERALL: [overall], EVERY_SCOPE: [overall, *per_suite]}
        out += scoped.get(scope, [per_suite[suites.index(scope)]] if scope in suites else [])
    return out


def false_verdicts(report: Report, study: PlantedStudy, settings: Settings) -> set[str]:
    """The verdicts of a report that claim what the planted truth denies: higher or lower where the planted
    difference is not so, equivalent where it exceeds the margin, a memory that matters where no ablation's
    effect is planted, or ignored where one is. 'Not shown higher' speaks of the evidence, not the truth."""
    false = set()
    for row in report.verdicts.itertuples():
        for claim in split(row.claims):
            truths = _truths(study, claim.subject, claim.scope, settings.suite_weights)
            if not truths or claim.relation == NOT_HIGHER:
                continue
            wrong = {
                HIGHER: any(t <= 0 for t in truths),
                LOWER: any(t >= 0 for t in truths),
                EQUIVALENT: any(abs(t) > settings.equivalence_margin for t in truths),
                MATTERS: all(t == 0 for t in truths),
                IGNORED: any(t != 0 for t in truths),
            }
            if wrong.get(claim.relation, False):
                false.add(row.id)
    return false


def false_shares(reports: Sequence[Report], study: PlantedStudy, settings: Settings) -> dict[str, float]:
    """Each verdict's share of reports in which it claims what the planted truth denies."""
    counts = Counter(vid for report in reports for vid in false_verdicts(report, study, settings))
    return {vid: counts[vid] / len(reports) for vid in dict.fromkeys(reports[0].verdicts["id"])}
