"""The command line of every job, derived from the validated study config.

Why here and not in `rules/*.smk`: the command lines are the logic of the pipeline; as plain functions of
(config, wildcards) they are unit-tested, and the rules stay wiring only. Flags are emitted in key order:
reordering keys in a config file must not look like a change of parameters to Snakemake (which reruns jobs).
"""

import json
import os
from pathlib import Path
from typing import Any

from wmvla.latents.registry import encoder_spec
from wmvla.sim.perturbations import perturbed_suite, split_suite
from wmvla.study.artifacts import (
    dataset_dir,
    encoder_source,
    init_source,
    vlm_source,
)
from wmvla.study.config import (
    StudyConfigError,
    baseline,
    experiment,
    experiment_encoder,
    train_steps,
    uses_world,
)
from wmvla.study.fields import cli_value, world_only_fields
from wmvla.study.paths import (
    CURVES,
    GATE_INIT_RESULT,
    checkpoint_dir,
    encoder_temporal_window,
    eval_result,
    fill,
    latent_cache_dir,
    perturbed_eval_result,
    study_root,
)
from wmvla.study.resources import footprint


def _flags(prefix: str, args: dict[str, Any]) -> list[str]:
    return [f"--{prefix}{key}={cli_value(args[key])}" for key in sorted(args)]


def _mapping(mapping: dict[str, str]) -> str:
    """A dict as draccus reads it on the command line, keys in order."""
    return "{" + ", ".join(f"{k}: {mapping[k]}" for k in sorted(mapping)) + "}"


def dataset_command(config: dict) -> list[str]:
    """`wmvla data record-smoke` arguments that produce a recorded dataset."""
    ds = config["dataset"]
    if ds["source"] != "record":
        raise StudyConfigError("a Hub dataset comes from the hub stage, not from a dataset job")
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


def latents_command(config: dict, encoder: str) -> list[str]:
    """`wmvla latents build` arguments of one encoder's cache (the rule adds --out)."""
    world = config["world"]
    return [
        f"--dataset={dataset_dir(config)}",
        f"--repo-id={config['dataset']['repo_id']}",
        f"--encoder={encoder}",
        f"--encoder-path={encoder_source(config, encoder)[0]}",
        f"--temporal-window={encoder_temporal_window(config, encoder)}",
        f"--camera={world['camera']}",
        f"--batch-size={world['batch_size']}",
        f"--shard-size={world['shard_size']}",
    ]


def split_args(config: dict, split: str) -> list[str]:
    """Options selecting a suite's training or held-out episodes (`wmvla data episodes`, `train run`)."""
    return [f"--split={split}", f"--holdout-every={config['offline_check']['holdout_every']}"]


def train_run_args(config: dict, suite: str, exp: str, seed: int) -> list[str]:
    """`wmvla train run` options: the dataset whose suite episodes it trains on, and where its live curves go
    (always: a switch would change the job's parameters, and Snakemake would retrain every run for it; they
    cost ~1% of a training, bench/curves.py). The rule adds --out."""
    curves = fill(CURVES, config, suite=suite, exp=exp, seed=seed)
    return [
        f"--dataset={dataset_dir(config)}",
        f"--suite={suite}",
        *split_args(config, "train"),
        f"--curves={curves}",
    ]


def world_policy_args(config: dict, exp: str) -> list[str]:
    """Flags tying a smolvla_world policy to its encoder's latent cache, and to the same encoder online."""
    encoder = experiment_encoder(config, exp)
    return [
        f"--policy.world_latents_path={latent_cache_dir(config, encoder)}",
        f"--policy.world_encoder={encoder}",
        f"--policy.world_encoder_path={encoder_source(config, encoder)[0]}",
        f"--policy.world_temporal_window={encoder_temporal_window(config, encoder)}",
        f"--policy.world_camera={config['world']['camera']}",
        f"--policy.world_dim={encoder_spec(encoder).dim}",
    ]


def train_args(config: dict, suite: str, exp: str, seed: int) -> list[str]:
    """`lerobot-wm-train` arguments of one run (`wmvla train run` adds the output dir and episodes)."""
    spec, pol, train = experiment(config, exp), config["policy"], config["train"]
    world = uses_world(config, exp)
    policy = ["--policy.type=" + spec["policy_type"]]
    init = init_source(config)[0]
    if init:  # world policies load the init weights/processors themselves; smolvla fine-tunes in place
        policy = [*policy, "--policy.init_from_policy_path=" + init] if world else ["--policy.path=" + init]
    return [
        f"--dataset.repo_id={config['dataset']['repo_id']}",
        f"--dataset.root={dataset_dir(config)}",
        "--dataset.video_backend=pyav",
        *policy,
        f"--policy.vlm_model_name={vlm_source(config)[0]}",
        f"--policy.device={pol['device']}",
        *_flags("policy.", pol["args"]),
        *(world_policy_args(config, exp) if world else []),
        *_flags("policy.", spec.get("policy_args", {})),
        f"--batch_size={train['batch_size']}",
        f"--steps={train_steps(config)}",
        f"--save_freq={train['save_freq']}",
        f"--keep_checkpoints={train['keep_checkpoints']}",
        f"--log_freq={train['log_freq']}",
        f"--num_workers={train['num_workers']}",
        f"--seed={seed}",
        "--wandb.enable=false",
    ]


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
    if uses_world(config, exp) and mode != "pred":  # `pred`: as trained, the checkpoint's own memory mode
        args.append(f"--policy.world_memory_mode_rollout={mode}")
    return args


def perturbed_eval_args(config: dict, suite: str, exp: str, seed: int, kind: str, mode: str) -> list[str]:
    """`lerobot-wm-eval` of a run on LIBERO-PRO's `kind` variant of its suite: the run's plain evaluation
    (same checkpoint, protocol, task ids, episodes and seed: paired with it), with the variant's suite and its
    own result. A null `eval.episode_length` stays unset: the evaluation gives a variant the plain suite's."""
    swap = {
        f"--env.task={suite}": f"--env.task={perturbed_suite(suite, kind)}",
        f"--result={eval_result(config, suite, exp, seed, mode)}": (
            f"--result={perturbed_eval_result(config, suite, exp, seed, kind, mode)}"
        ),
    }
    return [swap.get(arg, arg) for arg in eval_args(config, suite, exp, seed, mode)]


def init_gate_eval_args(config: dict, suite: str) -> list[str]:
    """`lerobot-wm-eval` of the init checkpoint, unchanged, on a few episodes per task (gate 1).

    Its VLM comes from the study's offline cache (the init's config names the Hub id)."""
    return [
        f"--policy.path={init_source(config)[0]}",
        f"--policy.vlm_model_name={vlm_source(config)[0]}",
        f"--policy.device={config['policy']['device']}",
        *eval_env_args(config, suite),
        f"--eval.n_episodes={config['gates']['init_episodes_per_task']}",
        "--videos_per_task=1",
        f"--seed={config['seeds'][0]}",
        f"--result={fill(GATE_INIT_RESULT, config, suite=suite)}",
    ]


def scene_check_args(config: dict, suite: str) -> list[str]:
    """`wmvla sim check` of the scenes a suite's evaluations start from, against the training frames (also of
    a LIBERO-PRO variant, `<suite>_<kind>`: its plain suite's tasks)."""
    ev, scene = config["eval"], config["gates"]["scene"]
    task_ids = ev["task_ids"].get(split_suite(suite)[0])  # a perturbed suite: its plain suite's tasks
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


def preflight_args(config: dict) -> list[str]:
    """`wmvla preflight` options (the rule adds the manifests and --out)."""
    return [
        f"--device={config['policy']['device']}",
        f"--suite={config['suites'][0]}",
        "--suites",
        *config["suites"],
        f"--jobs-per-node={config['preflight']['jobs_per_node']}",
        f"--image-size={config['eval']['image_size']}",
        f"--dataset={dataset_dir(config)}",
        f"--results={study_root(config)}",
        f"--footprint={json.dumps(footprint(config))}",
        f"--min-bf16-tflops={config['preflight']['min_bf16_tflops']}",
    ]


def run_description(config: dict, wildcards: dict[str, str]) -> str:
    """JSON naming one training run for its provenance: the study and the wildcards. Nothing more, because a
    rule's params are rerun triggers: what defines the run (its `lerobot-wm-train` arguments, its episodes)
    is in the other params, and `wmvla train run` records them beside this; a config key that changes no
    argument (a new setting's default, an evaluation-only knob) must retrain nothing."""
    return json.dumps({"study": config["study"], **wildcards}, sort_keys=True)


def gate_eval_args(config: dict, suite: str) -> list[str]:
    """`lerobot-wm-eval` options of an experiment gate's evaluation: the study's protocol on one batch of
    episodes of the suite's first task (the gate adds the checkpoint and the result)."""
    ev = config["eval"]
    first_task = (ev["task_ids"].get(suite) or [0])[0]
    protocol = [a for a in eval_env_args(config, suite) if not a.startswith("--env.task_ids=")]
    return [
        f"--policy.device={config['policy']['device']}",
        *protocol,
        f"--env.task_ids=[{first_task}]",
        f"--eval.n_episodes={ev['batch_size']}",
        "--videos_per_task=0",
        f"--seed={config['seeds'][0]}",
    ]


def experiment_gate_plan(config: dict, exp: str) -> str:
    """JSON of what one experiment's gate job checks: its training arguments and the baseline's, and the
    fields a world-branch arm may set differently from the baseline (its world branch)."""
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
            "world_fields": sorted(world_only_fields()),
            "n_action_steps": config["eval"]["n_action_steps"],
            "eval_args": gate_eval_args(config, suite),
        },
        sort_keys=True,
    )


def skipped_gates(config: dict) -> list[str]:
    """NAME=REASON of the gates that do not apply to this study (recorded as skipped, never as passed)."""
    if config["policy"]["init"]:
        return []
    return ["init_policy_sr=the study fine-tunes no init checkpoint (policy.init is null)"]


def config_json(config: dict) -> str:
    """The study config for a job that needs all of it (`wmvla cost`), with no path of this checkout in it:
    a clone elsewhere has the same parameters."""
    lock = Path(config["hub_lock"])
    relative = os.path.relpath(lock) if lock.is_absolute() else str(lock)
    return json.dumps({**config, "hub_lock": relative}, sort_keys=True)
