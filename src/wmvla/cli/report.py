"""`wmvla report …`: the study's tables, verdicts and figures (what `snakemake --report` collects)."""

import argparse
import logging
from pathlib import Path

from wmvla.cli.parsing import command, subgroup

log = logging.getLogger("wmvla")


def _tables(args: argparse.Namespace) -> None:
    from wmvla.analysis.report import build_tables, write_tables
    from wmvla.design import Design
    from wmvla.study.ownership import check_report_inputs

    if args.study is not None:
        check_report_inputs(args.evals, args.offline, args.metrics, args.study)
    design = Design.from_json(args.design)
    frames = build_tables(args.evals, args.offline, args.metrics, design, args.gates, args.cost)
    for path in write_tables(frames, args.out):
        log.info("wrote %s", path)


def _verdicts(args: argparse.Namespace) -> None:
    from wmvla.analysis.report import read_tables
    from wmvla.analysis.verdicts import verdicts
    from wmvla.design import Design

    frame = verdicts(read_tables(args.tables), Design.from_json(args.design))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    for row in frame.itertuples():
        log.info("%s %s — %s", row.id, row.verdict.upper(), row.reason)


def _figures(args: argparse.Namespace) -> None:
    from wmvla.analysis.figures import draw
    from wmvla.analysis.report import read_tables

    for path in draw(args.figures, read_tables(args.tables), args.experiments, args.out):
        log.info("wrote %s", path)


def register(groups: argparse._SubParsersAction) -> None:
    report = subgroup(groups, "report", "tables and figures")
    p = command(report, "tables", _tables, "aggregate results into results/<study>/tables/*.csv")
    p.add_argument("--study", default=None, help="refuse inputs whose provenance names another study")
    p.add_argument("--gates", type=Path, default=None, help="the gates summary (gates.json)")
    p.add_argument(
        "--cost", type=Path, default=None, help="the study's cost, rule by rule (`wmvla cost --csv`)"
    )
    p.add_argument("--evals", type=Path, nargs="+", required=True, help="eval/<mode>.json files")
    p.add_argument("--offline", type=Path, nargs="*", default=[], help="offline.json files")
    p.add_argument("--metrics", type=Path, nargs="*", default=[], help="train/metrics.jsonl files")
    p.add_argument("--design", default="{}", help="JSON of wmvla.design.Design (roles, thresholds)")
    p.add_argument("--out", type=Path, required=True)

    p = command(report, "verdicts", _verdicts, "one verdict per criterion of the seed notes")
    p.add_argument("--tables", type=Path, required=True)
    p.add_argument("--design", required=True, help="JSON of wmvla.design.Design")
    p.add_argument("--out", type=Path, required=True, help="results/<study>/tables/verdicts.csv")

    p = command(report, "figures", _figures, "draw results/<study>/figures/*.png|svg from the tables")
    p.add_argument("--tables", type=Path, required=True)
    p.add_argument("--figures", nargs="+", required=True, help="names of the figures to draw")
    p.add_argument("--experiments", nargs="+", required=True, help="experiments in colour order")
    p.add_argument("--out", type=Path, required=True)
