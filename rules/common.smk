import json
import re
import shlex
from pathlib import Path

import yaml

from snakemake.io import report as reported
from snakemake.utils import validate

from wmvla import workflow as wf
from wmvla.analysis.names import REPORTED_TABLES, TABLES
from wmvla.config_checks import check_study_config
from wmvla.hub import HubError
from wmvla.ownership import check_owned
from wmvla.study_config import coerce_cli_strings

SCHEMA = Path(workflow.main_snakefile).parent / "config/schema.yaml"

coerce_cli_strings(
    config, yaml.safe_load(SCHEMA.read_text())
)  # --config values arrive as strings
validate(config, schema=str(SCHEMA))
config["hub_lock"] = str(Path(workflow.main_snakefile).parent / config["hub_lock"])
check_study_config(config, wf.baseline(config))
HUB_LOCK_PROBLEMS = wf.hub_lock_problems(config)
for problem in HUB_LOCK_PROBLEMS:
    logger.warning(f"hub lock: {problem}")
wf.prepare_job_environment(config)
check_owned(wf.owned_outputs(config), config["study"])


wildcard_constraints:
    study=re.escape(config["study"]),
    suite="libero_[a-z0-9]+",
    exp="[A-Za-z0-9_]+",
    seed=r"\d+",
    mode="pred|zero|random",
    window=r"\d+",
    encoder="[a-z0-9.-]+",
    artifact=r"[A-Za-z0-9_.-]+",
    figure="|".join(wf.figure_names(config)),


def get_resources(stage):
    """Snakemake resources of one stage, from the config's `resources` section."""
    res = config["resources"][stage]
    cpus = (
        {"cpus_per_gpu": res["cpus"]} if res["gpu"] else {"cpus_per_task": res["cpus"]}
    )
    return {
        "gpu": res["gpu"],
        "mem_mb": res["mem_mb"],
        "runtime": res["runtime"],
        **cpus,
    }


def get_dataset_command(wildcards):
    if wildcards.dataset != config["dataset"]["name"]:
        raise ValueError(f"no dataset {wildcards.dataset!r} in this config")
    return shlex.join(wf.dataset_command(config))


def _used_encoder(wildcards):
    """The encoder of a latent-cache job, if some experiment of this config reads that very cache."""
    wanted = wf.study_root(config).joinpath(
        "latents", wildcards.dataset, f"{wildcards.encoder}_m{wildcards.window}"
    )
    caches = {
        wf.latent_cache_dir(config, name): name for name in wf.study_encoders(config)
    }
    if wanted not in caches:
        known = ", ".join(map(str, caches)) or "none"
        raise ValueError(
            f"this config builds no latent cache {wanted} (it builds: {known})"
        )
    return caches[wanted]


def get_latents_args(wildcards):
    return shlex.join(wf.latents_command(config, _used_encoder(wildcards)))


def get_latents_inputs(wildcards):
    """The dataset and the encoder's weights (a tiny model or the hub stage's manifest)."""
    return wf.dataset_inputs(config) + wf.encoder_inputs(
        config, _used_encoder(wildcards)
    )


def get_train_args(wildcards):
    return shlex.join(
        wf.train_args(config, wildcards.suite, wildcards.exp, int(wildcards.seed))
    )


def get_eval_args(wildcards):
    return shlex.join(
        wf.eval_args(
            config, wildcards.suite, wildcards.exp, int(wildcards.seed), wildcards.mode
        )
    )


def get_run_description(wildcards):
    """The provenance `config` of a run: what identifies it plus its experiment spec."""
    return shlex.quote(wf.run_description(config, dict(wildcards)))


def get_offline_args(wildcards):
    return shlex.join(
        wf.offline_args(config, wildcards.suite, wildcards.exp, int(wildcards.seed))
    )


def get_hub_manifests(wildcards, input):
    """The hub-stage manifests among a job's inputs, for `wmvla hub check` (empty: nothing from the Hub)."""
    return " ".join(wf.hub_manifests(list(input)))


def get_hub_entry(wildcards):
    """One artifact and its locked commit, as JSON for `wmvla hub fetch`."""
    artifact = wf.hub_artifact(config, wildcards.artifact)
    if artifact is None:
        raise ValueError(f"this config names no Hub artifact {wildcards.artifact!r}")
    return shlex.quote(wf.hub_fetch_plan(config, artifact))


def after_preflight(wildcards):
    """Nothing to read, but the node preflight must have passed: a GPU job waits for the checkpoint.

    Why a checkpoint and not an input file: a rerun of the preflight (e.g. its disk estimate changes when an
    experiment is added) must not rerun every finished GPU job, and `ancient()` is unsafe here — Snakemake then
    skips the params check of every job downstream of a rerun input, so a changed job would not rerun.
    """
    checkpoints.preflight.get(study=config["study"])
    return []


def after_study_gates(wildcards):
    """Nothing to read, but the study-wide gates must have passed: a training waits for the checkpoint."""
    checkpoints.study_gates.get(study=config["study"])
    return []


def get_gates_enforce():
    return "true" if config["gates"]["enforce"] else "false"


def get_table_outputs():
    """Every table file; the reported ones carry their caption (report/tables/<name>.rst)."""
    tables = wf.tables_dir(config)
    return {
        name: (
            reported(
                str(tables / f"{name}.csv"),
                caption=f"../report/tables/{name}.rst",
                category="3 · Tables",
            )
            if name in REPORTED_TABLES
            else str(tables / f"{name}.csv")
        )
        for name in TABLES
    }


def get_figure_category(wildcards):
    """The forest plot belongs with the verdicts, first in the report; the other figures after them."""
    return (
        "1 · What the evidence says" if wildcards.figure == "forest" else "2 · Figures"
    )


def get_design_arg():
    """The analysis design (roles of the experiments, thresholds) as a quoted JSON argument."""
    return shlex.quote(wf.analysis_design(config).to_json())
