"""The DAG: config validation, planned jobs, and the command lines jobs run."""

import re

import pytest
import yaml

from wmvla.analysis.names import figure_names
from wmvla.design import Design
from wmvla.study import artifacts, commands, design, resources, targets
from wmvla.study.config import StudyConfigError, baseline, train_steps

from .plans import job_counts, planned_jobs, snakemake

SMOKE_CACHE = "results/smoke/latents/libero_smoke/vjepa2-tiny/temporal_window_4"
VJEPA_CACHE = "results/full/latents/libero/vjepa2-vitg/temporal_window_4"
COSMOS_CACHE = "results/full/latents/libero/cosmos-cv8x8x8/temporal_window_9"


def _load(repo, name):
    """A shipped study config as the Snakefile sees it: validated, the schema's defaults filled in."""
    from wmvla.study.config import load_study_config

    return load_study_config(repo / "config" / name)


def _dry_run_plan(snakemake_bin, repo, *args, cwd=None) -> str:
    """The plan `snakemake -n` prints."""
    out = snakemake(snakemake_bin, repo, "-n", *args, cwd=cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _figures(config: dict) -> list[str]:
    """The figures a study config draws (what the Snakefile asks of `figure_names`)."""
    return figure_names(
        config["experiments"], baseline(config), config.get("perturbations", {}).get("kinds", [])
    )


def _dry_run(snakemake_bin, repo, *args, cwd=None):
    """Plan with `snakemake -n` and return the job counts per rule (the 'Job stats' table)."""
    return job_counts(_dry_run_plan(snakemake_bin, repo, *args, cwd=cwd))


@pytest.mark.parametrize("name", ["smoke.yaml", "config.yaml"])
def test_shipped_configs_validate(repo, name):
    from snakemake.utils import validate

    config = _load(repo, name)
    validate(config, schema=str(repo / "config" / "schema.yaml"))
    assert targets.all_targets(config, _figures(config))


def _planned(config: dict) -> dict[str, int]:
    """The jobs the dry run of a study config plans, counted from the config (tests/plans.py)."""
    return planned_jobs(config, len(_figures(config)))


def test_smoke_dry_run_plans_the_whole_chain(snakemake_bin, repo, tmp_path):
    # smoke.yaml: E0, E1, E2, E2_cosmos trained and checked offline, evaluated as trained (E2 also with its
    # memory zeroed); the tiny VLM and one tiny model and latent cache (with its gate) per encoder; tables,
    # verdicts, and PNG+SVG of every figure; then the perturbation axis (one LIBERO-PRO variant, E0 and E2)
    config = _load(repo, "smoke.yaml")
    assert _dry_run(snakemake_bin, repo, "--directory", str(tmp_path)) == _planned(config)
    from wmvla.study.cost import job_counts

    assert job_counts(config, len(_figures(config))) == _planned(config)  # what `wmvla cost` counts


def test_full_config_plans_every_suite_and_seed(snakemake_bin, repo, tmp_path):
    jobs = _dry_run(
        snakemake_bin, repo, "--configfile", str(repo / "config/config.yaml"), "--directory", str(tmp_path)
    )
    from wmvla.study.cost import job_counts

    full = _load(repo, "config.yaml")
    assert job_counts(full, len(_figures(full))) == jobs  # what `wmvla cost` counts
    # config.yaml: every experiment (E0-E2, E2_cosmos, the fusion ablations, the imagination banks) on 4
    # suites x 3 seeds; one evaluation per run, E2 three (pred, zero, random); the 6 Hub artifacts fetched and
    # the init localized; every figure, imagination bank included; E0-E2's runs evaluated again under each
    # of LIBERO-PRO's 4 perturbations, after each variant's scene check
    assert jobs == _planned(full)


def test_config_narrows_on_the_command_line(snakemake_bin, repo, tmp_path):
    jobs = _dry_run(
        snakemake_bin,
        repo,
        "--configfile",
        str(repo / "config/config.yaml"),
        "--directory",
        str(tmp_path),
        "--config",
        "suites=[libero_goal]",
        "seeds=[1]",
    )
    narrowed = {**_load(repo, "config.yaml"), "suites": ["libero_goal"], "seeds": [1]}
    assert jobs == _planned(narrowed)
    assert jobs["train"] == len(narrowed["experiments"]) and jobs["gate_init_policy"] == 1


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("seedz=[0]", "seedz"),
        ("suites=[libero_nope]", "libero_nope"),
        ("offline=maybe", "'offline' was unexpected"),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_key(snakemake_bin, repo, tmp_path, override, named):
    out = snakemake(snakemake_bin, repo, "-n", "--directory", str(tmp_path), "--config", override)
    assert out.returncode != 0
    assert "Error validating config" in out.stderr + out.stdout
    assert named in out.stderr + out.stdout
    assert not (tmp_path / "results").exists()


def test_train_args_fix_the_sample_budget(repo):
    config = _load(repo, "smoke.yaml")
    args = commands.train_args(config, "libero_spatial", "E0", 0)
    steps = config["train"]["total_samples"] // config["train"]["batch_size"]
    assert f"--steps={steps}" in args and "--save_freq=50" in args and "--keep_checkpoints=1" in args
    assert "--policy.type=smolvla" in args
    assert "--policy.resize_imgs_with_padding=[64,64]" in args
    assert "--policy.load_vlm_weights=false" in args
    assert "--dataset.root=results/smoke/data/libero_smoke" in args


def test_full_study_fine_tunes_from_the_init_checkpoint(repo):
    config = _load(repo, "config.yaml")
    args = commands.train_args(config, "libero_goal", "E0", 2)
    assert "--policy.path=results/full/init" in args  # the localized init (wmvla.hub.localize)
    assert not any(a.startswith("--policy.type") for a in args)
    assert "--seed=2" in args
    world = commands.train_args(config, "libero_goal", "E2", 2)
    assert "--policy.init_from_policy_path=results/full/init" in world
    localize_from = "results/full/hub/models--HuggingFaceVLA--smolvla_libero/snapshots/"  # the offline cache
    assert artifacts.init_origin(config)[0].startswith(localize_from)


def test_budget_not_divisible_by_batch_is_an_error(repo):
    config = _load(repo, "smoke.yaml")
    config["train"]["total_samples"] = 401
    with pytest.raises(StudyConfigError, match="not a multiple"):
        train_steps(config)


def test_eval_args_are_paired_across_experiments(repo):
    config = _load(repo, "smoke.yaml")
    config["experiments"]["E0b"] = dict(config["experiments"]["E0"])
    a = commands.eval_args(config, "libero_spatial", "E0", 0, "pred")
    b = commands.eval_args(config, "libero_spatial", "E0b", 0, "pred")
    differing = {x for x in a if x not in b} | {x for x in b if x not in a}
    assert all(x.startswith(("--policy.path=", "--result=")) for x in differing)
    assert "--env.task_ids=[0]" in a and "--env.episode_length=30" in a
    protocol = [
        "--policy.n_action_steps=10",
        "--policy.num_steps=10",
        "--env.fps=20",
        "--env.hard_reset=true",
    ]
    assert all(flag in a for flag in protocol) and "--env.init_states=true" in a
    assert "--env.camera_name_mapping={agentview_image: image, robot0_eye_in_hand_image: image2}" in a
    assert "--result=results/smoke/libero_spatial/E0/seed0/eval/pred.json" in a
    assert (
        "--policy.path=results/smoke/libero_spatial/E0/seed0/train/checkpoints/000200/pretrained_model" in a
    )
    full = commands.eval_args(_load(repo, "config.yaml"), "libero_goal", "E2", 1, "zero")
    assert "--policy.path=results/full/libero_goal/E2/seed1/train/checkpoints/050000/pretrained_model" in full


def test_a_perturbed_evaluation_is_its_runs_plain_one_on_the_variant_suite(repo):
    """Same checkpoint, protocol, tasks, episodes and seed as the run's plain evaluation (paired with it); the
    variant's suite and a result of its own. A null episode length stays unset (the plain suite's applies)."""
    full, smoke = _load(repo, "config.yaml"), _load(repo, "smoke.yaml")
    plain = commands.eval_args(full, "libero_goal", "E2", 1, "pred")
    swap = commands.perturbed_eval_args(full, "libero_goal", "E2", 1, "swap", "pred")
    assert [a for a in swap if a not in plain] == [
        "--env.task=libero_goal_swap",
        "--result=results/full/libero_goal/E2/seed1/eval/swap/pred.json",
    ]
    assert len(swap) == len(plain) and not any(a.startswith("--env.episode_length") for a in swap)
    lan = commands.perturbed_eval_args(smoke, "libero_spatial", "E0", 0, "lan", "pred")
    assert "--env.task_ids=[0]" in lan and "--env.episode_length=30" in lan  # the plain suite's settings
    scene = commands.scene_check_args(smoke, "libero_spatial_lan")
    assert scene == ["--suite=libero_spatial_lan", *commands.scene_check_args(smoke, "libero_spatial")[1:]]
    assert targets.perturbed_eval_results(smoke) == [
        f"results/smoke/libero_spatial/{exp}/seed0/eval/lan/pred.json" for exp in ("E0", "E2")
    ]
    record = "results/smoke/gates/scene/libero_spatial_lan.json"
    assert record in targets.gate_records(smoke)  # the report's summary
    assert record not in targets.study_gate_records(smoke)  # no training waits for it
    assert not any(record in targets.clearance_records(smoke, exp) for exp in smoke["experiments"])


def test_world_experiments_read_the_cache_and_fine_tune_from_the_init(repo):
    smoke, full = _load(repo, "smoke.yaml"), _load(repo, "config.yaml")
    args = commands.train_args(smoke, "libero_spatial", "E2", 0)
    assert "--policy.type=smolvla_world" in args
    assert f"--policy.world_latents_path={SMOKE_CACHE}" in args
    assert "--policy.world_dim=64" in args and "--policy.world_memory_mode_train=pred" in args
    assert "--policy.world_memory_mode_train=learned" in commands.train_args(smoke, "libero_spatial", "E1", 0)
    full_args = commands.train_args(full, "libero_10", "E2", 1)
    assert "--policy.init_from_policy_path=results/full/init" in full_args  # localized from the snapshot
    assert "--policy.world_dim=1408" in full_args and not any(
        a.startswith("--policy.path") for a in full_args
    )
    assert SMOKE_CACHE in artifacts.train_inputs(smoke, "E2")
    assert "results/smoke/models/vjepa2-tiny" in artifacts.eval_inputs(smoke, "E2")
    assert "--policy.world_encoder_path=results/smoke/models/vjepa2-tiny" in args
    assert "--policy.vlm_model_name=results/smoke/models/smolvlm-tiny" in args
    assert artifacts.eval_inputs(smoke, "E0") == ["results/smoke/models/smolvlm-tiny"]


def test_rollout_ablation_sets_the_memory_mode(repo):
    config = _load(repo, "smoke.yaml")
    assert "--policy.world_memory_mode_rollout=zero" in commands.eval_args(
        config, "libero_spatial", "E2", 0, "zero"
    )
    assert not any("world_memory" in a for a in commands.eval_args(config, "libero_spatial", "E0", 0, "pred"))
    # `pred` is each policy as trained: E1 rolls out with its learned memory, as its checkpoint says
    assert not any("world_memory" in a for a in commands.eval_args(config, "libero_spatial", "E1", 0, "pred"))


def test_plain_smolvla_has_no_memory_ablation(repo):
    config = _load(repo, "smoke.yaml")
    config["experiments"]["E0"]["eval_modes"] = ["pred", "zero"]
    with pytest.raises(StudyConfigError, match="no world memory"):
        commands.eval_args(config, "libero_spatial", "E0", 0, "zero")


def test_figures_follow_the_experiments_of_the_study(repo):
    config = _load(repo, "smoke.yaml")
    assert "imagination_bank" not in _figures(config) and "rollout_ablations" in _figures(config)
    config["experiments"]["IB_mixture4"] = {
        "policy_type": "smolvla_world",
        "policy_args": {"world_num_hypotheses": 4, "world_hypothesis_method": "mixture"},
        "eval_modes": ["pred"],
    }
    assert "imagination_bank" in _figures(config)
    plain = {"study": "x", "experiments": {"E0": {"policy_type": "smolvla", "eval_modes": ["pred"]}}}
    assert _figures(plain) == ["sr_by_experiment", "sr_per_task", "cost"]  # cost: every study has one
    assert "perturbations" in _figures(config)
    assert "perturbations" not in _figures({**config, "perturbations": {"kinds": []}})
    assert baseline(config) == "E0" and baseline({"experiments": {}}) is None


def test_offline_check_holds_out_what_training_leaves_out(repo):
    config = _load(repo, "smoke.yaml")
    every = config["offline_check"]["holdout_every"]
    assert f"--holdout-every={every}" in commands.offline_args(config, "libero_spatial", "E2", 0)
    assert commands.split_args(config, "train") == ["--split=train", f"--holdout-every={every}"]
    assert SMOKE_CACHE in artifacts.offline_inputs(config, "E2")
    assert SMOKE_CACHE not in artifacts.offline_inputs(config, "E0")


@pytest.mark.parametrize("name", ["smoke.yaml", "config.yaml"])
def test_every_world_experiment_is_a_valid_policy_config(repo, name):
    """The overrides of each experiment build a SmolVLAWorldConfig: no typo waits for a GPU job to fail."""
    from lerobot_policy_smolvla_world import SmolVLAWorldConfig

    config = _load(repo, name)
    for spec in config["experiments"].values():
        if spec["policy_type"] == "smolvla_world":
            SmolVLAWorldConfig(**{**config["policy"]["args"], **spec.get("policy_args", {})}, world_dim=64)


def test_a_study_config_given_on_the_command_line_is_not_mixed_with_smoke(snakemake_bin, repo, tmp_path):
    """`--configfile config/config.yaml` alone defines the study: no tiny-model setting of smoke.yaml."""
    out = snakemake(
        snakemake_bin,
        repo,
        "-n",
        "-p",
        "--directory",
        str(tmp_path),
        "--configfile",
        str(repo / "config/config.yaml"),
        "--config",
        "suites=[libero_goal]",
        "seeds=[0]",
    )
    assert out.returncode == 0, out.stderr
    train = next(line for line in out.stdout.splitlines() if "wmvla train run" in line)
    assert "--policy.device=cuda" in train and "--batch_size=64" in train
    for smoke_only in ("resize_imgs_with_padding", "load_vlm_weights", "num_vlm_layers", "record"):
        assert smoke_only not in train


def test_mi300x_profile_plans_the_full_matrix_with_one_gpu_per_gpu_job(snakemake_bin, repo, tmp_path):
    profile = str(repo / "profiles/mi300x")
    out = snakemake(
        snakemake_bin, repo, "--profile", profile, "-n", "--directory", str(tmp_path), timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert job_counts(out.stdout) == _planned(_load(repo, "config.yaml"))
    resources: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out.stdout):
        rule = re.match(r"(local)?rule (\w+):", block)
        found = re.search(r"resources: (.*)", block)
        if rule and found:
            resources.setdefault(f"{rule[1] or ''}{rule[2]}", set()).add(found[1])
    for gpu_rule in ("latents", "train", "eval", "offline_check"):
        for line in resources[gpu_rule]:
            assert "gpu=1" in line.split(", ") and "cpus_per_gpu=" in line, (gpu_rule, line)
    assert not any("gpu=" in line for rule in ("hub", "tables", "figure") for line in resources[rule])


def test_a_single_target_plans_only_what_it_needs(snakemake_bin, repo, tmp_path):
    config = ["--configfile", str(repo / "config/config.yaml"), "--directory", str(tmp_path)]
    # the study-wide gates (the preflight checks every Hub artifact: all are fetched) and the experiment's
    # own gate; a world-branch experiment also its encoder's latent cache and that cache's gate, no other
    # cache, and E0's gate (its saved processors, which the arm's must equal)
    full = _load(repo, "config.yaml")
    suites = len(full["suites"])
    gates = {
        "preflight": 1, "gate_scene": suites, "gate_init_policy": suites, "study_gates": 1,
        "gate_experiment": 1, "experiment_cleared": 1,
    }  # fmt: skip
    # every artifact (the preflight checks all), the init localized
    hub = {"hub": len(artifacts.study_artifacts(full)), "init_checkpoint": 1}
    world = {**hub, **gates, "gate_experiment": 2, "latents": 1, "gate_latents": 1, "train": 1}
    for exp in ("F3b", "E2_cosmos"):
        plan = _dry_run_plan(
            snakemake_bin, repo, *config, f"results/full/libero_goal/{exp}/seed1/eval/pred.json"
        )
        assert job_counts(plan) == {**world, "eval": 1}
        cache = COSMOS_CACHE if exp == "E2_cosmos" else VJEPA_CACHE
        assert re.findall(r"output: (results/full/latents/libero/\S+)", plan) == [cache]
    jobs = _dry_run(snakemake_bin, repo, *config, "results/full/libero_10/E0/seed0/offline.json")
    assert jobs == {**hub, **gates, "train": 1, "offline_check": 1}  # E0 reads no latent cache
    # under perturbation: the same run, and that variant's scene check with its clearance
    jobs = _dry_run(snakemake_bin, repo, *config, "results/full/libero_10/E0/seed0/eval/swap/pred.json")
    variant = {"gate_scene": suites + 1, "perturbation_cleared": 1, "eval_perturbed": 1}
    assert jobs == {**hub, **gates, "train": 1, **variant}
    jobs = _dry_run(
        snakemake_bin, repo, "--directory", str(tmp_path), "results/smoke/figures/sr_per_task.png"
    )
    smoke = _planned(_load(repo, "smoke.yaml"))
    everything_but_the_report = {k: n for k, n in smoke.items() if k not in ("all", "verdicts")}
    assert jobs == {**everything_but_the_report, "figure": 1}  # one figure reads every run's results


def test_reordering_config_keys_does_not_change_any_command_line(repo):
    """Snakemake reruns a job whose params changed; key order in YAML must not count as a change."""
    config = _load(repo, "smoke.yaml")
    reordered = yaml.safe_load(yaml.safe_dump(config, sort_keys=True))
    for exp in config["experiments"]:
        assert commands.train_args(config, "libero_spatial", exp, 0) == commands.train_args(
            reordered, "libero_spatial", exp, 0
        )
    shuffled = dict(reversed(list(config["policy"]["args"].items())))
    assert commands.train_args(
        {**config, "policy": {**config["policy"], "args": shuffled}}, "libero_spatial", "E0", 0
    ) == (commands.train_args(config, "libero_spatial", "E0", 0))


def test_smoke_and_full_studies_share_no_output_path(repo):
    smoke, full = _load(repo, "smoke.yaml"), _load(repo, "config.yaml")
    outputs = {
        name: set(targets.all_targets(c, _figures(c))) | set(targets.owned_outputs(c))
        for name, c in (("smoke", smoke), ("full", full))
    }
    assert all(p.startswith("results/smoke/") for p in outputs["smoke"])
    assert all(p.startswith("results/full/") for p in outputs["full"])
    assert not outputs["smoke"] & outputs["full"]


def test_an_artifact_of_another_study_stops_the_dry_run_untouched(snakemake_bin, repo, tmp_path):
    """A directory under the smoke root whose provenance names the full study: refused, nothing deleted."""
    train = tmp_path / "results/smoke/libero_spatial/E2/seed0/train"
    (train / "checkpoints").mkdir(parents=True)
    (train / "checkpoints/weights").write_bytes(b"precious")
    (train / "provenance.json").write_text('{"study": "full", "config": {"study": "full"}}')
    out = snakemake(snakemake_bin, repo, "--cores", "1", "--directory", str(tmp_path))
    assert out.returncode != 0
    assert (
        "results/smoke/libero_spatial/E2/seed0/train was produced by study 'full', not 'smoke'"
        in out.stdout + out.stderr
    )
    assert (train / "checkpoints/weights").read_bytes() == b"precious"
    assert sorted(p.name for p in (tmp_path / "results/smoke").iterdir()) == ["libero_spatial"]


def test_an_experiment_names_its_encoder_and_everything_follows(repo):
    """Cache, online encoder, clip length and D of E2_cosmos follow its `encoder`; E2 keeps the study's."""
    full = _load(repo, "config.yaml")
    cosmos, vjepa = (commands.train_args(full, "libero_goal", e, 0) for e in ("E2_cosmos", "E2"))
    snapshot = "results/full/hub/models--nvidia--Cosmos-1.0-Tokenizer-CV8x8x8/snapshots/"
    assert f"--policy.world_latents_path={COSMOS_CACHE}" in cosmos
    assert {"--policy.world_encoder=cosmos-cv8x8x8", "--policy.world_temporal_window=9"} <= set(cosmos)
    assert "--policy.world_dim=256" in cosmos and "--policy.world_dim=1408" in vjepa
    assert any(a.startswith(f"--policy.world_encoder_path={snapshot}") for a in cosmos)
    assert f"--policy.world_latents_path={VJEPA_CACHE}" in vjepa
    assert artifacts.train_inputs(full, "E2_cosmos")[-1] == COSMOS_CACHE
    assert "results/full/hub/manifests/encoder.cosmos-cv8x8x8.json" in artifacts.eval_inputs(
        full, "E2_cosmos"
    )
    assert targets.latent_gate_encoders(full, "E2_cosmos") == ["cosmos-cv8x8x8"]
    assert targets.latent_gate(full, "cosmos-cv8x8x8") == "results/full/gates/latents/cosmos-cv8x8x8.json"
    assert targets.latent_gate_encoders(full, "E0") == []
    cosmos_hub = next(a for a in artifacts.study_artifacts(full) if a.key == "encoder.cosmos-cv8x8x8")
    assert cosmos_hub.repo_id == "nvidia/Cosmos-1.0-Tokenizer-CV8x8x8" and cosmos_hub.files[0].startswith(
        "vae/"
    )
    assert resources.footprint(full)["latent_dims"] == [1408, 256]
    roles = Design.from_json(design.design_json(full))
    assert "E2_cosmos" in roles.encoders and "E2_cosmos" not in roles.fusion + roles.imagination
    assert roles.changes["E2_cosmos"] == "latents of cosmos-cv8x8x8 instead of vjepa2-vitg"
    assert "E2_cosmos" in roles.versus_world  # paired against E2 (and, as every arm, against E0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["experiments"]["E0"].update(encoder="cosmos-tiny"), "E0 names encoder 'cosmos-tiny'"),
        (
            lambda c: c["experiments"]["E2"]["policy_args"].update(world_dim=16),
            "experiment E2 overrides world_dim, which the DAG sets",
        ),
        (
            lambda c: c["policy"]["args"].update(world_temporal_window=9),
            "policy.args overrides world_temporal",
        ),
    ],
)
def test_encoder_settings_the_dag_derives_cannot_be_overridden(repo, edit, message):
    from wmvla.study.checks import check_study_config

    config = _load(repo, "smoke.yaml")
    config["experiments"]["E2"]["policy_args"] = dict(config["experiments"]["E2"]["policy_args"])
    edit(config)
    with pytest.raises(StudyConfigError, match=message):
        check_study_config(config, "E0")


def test_a_target_after_configfile_is_refused_in_one_line_and_one_after_the_double_dash_planned(
    snakemake_bin, repo, tmp_path
):
    """Snakemake's `--configfile` takes every word after it: an existing target there would be read as a
    config (a missing one fails in Snakemake's own command line, before the workflow runs)."""
    target = "results/smoke/gates/gates.json"
    (tmp_path / target).parent.mkdir(parents=True)
    (tmp_path / target).write_text('{"enforced": true}')  # a summary a run left
    smoke = str(repo / "config/smoke.yaml")
    out = snakemake(snakemake_bin, repo, "-n", "--configfile", smoke, target, cwd=tmp_path)
    said = out.stdout + out.stderr
    assert out.returncode != 0 and "Error validating config" not in said, said[-3000:]
    assert f"\n--configfile took {tmp_path / target} as a config file (it takes every word after it)" in said
    assert "put targets before --configfile, or end its files with --" in said
    (tmp_path / target).unlink()
    planned = _dry_run(snakemake_bin, repo, "--configfile", smoke, "--", target, cwd=tmp_path)
    assert planned["gates"] == 1 and "train" not in planned


def test_an_unknown_encoder_fails_the_dry_run_naming_it(snakemake_bin, repo, tmp_path):
    world = "world={encoder: dino-v9, temporal_window: 4, camera: observation.images.image, batch_size: 4, "
    world += "shard_size: 8}"
    out = snakemake(snakemake_bin, repo, "-n", "--directory", str(tmp_path), "--config", world)
    assert out.returncode != 0 and "dino-v9" in out.stdout + out.stderr
