"""`wmvla design`: what a study config will answer before it runs — every arm's role(s), the verdicts and
families of tests it enters, each family's size, the perturbation axis — and the design's warnings (the same
the dry run logs: arms no verdict reads, arms that repeat another). Dry-run speed: nothing heavy imported."""

import argparse
import json
import logging
import textwrap
from pathlib import Path

from wmvla.cli.parsing import command

log = logging.getLogger("wmvla")


def _text(found: dict) -> list[str]:
    suites, seeds = found["suites"], found["seeds"]
    scopes = f"overall + {len(suites)} suites" if len(suites) > 1 else "one suite"
    tests = 1 + len(suites) if len(suites) > 1 else 1
    lines = [
        f"study {found['study']}: {len(found['arms'])} arms, {len(suites)} suite(s) × {len(seeds)} seed(s); "
        f"a comparison is {tests} test(s) ({scopes})",
        "arms:",
    ]
    width = max(len(a["name"]) for a in found["arms"]) + 2
    for arm in found["arms"]:
        roles = ", ".join(arm["roles"]) or "no role: no verdict reads it"
        lines.append(f"  {arm['name']:{width}s}{roles}")
        lines += textwrap.wrap(
            " ".join(arm["verdicts"]) or "—",
            108,
            initial_indent=f"  {'':{width}s}verdicts: ",
            subsequent_indent=" " * (width + 12),
        )
        lines.append(f"  {'':{width}s}families: {'; '.join(arm['families']) or '—'}")
    lines.append("families of tests (one error budget each: arms × scopes):")
    for f in found["families"]:
        read = f"read by {' '.join(f['verdicts'])}" if f["verdicts"] else "described, read by no verdict"
        lines.append(f"  {f['name']}: {f['tests']} tests; {len(f['members'])} vs {f['reference']}; {read}")
        lines += textwrap.wrap(", ".join(f["members"]), 106, initial_indent="    ", subsequent_indent="    ")
    axis = found["perturbations"]
    if axis["kinds"]:
        lines.append(
            f"perturbation axis: {', '.join(axis['kinds'])} on {', '.join(axis['arms'])} "
            f"({axis['evaluations']} evaluations: each kind × arm × suite × seed, as trained)"
        )
    else:
        lines.append("perturbation axis: none")
    return lines


def _design(args: argparse.Namespace) -> None:
    from wmvla.study.checks import check_study_config
    from wmvla.study.config import baseline, load_study_config
    from wmvla.study.overview import overview

    beside = args.configfile.parent / "schema.yaml"  # a copy elsewhere is read with the project's schema
    config = load_study_config(args.configfile, beside if beside.is_file() else Path("config/schema.yaml"))
    check_study_config(config, baseline(config))
    found = overview(config)
    for warning in found["warnings"]:
        log.warning(warning)
    print(json.dumps(found, indent=1) if args.json else "\n".join(_text(found)))


def register(groups: argparse._SubParsersAction) -> None:
    p = command(groups, "design", _design, "what a study config will answer: arms, roles, verdicts, families")
    p.add_argument("--configfile", type=Path, default=Path("config/smoke.yaml"), help="the study config")
    p.add_argument("--json", action="store_true", help="the same as JSON, for scripts")
