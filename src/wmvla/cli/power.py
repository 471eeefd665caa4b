"""`wmvla power --configfile <study config>`: what each verdict would say, and how often, if the named effects
were true — planted studies of the config's own arms, suites, seeds, tasks, episodes and perturbations
through the real tables and verdicts — beside the GPU-hours the cost forecast gives for the same config: the
trade-off of seeds against cost and power, before the budget is spent."""

import argparse
import json
import logging
import os
import resource
import time
from pathlib import Path

from wmvla.cli.parsing import command

log = logging.getLogger("wmvla")
HELP_EFFECT = (
    "ARM[/MODE][@PLACE]=±SR, repeatable: a success-rate difference planted on ARM (0.03 = 3 points), in "
    "rollout MODE (default: as trained), at PLACE: nothing (every plain suite), a suite (E2@libero_10=+0.10: "
    "wins over an effect of every suite), a perturbation (E2@lan=+0.10: under lan in every suite) or a "
    "perturbed suite (E2@libero_10_lan=+0.10). An effect under a perturbation is the arm's whole difference "
    "there: E2=+0.03 alone leaves E2 at E0's level under every perturbation (an interaction of −0.03)"
)
HELP_SD = (
    "[SUITE=]SD, repeatable: the between-run sd on the LOGIT scale — a training run's own offset (and 2×SD "
    "per run and task); 0.1 moves a 90%% suite by about a point. Without a suite: every suite's (default 0.1)"
)
HELP_LEVEL = (
    "PLACE=SR, repeatable: a success rate of an arm with nothing planted — a suite (default: SmolVLA's "
    "published LIBERO rates, wmvla.analysis.planted.SUITE_LEVELS), a perturbation in every suite, or a "
    "perturbed suite. Default under perturbation: lan and object keep 90%% of the plain rate, swap and task "
    "are at 0 (LIBERO-PRO's published policies keep 0.79-0.98 under lan/object, fall to ~0 under swap/task)"
)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _config(args: argparse.Namespace) -> dict:
    from wmvla.study.config import load_study_config

    config = load_study_config(args.configfile)
    if args.seeds is not None:
        config["seeds"] = list(range(args.seeds))
    return config


def _plan(args: argparse.Namespace, config: dict):
    from wmvla.analysis.power import Plan, PowerError, parse_effect, parse_setting
    from wmvla.sim.perturbations import PLAIN

    levels, run_sd, suite_sd = {}, 0.1, {}
    for text in args.level:
        if "=" not in text:
            raise PowerError(f"level {text!r}: expected PLACE=SR, e.g. libero_10=0.6 or lan=0.8")
        suites, kind, value = parse_setting(text, config, "level", 1)
        levels |= {(kind, s): value for s in suites}
    for text in args.run_sd:
        suites, kind, value = parse_setting(text, config, "run sd", 5)
        if kind != PLAIN:
            raise PowerError(f"run sd {text!r}: a between-run sd is a plain suite's (or every suite's)")
        if "=" in text:
            suite_sd |= dict.fromkeys(suites, value)
        else:
            run_sd = value
    effects = [parse_effect(text, config) for text in args.effect]
    return Plan(effects, levels, run_sd, suite_sd)


def _cost(config: dict, gpus: int) -> dict:
    """The forecast's GPU-hours for the config, and where each GPU rule's time per job comes from."""
    from wmvla.analysis.names import figure_names
    from wmvla.study.config import baseline, perturbation_kinds
    from wmvla.study.cost import study_cost

    figures = len(figure_names(config["experiments"], baseline(config), perturbation_kinds(config)))
    cost = study_cost(config, figures, gpus)
    return {
        "gpu_hours": cost.total("gpu_hours"),
        "cpu_hours": cost.total("cpu_hours"),
        "wall_hours": cost.wall_hours(),
        "gpus": gpus,
        "sources": {r.rule: r.source for r in cost.rules if r.limit_s is not None},
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tasks(config: dict) -> dict[str, int]:
    from wmvla.study.resources import eval_tasks

    return {s: eval_tasks(config, s) for s in config["suites"]}


def _header(result: dict) -> list[str]:
    s = result["study"]
    shape = f"{'/'.join(map(str, s['tasks'].values()))} task(s) × {s['episodes']} episode(s)"
    if s["perturbations"]:
        shape += f"; perturbations {', '.join(s['perturbations'])} of {', '.join(s['perturbed_arms'])}"
    sds = "".join(f", {k} {v}" for k, v in result["suite_run_sd"].items())
    return [
        f"study {s['name']}: {s['arms']} arms, {len(s['suites'])} suite(s) × {s['seeds']} seed(s) × {shape}",
        f"planted: {'; '.join(result['effects']) or 'nothing'}; run sd {result['run_sd']}{sds} (logit; 2× "
        "per run and task)",
        f"levels ({', '.join(result['levels'])}): "
        + "; ".join(
            f"{suite} " + " ".join(f"{at[suite]:.2f}" for at in result["levels"].values())
            for suite in s["suites"]
        ),
        f"{result['studies']} planted studies (seed {result['seed']}) in {result['seconds']:.0f} s "
        f"({result['cpu_seconds']:.0f} CPU-s on {result['workers']} workers)",
    ]


def _lines(result: dict) -> list[str]:
    from wmvla.analysis.power import LABELS  # here: every `wmvla` command would load pandas and scipy

    widths = dict(zip(LABELS, (11, 14, 14, 16), strict=True))
    head = "".join(f"{k:>{w}s}" for k, w in widths.items())
    lines = [*_header(result), f"{'verdict':24s}{head}{'false claim':>13s}"]
    for vid, shares in result["shares"].items():
        row = "".join(f"{shares[k]:>{w}.0%}" for k, w in widths.items())
        lines.append(f"{vid:24s}{row}{result['false_claims'][vid]:>13.0%}")
    lines += [
        "false claim: a claim the planted truth denies (higher or lower where the planted difference is not "
        "so, equivalent beyond the margin, a memory that matters where no ablation's effect is planted)",
        "a verdict not assessable in every study may read what planted studies do not draw (training metrics,"
        " offline checks)",
    ]
    cost, sources = result["cost"], result["cost"]["sources"]
    limits = sorted(rule for rule, source in sources.items() if source == "limit")
    source = " — forecast from the rates the gates measured"
    if limits:
        which = "every job" if len(limits) == len(sources) else ", ".join(limits)
        source = f" — {which} at the config's runtime limit (an upper bound: no gate has measured its rates)"
    lines.append(
        f"cost: {cost['gpu_hours']:,.0f} GPU-hours, {cost['cpu_hours']:,.0f} CPU-hours, "
        f"~{cost['wall_hours']:,.0f} h wall on {cost['gpus']} GPUs"
        + source
        + "; `wmvla cost` shows each rule"
    )
    return lines


def _power(args: argparse.Namespace) -> None:
    from wmvla.analysis.power import (
        false_shares,
        many_reports,
        planted_from_config,
        study_pool,
        verdict_shares,
    )
    from wmvla.sim.perturbations import PLAIN
    from wmvla.study.config import perturbed_arms
    from wmvla.study.design import analysis_design

    config = _config(args)
    plan = _plan(args, config)
    study = planted_from_config(config, plan, _tasks(config))
    start, cpu, workers = time.monotonic(), _children_cpu(), args.workers or os.cpu_count() or 1
    design = analysis_design(config)
    with study_pool(workers) as pool:
        reports = many_reports(pool, study, design, args.studies, args.seed)
    levels = {PLAIN: study.levels, **study.perturbed}
    result = {
        "study": {
            "name": config["study"],
            "arms": len(study.arms),
            "suites": list(study.levels),
            "seeds": study.seeds,
            "tasks": {s: study.n_tasks(s) for s in study.levels},
            "episodes": study.init_states,
            "perturbations": list(study.perturbed),
            "perturbed_arms": perturbed_arms(config),
        },
        "effects": args.effect,
        "run_sd": plan.run_sd,
        "suite_run_sd": plan.suite_run_sd,
        "levels": levels,
        "studies": args.studies,
        "seed": args.seed,
        "seconds": time.monotonic() - start,
        "cpu_seconds": _children_cpu() - cpu,  # the workers', start-up included
        "workers": workers,
        "shares": verdict_shares(reports),
        "false_claims": false_shares(reports, study, design.settings),
        "cost": _cost(config, args.gpus),
    }
    print(json.dumps(result, indent=1) if args.json else "\n".join(_lines(result)))


def register(groups: argparse._SubParsersAction) -> None:
    p = command(
        groups, "power", _power, "each verdict's shares on planted studies of a config, and its GPU-hours"
    )
    p.add_argument("--configfile", type=Path, required=True, help="the study config, e.g. config/config.yaml")
    p.add_argument("--effect", action="append", default=[], help=HELP_EFFECT)
    p.add_argument("--run-sd", action="append", default=[], help=HELP_SD)
    p.add_argument("--level", action="append", default=[], help=HELP_LEVEL)
    p.add_argument(
        "--seeds", type=_positive, default=None, help="training seeds per arm and suite (default: config's)"
    )
    p.add_argument("--studies", type=_positive, default=200, help="planted studies drawn (default 200)")
    p.add_argument("--seed", type=int, default=0, help="draw i of the studies is seeded (seed, i)")
    p.add_argument("--workers", type=_positive, default=None, help="processes (default: every core)")
    p.add_argument("--gpus", type=int, default=8, help="GPUs the study may use at once (for the wall time)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
