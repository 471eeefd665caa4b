"""Write the study's tables to `results/tables/*.csv` and read them back for the figures.

Why CSV between the two steps: the tables are the report's numbers; figures are drawn from exactly
those files, so what a figure shows can always be looked up.
"""

from pathlib import Path

import pandas as pd

from wmvla.analysis import collect, comparisons, perturbation, tables
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
    """The study's tables from its files (the caller checks that every input belongs to the study)."""
    return study_tables(
        collect.episodes_frame(eval_files),
        design,
        training=collect.training_frame(metrics_files),
        offline=collect.offline_frame(offline_files),
        checks=collect.checks_frame(gates_file),
        cost=pd.read_csv(cost_file) if cost_file else pd.DataFrame(),  # `wmvla cost`, rule by rule
    )


def study_tables(
    episodes: pd.DataFrame,
    design: Design,
    training: pd.DataFrame | None = None,
    offline: pd.DataFrame | None = None,
    checks: pd.DataFrame | None = None,
    cost: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table of the report from the study's frames: the episodes (`collect.episodes_frame`) and, where
    the study has them, its training logs, offline checks, gate checks and cost."""
    training = collect.training_frame([]) if training is None else training
    plain = perturbation.plain_only(episodes)
    return verdict_tables(episodes, design, training, offline, checks) | {
        "runs": tables.per_run(plain),
        "tasks": tables.per_task(plain),
        "training_log": training,
        "cost": pd.DataFrame() if cost is None else cost,
    }


def verdict_tables(
    episodes: pd.DataFrame,
    design: Design,
    training: pd.DataFrame | None = None,
    offline: pd.DataFrame | None = None,
    checks: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables the verdicts read (`wmvla.analysis.verdicts`): the experiments' success rates, every paired
    comparison, the comparisons under perturbation, the training, offline and gate summaries. Every table but
    the perturbation ones reads LIBERO's own suites alone."""
    baseline, settings = design.baseline, design.settings
    plain = perturbation.plain_only(episodes)
    if baseline is not None and baseline not in set(plain["exp"]):
        raise collect.ResultsError(
            f"baseline experiment {baseline!r} has no evaluation among the given files"
        )
    arranged = comparisons.Episodes.of(plain)
    return {
        "checks": collect.checks_frame(None) if checks is None else checks,
        "experiments": tables.per_experiment(plain),
        "perturbation_rates": perturbation.rates(episodes),
        "perturbations": perturbation.under_perturbation(
            episodes, design.world, baseline, settings, arranged
        ),
        "paired": (
            comparisons.versus_baseline(arranged, baseline, settings, design.versus_baseline)
            if baseline
            else pd.DataFrame()
        ),
        "ablations": comparisons.rollout_ablations(arranged, settings),
        "vs_world": comparisons.versus_world(
            arranged, design.world, design.versus_world, design.capacity, settings
        ),
        "training": tables.training_summary(collect.training_frame([]) if training is None else training),
        "offline": pd.DataFrame() if offline is None else offline,
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
