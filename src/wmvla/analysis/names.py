"""Names of the study's tables and figures: what the DAG declares as outputs.

Why a module of its own: the Snakefile needs these names while it builds the DAG, which must not
import pandas, matplotlib or seaborn (the full dry run has a 5 s budget), nor the study package (the two
are independent: the Snakefile hands the config's experiments to `figure_names`).
"""

TABLES = (
    "checks",
    "runs",
    "tasks",
    "experiments",
    "paired",
    "ablations",
    "vs_world",
    "perturbations",
    "perturbation_rates",
    "training",
    "training_log",
    "offline",
    "cost",
)
REPORTED_TABLES = (
    "checks",
    "experiments",
    "paired",
    "ablations",
    "vs_world",
    "perturbations",
    "perturbation_rates",
    "tasks",
    "runs",
    "offline",
    "training",
    "cost",
)  # not the raw log
# Every figure, in report order, with what a study must have for it to be drawn.
FIGURE_NEEDS = {
    "sr_by_experiment": "always",
    "sr_per_task": "always",
    "forest": "a baseline and another arm",
    "perturbations": "a perturbation axis",
    "rollout_ablations": "an experiment with several rollout modes",
    "training_curves": "a smolvla_world experiment",
    "attention": "a smolvla_world experiment",
    "offline_memory_modes": "a smolvla_world experiment",
    "imagination_bank": "an imagination bank (world_num_hypotheses > 1)",
    "cost": "always",
}
FIGURES = tuple(FIGURE_NEEDS)


def figure_names(
    experiments: dict[str, dict], baseline: str | None, perturbations: list[str] = ()
) -> list[str]:
    """The figures a study with these experiments (the config's `experiments:`) can draw."""
    specs = experiments.values()
    has = {
        "always": True,
        "a baseline and another arm": baseline is not None and len(experiments) > 1,
        "a perturbation axis": bool(perturbations),
        "an experiment with several rollout modes": any(len(s["eval_modes"]) > 1 for s in specs),
        "a smolvla_world experiment": any(s["policy_type"] == "smolvla_world" for s in specs),
        "an imagination bank (world_num_hypotheses > 1)": any(
            int(s.get("policy_args", {}).get("world_num_hypotheses", 1)) > 1 for s in specs
        ),
    }
    return [name for name, need in FIGURE_NEEDS.items() if has[need]]
