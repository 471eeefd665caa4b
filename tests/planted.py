"""Planted studies run through the project's tables and verdicts (`wmvla.analysis.planted` draws them), in
parallel: the full study's own design (its 16 arms and their roles, read from config/config.yaml) unless a
test says otherwise."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wmvla.analysis.planted import PlantedStudy
from wmvla.design import Design

REPO = Path(__file__).resolve().parent.parent
COMPARISON_TABLES = ("paired", "ablations", "vs_world")


@dataclass(frozen=True)
class Report:
    """What one planted study's report says: its verdicts, and the comparison rows they were read from."""

    verdicts: pd.DataFrame
    comparisons: pd.DataFrame

    def verdict(self, vid: str) -> str:
        return self.verdicts.set_index("id").loc[vid, "verdict"]

    def reason(self, vid: str) -> str:
        return self.verdicts.set_index("id").loc[vid, "reason"]


def full_design() -> tuple[Design, dict[str, tuple[str, ...]]]:
    """The full study's roles and its arms with their rollout modes (config/config.yaml)."""
    from wmvla.study.config import load_study_config
    from wmvla.study.design import analysis_design

    config = load_study_config(REPO / "config/config.yaml")
    arms = {exp: tuple(spec["eval_modes"]) for exp, spec in config["experiments"].items()}
    return analysis_design(config), arms


def study_report(study: PlantedStudy, design: Design, seed: int | list[int]) -> Report:
    """One draw of the planted study through the project's tables and verdicts."""
    from wmvla.analysis.report import verdict_tables
    from wmvla.analysis.verdicts import verdicts

    tables = verdict_tables(study.episodes(np.random.default_rng(seed)), design)
    rows = pd.concat([tables[name] for name in COMPARISON_TABLES if not tables[name].empty])
    return Report(verdicts(tables, design), rows.reset_index(drop=True))


def study_pool() -> ProcessPoolExecutor:
    """Every core: fresh processes (spawned: the test session's process holds torch and its threads)."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context)


def many_reports(
    pool: ProcessPoolExecutor, study: PlantedStudy, design: Design, studies: int, seed: int
) -> list[Report]:
    """The reports of `studies` independent draws of the planted study (draw i from seed (seed, i))."""
    draws = [pool.submit(study_report, study, design, [seed, i]) for i in range(studies)]
    return [draw.result() for draw in draws]
