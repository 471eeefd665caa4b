"""`wmvla cost <study config>`: GPU-hours, CPU-hours, disk and wall time of a study, rule by rule, each figure
saying where it comes from (measured, forecast from the gates' rates, or the config's time limit)."""

import argparse
import csv
import json
import logging
from pathlib import Path

from wmvla.cli.parsing import command
from wmvla.files import atomic_write

log = logging.getLogger("wmvla")
GB = 1e9


def _config(args: argparse.Namespace) -> dict:
    from wmvla.study.config import load_study_config

    if args.config_json:
        return json.loads(args.config_json)
    config = load_study_config(args.configfile)
    config["hub_lock"] = str(Path(config["hub_lock"]))
    return config


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 3600:.1f} h" if seconds >= 7200 else f"{seconds / 60:.1f} min"


def _disk(config: dict) -> list[str]:
    """The preflight's footprint estimate; the latent caches need the dataset's frame count."""
    from wmvla.gates.preflight import Footprint
    from wmvla.study.artifacts import dataset_dir
    from wmvla.study.resources import footprint

    info = Path(dataset_dir(config)) / "meta" / "info.json"
    frames = json.loads(info.read_text())["total_frames"] if info.is_file() else None
    parts = Footprint.from_dict(footprint(config)).estimate(frames or 0)
    lines = [
        f"{kind} {size / GB:,.1f} GB" for kind, size in parts.items() if frames or kind != "latent caches"
    ]
    if not frames:
        lines.append("latent caches: unknown until the dataset is fetched (its frame count)")
    return lines


def _table(cost) -> list[str]:
    header = f"{'rule':21s}{'jobs':>6s}{'GPU':>4s}{'CPU':>5s}  {'per job':>12s} {'source':9s}"
    header += f"{'GPU-h':>10s}{'CPU-h':>10s}"
    lines = [header + "  measured (jobs, mean)"]
    for r in cost.rules:
        spread = f" ({_duration(r.low)}–{_duration(r.high)})" if r.low is not None else ""
        done = f"{r.measured_jobs}, {_duration(r.measured_s)}" if r.measured_jobs else "—"
        lines.append(
            f"{r.rule:21s}{r.jobs:6d}{r.gpus:4d}{r.cpus:5d}  {_duration(r.seconds):>12s} {r.source:9s}"
            f"{_hours(r.gpu_hours):>10s}{_hours(r.cpu_hours):>10s}  {done}{spread}"
        )
    return lines


def _cost(args: argparse.Namespace) -> None:
    from wmvla.analysis.names import figure_names
    from wmvla.study.config import baseline, perturbation_kinds
    from wmvla.study.cost import study_cost

    config = _config(args)
    figures = len(figure_names(config["experiments"], baseline(config), perturbation_kinds(config)))
    cost = study_cost(config, figures, args.gpus, args.jobs)
    sources = {r.source for r in cost.rules if r.seconds is not None}
    print(f"study {config['study']}: {sum(r.jobs for r in cost.rules)} jobs")
    print("\n".join(_table(cost)))
    print(f"total: {cost.total('gpu_hours'):,.1f} GPU-hours, {cost.total('cpu_hours'):,.1f} CPU-hours")
    print(f"wall: ~{cost.wall_hours():,.1f} h on {args.gpus} GPU(s), at most {args.jobs} jobs at once")
    print("disk: " + "; ".join(_disk(config)))
    if "limit" in sources:
        print(
            "'limit': the config's runtime, an upper bound (the gates have not run, or none of them times "
            "these jobs)"
        )
    for line in cost.advice():
        log.warning("runtime limit: %s", line)
    if args.csv:
        rows = [r.row() for r in cost.rules]
        with atomic_write(args.csv) as f:  # the report never reads half a table
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def register(groups: argparse._SubParsersAction) -> None:
    p = command(groups, "cost", _cost, "GPU-hours, CPU-hours, disk and wall time of a study, rule by rule")
    p.add_argument(
        "configfile", type=Path, nargs="?", default=None, help="the study config, e.g. config/config.yaml"
    )
    p.add_argument("--config-json", default=None, help="the validated config itself (what the DAG passes)")
    p.add_argument("--gpus", type=int, default=8, help="GPUs the study may use at once (for the wall time)")
    p.add_argument("--jobs", type=int, default=100, help="jobs at once (the profile's `jobs`)")
    p.add_argument("--csv", type=Path, default=None, help="also write the table (the report's cost table)")
