"""What each Snakemake job runs, derived from the validated study config.

Why here and not in `rules/*.smk`: the command lines are the logic of the pipeline; as plain functions
of (config, wildcards) they are unit-tested, and the rules stay wiring only.
"""

import dataclasses
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from wmvla import hub
from wmvla.analysis.design import Design, Settings
from wmvla.config_checks import StudyConfigError, cli_value
from wmvla.latents.registry import encoder_spec, experiment_encoder, study_encoders
from wmvla.libero_setup import apply_environment_defaults
from wmvla.preflight import Footprint, footprint_json
from wmvla.provenance import STUDY_ENV

RESULTS, LOGS = Path("results"), Path("logs")
# built by the DAG (`wmvla models tiny`), never downloaded
TINY_MODELS = ("smolvlm-tiny", "vjepa2-tiny", "cosmos-tiny")


def _flags(prefix: str, args: dict[str, Any]) -> list[str]:
    """`--<prefix><key>=<value>` in key order: reordering keys in a config file must not look like a
    change of parameters to Snakemake (which would rerun every job)."""
    return [f"--{prefix}{key}={cli_value(args[key])}" for key in sorted(args)]


def prepare_job_environment(config: dict) -> None:
    """Environment every job inherits: the venv's tools first on PATH, LIBERO's config, offline mode,
    and the study's name (recorded in every artifact's provenance).

    Why: jobs must use the tools of the venv that runs Snakemake (also on cluster nodes, where the
    job re-runs Snakemake with the same interpreter), and no job may prompt or reach the network: the
    hub stage alone (which lifts HF_HUB_OFFLINE itself) fetches what the others load.
    """
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    apply_environment_defaults()
    os.environ[STUDY_ENV] = config["study"]
    hub.offline_environment(os.environ, hub_dir(config))


# --- the study's results tree (DESIGN.md §5): everything under results/<study>/ -------------------


def study_root(config: dict) -> Path:
    """Every output of a study lives under `results/<study>/`: two studies never share a path."""
    return RESULTS / config["study"]


def models_dir(config: dict) -> Path:
    return study_root(config) / "models"


def latent_cache_dir(config: dict, encoder: str) -> Path:
    """One cache per (dataset, encoder): `<encoder>_m<frames per clip>`."""
    return (
        study_root(config)
        / "latents"
        / config["dataset"]["name"]
        / f"{encoder}_m{encoder_window(config, encoder)}"
    )


def encoder_window(config: dict, encoder: str) -> int:
    """Frames per clip: fixed by the model for Cosmos (1 + its temporal compression), else the study's m."""
    return encoder_spec(encoder).window or config["world"]["temporal_window"]


def latent_cache_dirs(config: dict) -> list[str]:
    return [str(latent_cache_dir(config, name)) for name in study_encoders(config)]


def run_dir(config: dict, suite: str, exp: str, seed: int | str) -> Path:
    return study_root(config) / suite / exp / f"seed{seed}"


def train_dir(config: dict, suite: str, exp: str, seed: int | str) -> Path:
    return run_dir(config, suite, exp, seed) / "train"


def eval_result(config: dict, suite: str, exp: str, seed: int | str, mode: str) -> Path:
    return run_dir(config, suite, exp, seed) / "eval" / f"{mode}.json"


def offline_result(config: dict, suite: str, exp: str, seed: int | str) -> Path:
    return run_dir(config, suite, exp, seed) / "offline.json"


def tables_dir(config: dict) -> Path:
    return study_root(config) / "tables"


def figures_dir(config: dict) -> Path:
    return study_root(config) / "figures"


def report_file(config: dict) -> Path:
    return study_root(config) / "report.html"


def checkpoint_dir(config: dict, suite: str, exp: str, seed: int | str) -> Path:
    """The model LeRobot saved at the last step, by its step directory (named as LeRobot names it).

    Why not `checkpoints/last`: that is a symlink, which DVC does not version; the step directory is
    what gets shared and pulled.
    """
    steps = train_steps(config)
    step = f"{steps:0{max(6, len(str(steps)))}d}"
    return train_dir(config, suite, exp, seed) / "checkpoints" / step / "pretrained_model"


def train_steps(config: dict) -> int:
    """Fixed sample budget → optimiser steps, identical across experiments of one study."""
    total, batch = config["train"]["total_samples"], config["train"]["batch_size"]
    if total % batch:
        raise StudyConfigError(
            f"train.total_samples={total} is not a multiple of train.batch_size={batch}; "
            "the sample budget must map to a whole number of steps"
        )
    return total // batch


# --- models and data: a tiny model the DAG builds, a Hub artifact from the offline cache, or a path --


def hub_dir(config: dict) -> Path:
    """The study's Hugging Face cache, filled by the hub stage (DESIGN.md §8)."""
    return study_root(config) / "hub"


@functools.lru_cache(maxsize=8)
def _lock_entries(path: str, mtime_ns: int, study: str) -> dict | None:
    return hub.read_lock(Path(path), study)


def hub_entries(config: dict) -> dict | None:
    """The study's section of the lock file (read once per file version)."""
    path = Path(config["hub_lock"])
    mtime = path.stat().st_mtime_ns if path.is_file() else -1
    return _lock_entries(str(path), mtime, config["study"])


def hub_lock_problems(config: dict) -> list[str]:
    """Why the lock does not pin this study's Hub artifacts: warnings while the DAG is planned (the plan
    shows UNLOCKED where a commit goes), an error before the first job of a real run (`onstart`)."""
    return hub.lock_problems(hub.study_artifacts(config), hub_entries(config), Path(config["hub_lock"]))


def hub_artifact(config: dict, key: str) -> hub.Artifact | None:
    return next((a for a in hub.study_artifacts(config) if a.key == key), None)


def hub_manifest(config: dict, key: str) -> str:
    """What the hub stage writes for one artifact: its snapshot and files (the jobs' input)."""
    return str(hub_dir(config) / "manifests" / f"{key}.json")


def hub_snapshot(config: dict, artifact: hub.Artifact) -> str:
    return str(hub.snapshot_dir(hub_dir(config), artifact, hub.locked_sha(hub_entries(config), artifact)))


def _source(config: dict, ref: str, key: str) -> tuple[str, list[str]]:
    """Where a job loads `ref` from, and the DAG output that provides it (if the DAG makes it)."""
    if ref in TINY_MODELS:
        path = str(models_dir(config) / ref)
        return path, [path]
    artifact = hub_artifact(config, key)
    if artifact is not None and artifact.repo_id == ref:
        return hub_snapshot(config, artifact), [hub_manifest(config, key)]
    return ref, []  # a local directory of the user's


def vlm_path(config: dict) -> str:
    return _source(config, config["policy"]["vlm_model_name"], "policy.vlm")[0]


def init_path(config: dict) -> str | None:
    init = config["policy"]["init"]
    return _source(config, init, "policy.init")[0] if init else None


def _encoder_source(config: dict, name: str) -> tuple[str, list[str]]:
    return _source(config, name if name in TINY_MODELS else encoder_spec(name).repo_id, f"encoder.{name}")


def encoder_path(config: dict, name: str) -> str:
    return _encoder_source(config, name)[0]


def vlm_inputs(config: dict) -> list[str]:
    return _source(config, config["policy"]["vlm_model_name"], "policy.vlm")[1]


def init_inputs(config: dict) -> list[str]:
    init = config["policy"]["init"]
    return _source(config, init, "policy.init")[1] if init else []


def encoder_inputs(config: dict, name: str) -> list[str]:
    return _encoder_source(config, name)[1]


def dataset_dir(config: dict) -> Path:
    """The dataset jobs read: a recording under the study, or the Hub snapshot in the offline cache."""
    if config["dataset"]["source"] == "hub":
        return Path(hub_snapshot(config, hub_artifact(config, "dataset")))
    return study_root(config) / "data" / config["dataset"]["name"]


def dataset_inputs(config: dict) -> list[str]:
    if config["dataset"]["source"] == "hub":
        return [hub_manifest(config, "dataset")]
    return [str(dataset_dir(config))]


def hub_fetch_plan(config: dict, artifact: hub.Artifact) -> str:
    """JSON the hub job gets: the artifact, its locked commit (params: a changed sha refetches it)."""
    return json.dumps({**dataclasses.asdict(artifact), "sha": hub.locked_sha(hub_entries(config), artifact)})


def hub_manifests(paths: list[str]) -> list[str]:
    """The hub-stage manifests among a job's inputs: what `wmvla hub check` verifies before it starts."""
    return [p for p in paths if Path(p).parent.name == "manifests" and Path(p).parent.parent.name == "hub"]


def latents_command(config: dict, encoder: str) -> list[str]:
    """`wmvla latents build` arguments of one encoder's cache (the rule adds --out)."""
    world = config["world"]
    return [
        f"--dataset={dataset_dir(config)}",
        f"--repo-id={config['dataset']['repo_id']}",
        f"--encoder={encoder}",
        f"--encoder-path={encoder_path(config, encoder)}",
        f"--window={encoder_window(config, encoder)}",
        f"--camera={world['camera']}",
        f"--batch-size={world['batch_size']}",
        f"--shard-size={world['shard_size']}",
    ]


def dataset_command(config: dict) -> list[str]:
    """`wmvla data record-smoke` arguments that produce a recorded dataset."""
    ds = config["dataset"]
    if ds["source"] == "record":
        rec = ds["record"]
        return [
            "record-smoke",
            f"--repo-id={ds['repo_id']}",
            f"--suite={rec['suite']}",
            "--task-ids",
            *map(str, rec["task_ids"]),
            f"--episodes-per-task={rec['episodes_per_task']}",
            f"--steps={rec['steps_per_episode']}",
            f"--image-size={rec['image_size']}",
            f"--seed={rec['seed']}",
        ]
    raise StudyConfigError("a Hub dataset comes from the hub stage, not from a dataset job")


def split_args(config: dict, split: str) -> list[str]:
    """`wmvla data episodes` options selecting a suite's training or held-out episodes."""
    return [f"--split={split}", f"--holdout-every={config['offline_check']['holdout_every']}"]


def experiment(config: dict, exp: str) -> dict:
    try:
        return config["experiments"][exp]
    except KeyError:
        known = ", ".join(sorted(config["experiments"]))
        raise StudyConfigError(f"unknown experiment {exp!r}; the config defines: {known}") from None


def uses_world(config: dict, exp: str) -> bool:
    return experiment(config, exp)["policy_type"] == "smolvla_world"


def world_policy_args(config: dict, exp: str) -> list[str]:
    """Flags tying a smolvla_world policy to its encoder's latent cache, and to the same encoder online."""
    encoder = experiment_encoder(config, exp)
    return [
        f"--policy.world_latents_path={latent_cache_dir(config, encoder)}",
        f"--policy.world_encoder={encoder}",
        f"--policy.world_encoder_path={encoder_path(config, encoder)}",
        f"--policy.world_temporal_window={encoder_window(config, encoder)}",
        f"--policy.world_camera={config['world']['camera']}",
        f"--policy.world_dim={encoder_spec(encoder).dim}",
    ]


def _world_cache_inputs(config: dict, exp: str) -> list[str]:
    return [str(latent_cache_dir(config, experiment_encoder(config, exp)))] if uses_world(config, exp) else []


def train_inputs(config: dict, exp: str) -> list[str]:
    """What a training job loads: dataset, init policy, VLM, and a world policy's latent cache."""
    inputs = [*dataset_inputs(config), *init_inputs(config), *vlm_inputs(config)]
    return [*inputs, *_world_cache_inputs(config, exp)]


def eval_inputs(config: dict, exp: str) -> list[str]:
    """What an evaluation loads besides the checkpoint: the VLM it names, the encoder that runs online."""
    encoder = encoder_inputs(config, experiment_encoder(config, exp)) if uses_world(config, exp) else []
    return [*vlm_inputs(config), *encoder]


def train_args(config: dict, suite: str, exp: str, seed: int) -> list[str]:
    """`lerobot-train` arguments of one run; the rule adds the output dir and the suite's episodes."""
    spec, pol, train = experiment(config, exp), config["policy"], config["train"]
    policy = ["--policy.type=" + spec["policy_type"]]
    if pol["init"]:  # world policies load the init weights/processors themselves; smolvla fine-tunes in place
        world = uses_world(config, exp)
        policy = (
            [*policy, "--policy.init_from_policy_path=" + init_path(config)]
            if world
            else ["--policy.path=" + init_path(config)]
        )
    steps = train_steps(config)
    return [
        f"--dataset.repo_id={config['dataset']['repo_id']}",
        f"--dataset.root={dataset_dir(config)}",
        "--dataset.video_backend=pyav",
        *policy,
        f"--policy.vlm_model_name={vlm_path(config)}",
        f"--policy.device={pol['device']}",
        *_flags("policy.", pol["args"]),
        *(world_policy_args(config, exp) if uses_world(config, exp) else []),
        *_flags("policy.", spec.get("policy_args", {})),
        f"--batch_size={train['batch_size']}",
        f"--steps={steps}",
        f"--save_freq={train['save_freq']}",
        f"--keep_checkpoints={train['keep_checkpoints']}",
        f"--log_freq={train['log_freq']}",
        f"--num_workers={train['num_workers']}",
        f"--seed={seed}",
        "--wandb.enable=false",
    ]


def eval_args(config: dict, suite: str, exp: str, seed: int, mode: str) -> list[str]:
    """`lerobot-wm-eval` arguments; the same env, episodes and seed for every experiment (paired)."""
    spec, ev = experiment(config, exp), config["eval"]
    if mode not in spec["eval_modes"]:
        raise StudyConfigError(f"experiment {exp} has no rollout mode {mode!r} (has {spec['eval_modes']})")
    if spec["policy_type"] == "smolvla" and mode != "pred":
        raise StudyConfigError(f"{exp}: a plain smolvla policy has no world memory to set to {mode!r}")
    args = [
        f"--policy.path={checkpoint_dir(config, suite, exp, seed)}",
        f"--policy.device={config['policy']['device']}",
        *eval_env_args(config, suite),
        f"--eval.n_episodes={ev['n_episodes']}",
        f"--videos_per_task={ev['videos_per_task']}",
        f"--seed={seed}",
        f"--result={eval_result(config, suite, exp, seed, mode)}",
    ]
    if uses_world(config, exp):
        args.append(f"--policy.world_memory_mode_rollout={mode}")
    return args


def eval_env_args(config: dict, suite: str) -> list[str]:
    """The evaluation protocol of a suite (DESIGN.md §8): identical for every arm, mode and gate."""
    ev = config["eval"]
    args = [
        f"--policy.n_action_steps={ev['n_action_steps']}",
        f"--policy.num_steps={ev['num_steps']}",
        "--env.type=libero",
        f"--env.task={suite}",
        f"--env.fps={ev['control_freq']}",
        f"--env.observation_height={ev['image_size']}",
        f"--env.observation_width={ev['image_size']}",
        f"--env.camera_name_mapping={_mapping(ev['cameras'])}",
        f"--env.init_states={cli_value(ev['init_states'])}",
        f"--env.hard_reset={cli_value(ev['hard_reset'])}",
        f"--eval.batch_size={ev['batch_size']}",
        f"--eval.use_async_envs={cli_value(ev['async_envs'])}",
    ]
    if suite in ev["task_ids"]:
        args.append(f"--env.task_ids={cli_value(ev['task_ids'][suite])}")
    if ev["episode_length"] is not None:
        args.append(f"--env.episode_length={ev['episode_length']}")
    return args


def scene_check_args(config: dict, suite: str) -> list[str]:
    """`wmvla sim check` of the scenes a suite's evaluations start from, against the training frames."""
    ev, scene = config["eval"], config["gates"]["scene"]
    task_ids = ev["task_ids"].get(suite)
    return [
        f"--suite={suite}",
        *(["--task-ids", *map(str, task_ids)] if task_ids else []),
        f"--init-states={ev['n_episodes']}",
        f"--image-size={ev['image_size']}",
        f"--dataset={dataset_dir(config)}",
        f"--camera={config['world']['camera']}",
        f"--reference-episodes={scene['reference_episodes']}",
        f"--tolerance-mean={scene['tolerance_mean']}",
        f"--tolerance-quantile={scene['tolerance_quantile']}",
    ]


def _mapping(mapping: dict[str, str]) -> str:
    """A dict as draccus reads it on the command line, keys in order."""
    return "{" + ", ".join(f"{k}: {mapping[k]}" for k in sorted(mapping)) + "}"


def init_gate_result(config: dict, suite: str) -> str:
    return str(gates_dir(config) / "init_policy" / suite / "pred.json")


def init_gate_eval_args(config: dict, suite: str) -> list[str]:
    """`lerobot-wm-eval` of the init checkpoint, unchanged, on a few episodes per task (gate 1).

    Its VLM comes from the study's offline cache (the init's config names the Hub id)."""
    return [
        f"--policy.path={init_path(config)}",
        f"--policy.vlm_model_name={vlm_path(config)}",
        f"--policy.device={config['policy']['device']}",
        *eval_env_args(config, suite),
        f"--eval.n_episodes={config['gates']['init_episodes_per_task']}",
        "--videos_per_task=1",
        f"--seed={config['seeds'][0]}",
        f"--result={init_gate_result(config, suite)}",
    ]


def run_description(config: dict, wildcards: dict[str, str]) -> str:
    """JSON identifying one job for its provenance: wildcards, experiment spec, shared settings."""
    exp = wildcards.get("exp")
    return json.dumps(
        {
            "study": config["study"],
            **wildcards,
            "experiment": experiment(config, exp) if exp else None,
            "policy": config["policy"],
            "train": config["train"],
            "holdout_every": config["offline_check"]["holdout_every"],
            "dataset": config["dataset"],
            "hub": {a.key: hub.locked_sha(hub_entries(config), a) for a in hub.study_artifacts(config)},
        },
        sort_keys=True,
    )


def offline_args(config: dict, suite: str, exp: str, seed: int) -> list[str]:
    """`wmvla eval offline` arguments (the rule adds --out)."""
    check = config["offline_check"]
    return [
        f"--checkpoint={checkpoint_dir(config, suite, exp, seed)}",
        f"--dataset={dataset_dir(config)}",
        f"--repo-id={config['dataset']['repo_id']}",
        f"--suite={suite}",
        f"--holdout-every={check['holdout_every']}",
        f"--batch-size={check['batch_size']}",
        *([f"--max-batches={check['max_batches']}"] if check["max_batches"] else []),
        f"--seed={seed}",
        f"--device={config['policy']['device']}",
    ]


def offline_inputs(config: dict, exp: str) -> list[str]:
    """What an offline check reads besides the checkpoint: dataset, VLM, and the cache of world policies."""
    return [*dataset_inputs(config), *vlm_inputs(config), *_world_cache_inputs(config, exp)]


def _runs(config: dict) -> list[tuple[str, str, int]]:
    return [(s, e, seed) for s in config["suites"] for e in config["experiments"] for seed in config["seeds"]]


def eval_results(config: dict) -> list[str]:
    """Every evaluation result: suites × experiments × seeds × rollout modes."""
    return [
        str(eval_result(config, suite, exp, seed, mode))
        for suite, exp, seed in _runs(config)
        for mode in experiment(config, exp)["eval_modes"]
    ]


def offline_results(config: dict) -> list[str]:
    return [str(offline_result(config, suite, exp, seed)) for suite, exp, seed in _runs(config)]


def world_train_dirs(config: dict) -> list[str]:
    """Training directories that hold a `metrics.jsonl` (smolvla_world runs)."""
    return [str(train_dir(config, s, e, seed)) for s, e, seed in _runs(config) if uses_world(config, e)]


def baseline(config: dict) -> str | None:
    """The experiment every other one is paired against (`analysis.baseline`, E0), if the study has it."""
    name = config.get("analysis", {}).get("baseline")
    return name if name in config["experiments"] else None


FUSION_FLAGS = {  # a fusion ablation sets one of these (DESIGN.md §4); the verdicts describe it so
    "world_inject_suffix_in": "earlier injection into the action expert's inputs (F2)",
    "world_prefix_tokens": "world tokens in the VLM prefix (F3a)",
    "world_prefix_cross_attn": "prefix cross-attention to the memory (F3b)",
}


def analysis_design(config: dict) -> Design:
    """Which experiment plays which part in the seed notes' criteria, and the analysis thresholds.

    An arm whose latents come from another encoder than the world arm's is an encoder arm (whatever else
    it changes); of the others, one that sets a fusion flag is a fusion ablation, one with several
    hypotheses an imagination bank.
    """
    analysis, experiments = config["analysis"], config["experiments"]

    def present(name: str | None) -> str | None:
        return name if name in experiments else None

    def args(exp: str) -> dict:
        return experiments[exp].get("policy_args", {})

    world_arm = present(analysis["world_arm"])
    world_encoder = experiment_encoder(config, world_arm) if world_arm else config["world"]["encoder"]
    world = [e for e in experiments if uses_world(config, e) and e != world_arm]
    encoders = [e for e in world if experiment_encoder(config, e) != world_encoder]
    same_encoder = [e for e in world if e not in encoders]
    fusion = [e for e in same_encoder if any(args(e).get(flag) for flag in FUSION_FLAGS)]
    changes = {}
    for exp in [*fusion, *encoders]:
        labels = [label for flag, label in FUSION_FLAGS.items() if args(exp).get(flag)]
        if exp in encoders:
            labels.insert(0, f"latents of {experiment_encoder(config, exp)} instead of {world_encoder}")
        changes[exp] = " and ".join(labels)
    return Design(
        baseline=baseline(config),
        capacity=present(analysis["capacity_control"]),
        world=world_arm,
        fusion=tuple(fusion),
        imagination=tuple(e for e in same_encoder if int(args(e).get("world_num_hypotheses", 1)) > 1),
        encoders=tuple(encoders),
        changes=changes,
        settings=Settings(
            **{k: analysis[k] for k in ("alpha", "equivalence_margin", "power", "gate_open_threshold")}
        ),
    )


def figure_names(config: dict) -> list[str]:
    """The figures this study can draw: ablation and imagination-bank figures only when it has such runs."""
    names = ["sr_by_experiment", "sr_per_task"]
    if baseline(config) and len(config["experiments"]) > 1:
        names.append("forest")
    specs = config["experiments"].values()
    if any(len(spec["eval_modes"]) > 1 for spec in specs):
        names.append("rollout_ablations")
    if any(spec["policy_type"] == "smolvla_world" for spec in specs):
        names += ["training_curves", "attention", "offline_memory_modes"]
    if any(int(spec.get("policy_args", {}).get("world_num_hypotheses", 1)) > 1 for spec in specs):
        names.append("imagination_bank")
    return names


def figure_files(config: dict) -> list[str]:
    return [
        str(figures_dir(config) / f"{name}.{ext}") for name in figure_names(config) for ext in ("png", "svg")
    ]


LIBERO_TASKS = {
    "libero_spatial": 10,
    "libero_object": 10,
    "libero_goal": 10,
    "libero_10": 10,
    "libero_90": 90,
}


def preflight_file(config: dict) -> str:
    """The node check every GPU job waits for (DESIGN.md §8)."""
    return str(study_root(config) / "preflight" / "preflight.json")


def footprint(config: dict) -> Footprint:
    """What the study will write besides the Hub cache: checkpoints, latent caches, evaluations."""
    ev = config["eval"]
    evaluations = [(s, m) for s, e, _ in _runs(config) for m in experiment(config, e)["eval_modes"]]
    tasks = {s: len(ev["task_ids"].get(s, [])) or LIBERO_TASKS[s] for s in config["suites"]}
    videos = sum(tasks[suite] for suite, _ in evaluations) * min(ev["videos_per_task"], ev["n_episodes"])
    return Footprint(
        runs=len(_runs(config)),
        checkpoints_per_run=config["train"]["keep_checkpoints"] + 1,  # + the one being written
        checkpoint_gb=config["preflight"]["checkpoint_gb"],
        latent_dims=tuple(encoder_spec(name).dim for name in study_encoders(config)),
        evaluations=len(evaluations),
        videos=videos,
        video_mb=config["preflight"]["video_mb"],
    )


def preflight_args(config: dict) -> list[str]:
    """`wmvla preflight` options (the rule adds the manifests and --out)."""
    return [
        f"--device={config['policy']['device']}",
        f"--suite={config['suites'][0]}",
        f"--image-size={config['eval']['image_size']}",
        f"--dataset={dataset_dir(config)}",
        f"--results={study_root(config)}",
        f"--footprint={footprint_json(footprint(config))}",
        f"--min-bf16-tflops={config['preflight']['min_bf16_tflops']}",
    ]


def preflight_inputs(config: dict) -> list[str]:
    """The dataset and every Hub artifact: the preflight checks they are readable on the node."""
    manifests = [hub_manifest(config, a.key) for a in hub.study_artifacts(config)]
    return list(dict.fromkeys([*dataset_inputs(config), *manifests]))


def gates_dir(config: dict) -> Path:
    return study_root(config) / "gates"


def gates_file(config: dict) -> str:
    """The summary of every gate (DESIGN.md §8): a failed enforced gate leaves it unwritten."""
    return str(gates_dir(config) / "gates.json")


def experiment_gate(config: dict, exp: str) -> str:
    """The gates of one experiment, which its trainings take as input (rerun when its overrides change)."""
    return str(gates_dir(config) / "experiments" / f"{exp}.json")


def study_gate_records(config: dict) -> list[str]:
    """The study-wide checks every training waits for: the node preflight, the scenes of every suite, and
    the init policy per suite (if the study fine-tunes one)."""
    records = [preflight_file(config)]
    records += [str(gates_dir(config) / "scene" / f"{s}.json") for s in config["suites"]]
    if config["policy"]["init"]:
        records += [str(gates_dir(config) / "init_policy" / f"{s}.json") for s in config["suites"]]
    return records


def latent_gate(config: dict, encoder: str) -> str:
    """The check of one encoder's latent cache (DESIGN.md §8)."""
    return str(gates_dir(config) / "latents" / f"{encoder}.json")


def latent_gate_inputs(config: dict, exp: str) -> list[str]:
    """The latent-cache check an experiment's gate waits for: its own encoder's, so rebuilding one
    experiment never needs another encoder's cache."""
    return [latent_gate(config, experiment_encoder(config, exp))] if uses_world(config, exp) else []


def gate_records(config: dict) -> list[str]:
    """Every record, for the report: the study-wide ones, each latent cache's and each experiment's."""
    latents = [latent_gate(config, name) for name in study_encoders(config)]
    return [
        *study_gate_records(config),
        *latents,
        *(experiment_gate(config, e) for e in config["experiments"]),
    ]


def skipped_gates(config: dict) -> list[str]:
    """NAME=REASON of the gates that do not apply to this study (recorded as skipped, never as passed)."""
    if config["policy"]["init"]:
        return []
    return ["init_policy_sr=the study fine-tunes no init checkpoint (policy.init is null)"]


def experiment_gate_plan(config: dict, exp: str) -> str:
    """JSON of what one experiment's gate job checks: its training arguments and the baseline's."""
    suite, seed = config["suites"][0], config["seeds"][0]  # neither changes the resolved policy
    base = baseline(config)
    return json.dumps(
        {
            "experiment": exp,
            "suite": suite,
            "holdout_every": config["offline_check"]["holdout_every"],
            "args": train_args(config, suite, exp, seed),
            "baseline": base,
            "baseline_args": train_args(config, suite, base, seed) if base else None,
            "differs_from_baseline": experiment(config, exp).get("differs_from_baseline", []),
            "n_action_steps": config["eval"]["n_action_steps"],
        },
        sort_keys=True,
    )


def owned_outputs(config: dict) -> list[str]:
    """The expensive outputs of a study that the ownership check guards (wmvla.ownership)."""
    runs = _runs(config)
    return [
        str(dataset_dir(config)),
        *latent_cache_dirs(config),
        *(str(train_dir(config, *run)) for run in runs),
        *eval_results(config),
        *offline_results(config),
    ]


def all_targets(config: dict) -> list[str]:
    """The gates, the latent caches, every evaluation and offline check, the tables, verdicts and figures."""
    return [
        gates_file(config),
        str(tables_dir(config) / "verdicts.csv"),
        *latent_cache_dirs(config),
        *eval_results(config),
        *offline_results(config),
        *figure_files(config),
    ]
