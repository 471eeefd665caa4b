"""Names of the study's tables and figures: what the DAG declares as outputs.

Why a module of its own: the Snakefile needs these names while it builds the DAG, which must not
import pandas, matplotlib or seaborn (the full dry run has a 5 s budget).
"""

TABLES = (
    "checks",
    "runs",
    "tasks",
    "experiments",
    "paired",
    "ablations",
    "vs_world",
    "training",
    "training_log",
    "offline",
)
REPORTED_TABLES = (
    "checks",
    "experiments",
    "paired",
    "ablations",
    "vs_world",
    "tasks",
    "runs",
    "offline",
    "training",
)  # not the raw log
FIGURES = (
    "sr_by_experiment",
    "sr_per_task",
    "rollout_ablations",
    "training_curves",
    "attention",
    "imagination_bank",
    "offline_memory_modes",
    "forest",
)
