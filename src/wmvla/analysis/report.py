"""Write the study's tables to `results/tables/*.csv` and read them back for the figures.

Why CSV between the two steps: the tables are the report's numbers; figures are drawn from exactly
those files, so what a figure shows can always be looked up.
"""

from pathlib import Path

import pandas as pd

from wmvla.analysis import collect, tables
from wmvla.analysis.names import TABLES
from wmvla.design import Design


def build_tables(
    eval_files: list[Path],
    offline_files: list[Path],
    metrics_files: list[Path],
    design: Design,
    gates_file: Path | None = None,
    cost_file: Path | None = None,
) -> dict[str, pd.DataFrame]:
    """The study's tables (the caller checks that every input belongs to the study)."""
    baseline, settings = design.baseline, design.settings
    episodes = collect.episodes_frame(eval_files)
    training = collect.training_frame(metrics_files)
    if baseline is not None and baseline not in set(episodes["exp"]):
        raise collect.ResultsError(
            f"baseline experiment {baseline!r} has no evaluation among the given files"
        )
    return {
        "checks": collect.checks_frame(gates_file),
        "runs": tables.per_run(episodes),
        "tasks": tables.per_task(episodes),
        "experiments": tables.per_experiment(episodes),
        "paired": (
            tables.versus_baseline(episodes, baseline, settings, design.versus_baseline)
            if baseline
            else pd.DataFrame()
        ),
        "ablations": tables.rollout_ablations(episodes, settings),
        "vs_world": tables.versus_world_arm(
            episodes, design.world, design.versus_world, design.capacity, settings
        ),
        "training": tables.training_summary(training),
        "training_log": training,
        "offline": collect.offline_frame(offline_files),
        "cost": pd.read_csv(cost_file) if cost_file else pd.DataFrame(),  # `wmvla cost`, rule by rule
    }


def write_tables(frames: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TABLES:
        path = out_dir / f"{name}.csv"
        frames[name].to_csv(path, index=False, float_format="%.6g")
        paths.append(path)
    return paths


def read_tables(table_dir: Path) -> dict[str, pd.DataFrame]:
    frames = {}
    for name in TABLES:
        path = Path(table_dir) / f"{name}.csv"
        if not path.is_file():
            raise collect.ResultsError(f"{path} is missing; run `wmvla report tables` first")
        try:
            frames[name] = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            frames[name] = pd.DataFrame()
    return frames
