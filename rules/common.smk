import functools
import json
import re
import shlex
from pathlib import Path

from snakemake.io import report as reported

from wmvla.analysis.names import REPORTED_TABLES, TABLES, figure_names
from wmvla.cluster.slurm_check import SlurmSetupError, orphaned_jobs, slurm_problems
from wmvla.hub.lock import HubError
from wmvla.latents.registry import ENCODERS
from wmvla.sim.perturbations import KINDS, perturbed_suite
from wmvla.study import artifacts, commands, design, paths, resources, targets
from wmvla.study.checks import check_study_config
from wmvla.study.config import (
    baseline,
    coerce_cli_strings,
    perturbation_kinds,
    read_yaml,
    refuse_renamed_keys,
    validate_study_config,
)
from wmvla.study.environment import prepare_job_environment
from wmvla.study.ownership import check_owned
from wmvla.study.tiny_models import MODELS_WITH_TINY

SCHEMA = Path(workflow.main_snakefile).parent / "config/schema.yaml"

refuse_renamed_keys(config)

SCHEMA_DOC = read_yaml(SCHEMA.read_text())
coerce_cli_strings(config, SCHEMA_DOC)  # --config values arrive as strings
validate_study_config(config, SCHEMA_DOC)
config["hub_lock"] = str(Path(workflow.main_snakefile).parent / config["hub_lock"])
check_study_config(config, baseline(config))
for warning in design.design_warnings(config):
    logger.warning(warning)
HUB_LOCK_PROBLEMS = artifacts.hub_lock_problems(config)
for problem in HUB_LOCK_PROBLEMS:
    logger.warning(f"hub lock: {problem}")
prepare_job_environment(config)
check_owned(targets.owned_outputs(config), config["study"])
FIGURES = figure_names(
    config["experiments"], baseline(config), perturbation_kinds(config)
)


def job(command: str) -> str:
    """A job's shell command: its log appended per attempt, its Hub inputs checked, its GPU given."""
    return f"wmvla job --log {{log}} --hub {{params.hub}} --gpus {{resources.gpu}} -- {command}"


def local_job(command: str, env: str = "") -> str:
    """A local job's shell command (no Hub inputs, no GPU): its log appended per attempt; `env`: VAR=value
    assignments it runs with."""
    return f"{env} wmvla job --log {{log}} -- {command}".lstrip()


def gates_summary(options: str = "") -> str:
    """`wmvla gates summary` of a rule's records, failing when a failed gate is enforced; `options` added."""
    return local_job(
        f"wmvla gates summary {{input.records}} --enforce {{params.enforce}} {options} --out {{output.summary}}"
    )


# Whether a failed gate stops the study, as the gate summaries record it (a param of theirs). The gate jobs
# read it from the environment (wmvla.study.environment says why).
GATES_ENFORCE = "true" if config["gates"]["enforce"] else "false"


wildcard_constraints:
    study=re.escape(config["study"]),
    # a plain suite, or LIBERO-PRO's variant of one (`libero_spatial_lan`): its scene check
    suite="libero_[a-z0-9]+(?:_(?:" + "|".join(KINDS) + "))?",
    perturbation="|".join(KINDS),
    exp="[A-Za-z0-9_]+",
    seed=r"\d+",
    mode="pred|zero|random",
    temporal_window=r"\d+",
    encoder="|".join(re.escape(name) for name in ENCODERS),
    artifact=r"[A-Za-z0-9_.-]+",
    figure="|".join(FIGURES),
    model="|".join(MODELS_WITH_TINY),


def get_resources(stage):
    return resources.job_resources(config, stage)


def get_dataset_command(wildcards):
    if wildcards.dataset != config["dataset"]["name"]:
        raise ValueError(f"no dataset {wildcards.dataset!r} in this config")
    return shlex.join(commands.dataset_command(config))


def _cache_encoder(wildcards):
    return targets.cache_encoder(
        config, wildcards.dataset, wildcards.encoder, wildcards.temporal_window
    )


def get_latents_args(wildcards):
    return shlex.join(commands.latents_command(config, _cache_encoder(wildcards)))


def get_latents_inputs(wildcards):
    return artifacts.latents_inputs(config, _cache_encoder(wildcards))


def get_train_args(wildcards):
    return shlex.join(
        commands.train_args(config, wildcards.suite, wildcards.exp, int(wildcards.seed))
    )


def get_train_run_args(wildcards):
    return shlex.join(
        commands.train_run_args(
            config, wildcards.suite, wildcards.exp, int(wildcards.seed)
        )
    )


def get_eval_args(wildcards):
    return shlex.join(
        commands.eval_args(
            config, wildcards.suite, wildcards.exp, int(wildcards.seed), wildcards.mode
        )
    )


def get_perturbed_eval_args(wildcards):
    return shlex.join(
        commands.perturbed_eval_args(
            config,
            wildcards.suite,
            wildcards.exp,
            int(wildcards.seed),
            wildcards.perturbation,
            wildcards.mode,
        )
    )


def get_run_description(wildcards):
    """The provenance `config` of a run: what identifies it plus its experiment spec."""
    return shlex.quote(commands.run_description(config, dict(wildcards)))


def get_offline_args(wildcards):
    return shlex.join(
        commands.offline_args(
            config, wildcards.suite, wildcards.exp, int(wildcards.seed)
        )
    )


# The config is fixed once the workflow is loaded, and what a job loads depends on its experiment alone:
# resolved once per experiment, not for each of the DAG's jobs and checkpoint re-evaluations.
train_loads = functools.cache(lambda exp: artifacts.train_inputs(config, exp))
eval_loads = functools.cache(lambda exp: artifacts.eval_inputs(config, exp))
offline_loads = functools.cache(lambda exp: artifacts.offline_inputs(config, exp))


def get_hub_manifests(wildcards, input):
    """The hub-stage manifests among a job's inputs, which it checks first (empty: nothing from the Hub)."""
    return " ".join(artifacts.hub_manifests(list(input)))


def get_hub_entry(wildcards):
    """One artifact and its locked commit, as JSON for `wmvla hub fetch`."""
    artifact = artifacts.hub_artifact(config, wildcards.artifact)
    if artifact is None:
        raise ValueError(f"this config names no Hub artifact {wildcards.artifact!r}")
    return shlex.quote(artifacts.hub_fetch_plan(config, artifact))


def after_preflight(wildcards):
    """Nothing to read, but the node preflight must have passed: a GPU job waits for the checkpoint.

    Why a checkpoint and not an input file: a rerun of the preflight (e.g. its disk estimate changes when an
    experiment is added) must not rerun every finished GPU job, and `ancient()` is unsafe here — Snakemake then
    skips the params check of every job downstream of a rerun input, so a changed job would not rerun.
    """
    checkpoints.preflight.get(study=config["study"])
    return []


def after_latent_gate(wildcards):
    """An experiment's gate waits until the latent cache it reads passed its own gate. A checkpoint: a rerun
    of the cache's gate (a new threshold, an override) reruns no experiment gate; a rebuilt cache still does
    (it is among the experiment gate's inputs)."""
    for encoder in targets.latent_gate_encoders(config, wildcards.exp):
        checkpoints.gate_latents.get(study=config["study"], encoder=encoder)
    return []


def after_gates(wildcards):
    """Nothing to read, but the experiment must be cleared: every gate its runs wait for passed (the
    study-wide ones, its latent cache's, its own) or is overridden, with `enforce` as it is now. Trainings,
    evaluations and offline checks wait for that checkpoint; its summary reads the records (so they are all
    planned at once, and an override ends with `enforce` back on, before any of them starts). A checkpoint,
    not an input: a gate decides whether the study may train, never what a training is built from, so a gate
    rerun (a new gate setting, a protocol knob in its plan, a gate re-measured) reruns no training, evaluation
    or offline check. Each of them waits, not the trainings alone: while a checkpoint is to run again,
    Snakemake takes every job after it as out of date and looks again, once it ran, only at the jobs that
    wait for it. What changes a run (its arguments, init, data) still reruns it. A dry run cannot look past a
    checkpoint that is to run: it lists every job after it."""
    checkpoints.experiment_cleared.get(study=config["study"], exp=wildcards.exp)
    return []


def after_perturbation_scene(wildcards):
    """Nothing to read, but the perturbed suite's scene check must have passed (or be overridden): its
    evaluations wait for that checkpoint, as a run waits for its experiment's clearance (`after_gates`), for
    the same reasons. No study-wide gate: trainings never wait for it."""
    suite = perturbed_suite(wildcards.suite, wildcards.perturbation)
    checkpoints.perturbation_cleared.get(study=config["study"], suite=suite)
    return []


def cluster_problems(workflow):
    """Why the Slurm executor would hang on this cluster, or run a job twice that an earlier Snakemake process
    left on it (checked where a real run starts; [] elsewhere)."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm" or workflow.dryrun:
        return []
    from snakemake_executor_plugin_slurm.utils import (
        get_job_wildcards,
    )  # how the executor tags a job

    partitions = {job.resources.get("slurm_partition") for job in workflow.dag.jobs}
    planned = {
        f"rule_{job.rule.name}"
        + (f"_wildcards_{w}" if (w := get_job_wildcards(job)) else ""): (
            f"{job.rule.name} {'/'.join(map(str, job.wildcards))}".strip()
        )
        for job in workflow.dag.needrun_jobs()
        if not job.is_local
    }
    return [
        *slurm_problems(workflow.executor_settings.status_command, partitions),
        *orphaned_jobs(Path(workflow.workdir_init), planned),
    ]


def get_table_outputs():
    """Every table file; the reported ones carry their caption (report/tables/<name>.rst)."""
    return {
        name: (
            reported(
                paths.pattern(paths.TABLE, table=name),
                caption=f"../report/tables/{name}.rst",
                category="3 · Tables",
            )
            if name in REPORTED_TABLES
            else paths.pattern(paths.TABLE, table=name)
        )
        for name in TABLES
    }


def get_figure_category(wildcards):
    """The forest plot belongs with the verdicts, first in the report; the other figures after them."""
    return (
        "1 · What the evidence says" if wildcards.figure == "forest" else "2 · Figures"
    )


def get_config_json():
    """The validated study config as a quoted JSON argument (its lock file relative, as in the config)."""
    return shlex.quote(commands.config_json(config))


def get_design_arg():
    """The analysis design (roles of the experiments, thresholds) as a quoted JSON argument."""
    return shlex.quote(design.design_json(config))
