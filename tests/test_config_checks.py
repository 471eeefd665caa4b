"""Study-config checks that run while the DAG is built: override keys and values, arm parity."""

import dataclasses
import re

import pytest
import yaml

from wmvla.study.checks import check_overrides, check_parity, check_study_config
from wmvla.study.config import StudyConfigError
from wmvla.study.fields import parse_error, policy_fields, world_only_fields

from .plans import snakemake


def test_fields_read_from_source_are_the_real_dataclass_fields():
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig

    from lerobot_policy_smolvla_world import SmolVLAWorldConfig

    for policy_type, cls in (("smolvla", SmolVLAConfig), ("smolvla_world", SmolVLAWorldConfig)):
        real = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
        assert set(policy_fields(policy_type)) == real
    assert {"world_prefix_tokens", "lambda_world", "enable_world_injection"} <= world_only_fields()
    assert not world_only_fields() & {"chunk_size", "n_action_steps", "optimizer_lr", "device"}


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("chunk_size", "10", True),
        ("chunk_size", "ten", False),
        ("resize_imgs_with_padding", "[64,64]", True),
        ("load_vlm_weights", "maybe", False),
        ("optimizer_lr", "1e-4", True),
        ("repo_id", "null", True),
        ("normalization_mapping", "{anything}", True),  # a project enum: left to the job
    ],
)
def test_values_parse_as_lerobots_cli_would(field, value, ok):
    assert (parse_error(policy_fields("smolvla")[field], value) is None) is ok


def test_an_unknown_key_names_the_experiment_and_the_closest_field():
    with pytest.raises(
        StudyConfigError, match=r"experiment F3a: 'world_prefix_tokenz' is not .* 'world_prefix_tokens'"
    ):
        check_overrides("experiment F3a", "smolvla_world", {"world_prefix_tokenz": 8})
    with pytest.raises(StudyConfigError, match="is not a field of the smolvla policy config"):
        check_overrides("experiment E0", "smolvla", {"world_memory_mode_train": "zero"})  # a world field
    with pytest.raises(StudyConfigError, match=r"chunk_size='ten' is not a valid int"):
        check_overrides("policy.args", "smolvla", {"chunk_size": "ten"})


def _experiments(**e2_extra):
    return {
        "E0": {"policy_type": "smolvla", "eval_modes": ["pred"], "policy_args": {"num_steps": 10}},
        "E2": {
            "policy_type": "smolvla_world",
            "eval_modes": ["pred"],
            "policy_args": {"num_steps": 10, "world_memory_mode_train": "pred", "lambda_world": 0.5},
            **e2_extra,
        },
    }


def test_arms_may_differ_from_the_baseline_only_in_the_world_branch():
    check_parity(_experiments(), "E0")
    changed = _experiments()
    changed["E2"]["policy_args"]["n_action_steps"] = 5
    with pytest.raises(
        StudyConfigError, match=r"E2 sets n_action_steps=5 but the baseline E0 does not override"
    ):
        check_parity(changed, "E0")
    changed["E2"]["policy_args"].pop("num_steps")
    changed["E2"]["differs_from_baseline"] = ["n_action_steps"]
    with pytest.raises(
        StudyConfigError, match=r"E2 sets no num_steps override but the baseline E0 has num_steps=10"
    ):
        check_parity(changed, "E0")
    changed["E2"]["differs_from_baseline"] = ["n_action_steps", "num_steps"]
    check_parity(changed, "E0")  # declared: allowed
    with pytest.raises(StudyConfigError, match=r"differs_from_baseline names \['chunk_sise'\]"):
        check_parity(_experiments(differs_from_baseline=["chunk_sise"]), "E0")


@pytest.mark.parametrize("name", ["smoke.yaml", "config.yaml"])
def test_shipped_configs_pass_the_checks(repo, name):
    from wmvla.study.config import baseline

    config = yaml.safe_load((repo / "config" / name).read_text())
    check_study_config(config, baseline(config))


@pytest.mark.parametrize("configfile", [None, "config/config.yaml"])
def test_a_typo_in_an_override_fails_the_dry_run_naming_key_and_fix(
    snakemake_bin, repo, tmp_path, configfile
):
    config = yaml.safe_load((repo / (configfile or "config/smoke.yaml")).read_text())
    config["experiments"]["E2"]["policy_args"]["world_prefix_tokenz"] = 8
    changed = tmp_path / "typo.yaml"
    changed.write_text(yaml.safe_dump(config))
    out = snakemake(snakemake_bin, repo, "-n", "--directory", str(tmp_path), "--configfile", str(changed))
    assert out.returncode != 0
    assert (
        "experiment E2: 'world_prefix_tokenz' is not a field of the smolvla_world policy config; "
        "did you mean 'world_prefix_tokens'?" in out.stdout + out.stderr
    )
    assert not (tmp_path / "results").exists()


RENAMED = [("world_arm", "world"), ("capacity_control", "capacity")]  # analysis.<old> is analysis.<new>


def _with_old_key(repo, tmp_path, old: str, new: str):
    """The smoke config as written before the rename, and the one line that refuses it."""
    config = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    config["analysis"][old] = config["analysis"].pop(new)
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, f"config analysis.{old} was renamed analysis.{new}"


@pytest.mark.parametrize(("old", "new"), RENAMED)
def test_an_old_key_is_refused_by_every_reader_in_one_line_naming_the_new_one(
    repo, tmp_path, caplog, old, new
):
    """`load_study_config` (wmvla design, power, cost, hub lock) refuses it before the schema would list every
    key it allows; the commands say that one line and exit 2."""
    from wmvla.cli import main
    from wmvla.study.config import StudyConfigFileError, load_study_config

    path, said = _with_old_key(repo, tmp_path, old, new)
    with pytest.raises(StudyConfigFileError) as refused:
        load_study_config(path, repo / "config/schema.yaml")
    assert str(refused.value) == f"{said} ({path})"
    for command in (["design"], ["power", "--studies", "1", "--workers", "1"]):
        caplog.clear()
        assert main([*command, "--configfile", str(path)]) == 2
        assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [f"{said} ({path})"]


@pytest.mark.parametrize(("old", "new"), RENAMED)
def test_an_old_key_fails_the_dry_run_in_one_line_naming_the_new_one(snakemake_bin, repo, tmp_path, old, new):
    path, said = _with_old_key(repo, tmp_path, old, new)
    out = snakemake(snakemake_bin, repo, "-n", "--directory", str(tmp_path), "--configfile", str(path))
    assert out.returncode != 0
    assert said in out.stdout + out.stderr
    assert "gate_open_threshold" not in out.stdout + out.stderr  # no schema dump
    assert not (tmp_path / "results").exists()


def test_command_line_strings_become_what_the_schema_wants_and_nothing_else(repo):
    from wmvla.study.config import coerce_cli_strings

    schema = yaml.safe_load((repo / "config/schema.yaml").read_text())
    config = {
        "seeds": ["0", "1"],
        "gates": {"enforce": "false", "latents": {"max_consecutive_cos": "0.5"}, "train_steps": "2"},
        "dataset": {"revision": "2024", "name": "libero"},  # strings where the schema wants strings
        "eval": {"episode_length": "null"},
        "experiments": {"E9": {"policy_args": {"world_k": "8"}, "eval_modes": ["pred"]}},
    }
    coerce_cli_strings(config, schema)
    assert config["seeds"] == [0, 1] and config["gates"]["enforce"] is False
    assert config["gates"]["latents"]["max_consecutive_cos"] == 0.5 and config["gates"]["train_steps"] == 2
    assert config["dataset"]["revision"] == "2024" and config["eval"]["episode_length"] is None
    assert config["experiments"]["E9"]["policy_args"]["world_k"] == "8"  # free-form: LeRobot parses it
    bad = {"gates": {"enforce": "maybe", "train_steps": "true"}}
    coerce_cli_strings(bad, schema)
    assert bad == {"gates": {"enforce": "maybe", "train_steps": "true"}}  # left for the schema to reject


def test_an_evaluation_protocol_longer_than_the_chunk_fails_before_any_job(repo):
    from wmvla.study.checks import check_protocol

    config = _smoke(repo)
    check_protocol(config)  # n_action_steps 10 = chunk_size 10
    config["eval"]["n_action_steps"] = 11
    with pytest.raises(
        StudyConfigError, match=r"eval.n_action_steps=11 exceeds experiment E0's chunk_size=10"
    ):
        check_protocol(config)


def _smoke(repo):
    from wmvla.study.config import load_study_config

    return load_study_config(repo / "config/smoke.yaml")


def test_an_equivalence_margin_above_the_target_difference_fails_the_dry_run(snakemake_bin, repo, tmp_path):
    """A claim of no difference must rule out the differences the study looks for: the dry run says so."""
    out = snakemake(
        snakemake_bin, repo, "-n", "--directory", str(tmp_path), "--config",
        "analysis={equivalence_margin: 0.05, target_difference: 0.02}",
    )  # fmt: skip
    assert out.returncode != 0
    assert (
        "analysis.equivalence_margin 0.05 exceeds analysis.target_difference 0.02" in out.stdout + out.stderr
    )


@pytest.mark.parametrize(
    ("weights", "said"),
    [
        ({"libero_spatial": 2.0}, "analysis.suite_weights gives no weight to libero_object"),
        ({"libero_spatial": 1.0, "libero_object": 0.0, "libero_goal": 1, "libero_10": 1}, "positive weight"),
    ],
)
def test_suite_weights_that_leave_out_a_suite_or_are_not_positive_fail_before_any_job(repo, weights, said):
    """The overall's weights are fixed before the data and weigh every suite of the study, each positively."""
    from wmvla.study.checks import check_analysis
    from wmvla.study.config import load_study_config

    config = load_study_config(repo / "config/config.yaml")
    config["analysis"]["suite_weights"] = weights
    with pytest.raises(StudyConfigError, match=re.escape(said)):
        check_analysis(config)
    config["analysis"]["suite_weights"] = dict.fromkeys(config["suites"], 1.0)
    check_analysis(config)


@pytest.mark.parametrize(
    ("axis", "suites", "said"),
    [
        (
            {"kinds": ["light"]},
            None,
            "perturbations: unknown perturbation 'light'; LIBERO-PRO has: lan, object",
        ),
        (
            {"kinds": ["lan"]},
            ["libero_90"],
            "perturbations: LIBERO-PRO has no perturbed variants of 'libero_90'",
        ),
        ({"experiments": ["E0", "E2", "E9"]}, None, "perturbations.experiments names 'E9', which is not an"),
        ({"experiments": ["E2"]}, None, "perturbations.experiments leaves out E0 (analysis.baseline)"),
        ({"experiments": ["E0", "E1"]}, None, "perturbations.experiments leaves out E2 (analysis.world)"),
    ],
)
def test_a_perturbation_axis_libero_pro_lacks_or_without_the_compared_arms_fails_before_any_job(
    repo, axis, suites, said
):
    from wmvla.study.checks import check_perturbations

    config = _smoke(repo)
    check_perturbations(config)  # as shipped: lan, for E0 and E2
    config["perturbations"] = {**config["perturbations"], **axis}
    config["suites"] = suites or config["suites"]
    with pytest.raises(StudyConfigError, match=re.escape(said)):
        check_perturbations(config)
    check_perturbations({**config, "perturbations": {"kinds": []}})  # no axis: nothing to check


def test_an_unknown_perturbation_fails_the_dry_run_in_one_line(snakemake_bin, repo, tmp_path):
    axis = "perturbations={kinds: [lan, light], experiments: [E0, E2]}"
    out = snakemake(snakemake_bin, repo, "-n", "--directory", str(tmp_path), "--config", axis)
    assert out.returncode != 0
    said = "perturbations: unknown perturbation 'light'; LIBERO-PRO has: lan, object, swap, task"
    assert said in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()
