"""What the DAG builds for a study config: every evaluation, offline check, gate record and figure, and `all`.

Why separate from the paths: the paths say where one artifact goes; the targets say which artifacts a study
has (suites × experiments × seeds × rollout modes, the perturbed arms' runs × perturbations, one latent cache
per encoder, one gate per experiment).
"""

from wmvla.study.artifacts import dataset_dir
from wmvla.study.config import (
    StudyConfigError,
    baseline,
    experiment,
    experiment_encoder,
    perturbed_runs,
    perturbed_suites,
    runs,
    study_encoders,
    uses_world,
)
from wmvla.study.paths import (
    FIGURE,
    GATE_EXPERIMENT,
    GATE_INIT_POLICY,
    GATE_LATENTS,
    GATE_PROCESSORS,
    GATE_SCENE,
    GATES,
    PREFLIGHT,
    STUDY_GATES,
    VERDICTS,
    eval_result,
    fill,
    latent_cache_dir,
    offline_result,
    perturbed_eval_result,
    train_dir,
)


def latent_cache_dirs(config: dict) -> list[str]:
    return [str(latent_cache_dir(config, name)) for name in study_encoders(config)]


def cache_encoder(config: dict, dataset: str, encoder: str, temporal_window: str | int) -> str:
    """The encoder of the latent cache `<dataset>/<encoder>/temporal_window_<temporal_window>`, if an
    experiment reads that cache."""
    caches = {latent_cache_dir(config, name): name for name in study_encoders(config)}
    want = (dataset, encoder, f"temporal_window_{temporal_window}")
    wanted = next((path for path in caches if path.parts[-3:] == want), None)
    if wanted is None:
        known = ", ".join(map(str, caches)) or "none"
        raise StudyConfigError(f"this config builds no latent cache {'/'.join(want)} (it builds: {known})")
    return caches[wanted]


def eval_results(config: dict) -> list[str]:
    """Every evaluation result: suites × experiments × seeds × rollout modes."""
    return [
        str(eval_result(config, suite, exp, seed, mode))
        for suite, exp, seed in runs(config)
        for mode in experiment(config, exp)["eval_modes"]
    ]


def perturbed_eval_results(config: dict) -> list[str]:
    """Every evaluation under perturbation: the perturbed arms' runs × kinds, each as trained (`pred`)."""
    return [str(perturbed_eval_result(config, *run, mode="pred")) for run in perturbed_runs(config)]


def offline_results(config: dict) -> list[str]:
    return [str(offline_result(config, *run)) for run in runs(config)]


def world_train_dirs(config: dict) -> list[str]:
    """Training directories that hold a `metrics.jsonl` (smolvla_world runs)."""
    return [str(train_dir(config, s, e, seed)) for s, e, seed in runs(config) if uses_world(config, e)]


def figure_files(config: dict, names: list[str]) -> list[str]:
    return [fill(FIGURE, config, figure=name, ext=ext) for name in names for ext in ("png", "svg")]


def experiment_gate(config: dict, exp: str) -> str:
    """The record of one experiment's own gate (parity with the baseline, a few training steps)."""
    return fill(GATE_EXPERIMENT, config, exp=exp)


def baseline_processors(config: dict, exp: str) -> list[str]:
    """The baseline's saved processors, which every other experiment's gate compares its own with."""
    base = baseline(config)
    return [fill(GATE_PROCESSORS, config, exp=base)] if base and base != exp else []


def latent_gate(config: dict, encoder: str) -> str:
    """The check of one encoder's latent cache (DESIGN.md §8)."""
    return fill(GATE_LATENTS, config, encoder=encoder)


def latent_gate_encoders(config: dict, exp: str) -> list[str]:
    """The encoders whose latent-cache check an experiment's gate waits for: its own encoder's, so rebuilding
    one experiment never needs another encoder's cache."""
    return [experiment_encoder(config, exp)] if uses_world(config, exp) else []


def study_gate_records(config: dict) -> list[str]:
    """The study-wide checks every training waits for: the node preflight, the scenes of every suite, and
    the init policy per suite (if the study fine-tunes one)."""
    records = [fill(PREFLIGHT, config)]
    records += [fill(GATE_SCENE, config, suite=s) for s in config["suites"]]
    if config["policy"]["init"]:
        records += [fill(GATE_INIT_POLICY, config, suite=s) for s in config["suites"]]
    return records


def perturbed_scene_records(config: dict) -> list[str]:
    """The scene check of every perturbed suite. Not among the study-wide gates: a perturbed suite's
    evaluations alone wait for its check (`perturbation_cleared`), so adding the axis to a built study
    retrains and re-evaluates nothing."""
    return [fill(GATE_SCENE, config, suite=s) for s in perturbed_suites(config)]


def clearance_records(config: dict, exp: str) -> list[str]:
    """Every gate an experiment's trainings, evaluations and offline checks wait for: the study-wide ones,
    its latent cache's and its own."""
    latents = [latent_gate(config, name) for name in latent_gate_encoders(config, exp)]
    return [fill(STUDY_GATES, config), *latents, experiment_gate(config, exp)]


def gate_records(config: dict) -> list[str]:
    """Every record, for the report: the study-wide ones, each latent cache's, each experiment's and each
    perturbed suite's scene check."""
    latents = [latent_gate(config, name) for name in study_encoders(config)]
    experiments = [experiment_gate(config, e) for e in config["experiments"]]
    return [*study_gate_records(config), *latents, *experiments, *perturbed_scene_records(config)]


def owned_outputs(config: dict) -> list[str]:
    """The expensive outputs of a study that the ownership check guards (wmvla.study.ownership)."""
    return [
        str(dataset_dir(config)),
        *latent_cache_dirs(config),
        *(str(train_dir(config, *run)) for run in runs(config)),
        *eval_results(config),
        *perturbed_eval_results(config),
        *offline_results(config),
    ]


def all_targets(config: dict, figures: list[str]) -> list[str]:
    """The gates, the latent caches, every evaluation (under perturbation too) and offline check, the tables,
    verdicts and figures."""
    return [
        fill(GATES, config),
        fill(VERDICTS, config),
        *latent_cache_dirs(config),
        *eval_results(config),
        *perturbed_eval_results(config),
        *offline_results(config),
        *figure_files(config, figures),
    ]
