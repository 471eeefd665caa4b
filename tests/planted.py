"""Planted studies for the tests: the library's one generator (`wmvla.analysis.power`, which `wmvla power`
runs), with the full study's own design (its 16 arms and their roles, read from config/config.yaml) unless a
test says otherwise."""

from pathlib import Path

from wmvla.analysis.power import Report, config_arms, many_reports, study_pool, study_report
from wmvla.design import Design

REPO = Path(__file__).resolve().parent.parent
__all__ = ["REPO", "Report", "full_design", "many_reports", "study_pool", "study_report"]


def full_design() -> tuple[Design, dict[str, tuple[str, ...]]]:
    """The full study's roles and its arms with their rollout modes (config/config.yaml)."""
    from wmvla.study.config import load_study_config
    from wmvla.study.design import analysis_design

    config = load_study_config(REPO / "config/config.yaml")
    return analysis_design(config), config_arms(config)
