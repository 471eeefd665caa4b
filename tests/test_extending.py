"""Extending the study as its users will, one place per extension (DESIGN.md §9): a world encoder is its
registry entry, class and tiny builder; an arm's bad value, a partial encoder and an arm no verdict reads are
all named while the DAG is built; the roles round-trip from the DAG to the analysis; every citation of the
design document names a section it has."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from wmvla.design import Design
from wmvla.study.config import StudyConfigError, load_study_config
from wmvla.study.design import analysis_design, design_json

from .plans import copy_workflow, job_counts, planned_jobs

FAMILY = '        EncoderFamily("dinov2", "DINOv2Encoder", "build_tiny_dinov2"),\n'
SPEC = '    EncoderSpec("dinov2-tiny", "dinov2", None, 32),  # a per-frame encoder and its tiny twin\n'
BAD_NAME = '    EncoderSpec("SigLIP_base", "vjepa2", "google/siglip-base-patch16-224", 768),\n'
ENCODER_CLASS = '\n\nclass DINOv2Encoder(VJEPA2Encoder):\n    """A per-frame encoder."""\n'
BUILDER = "\n\ndef build_tiny_dinov2(out_dir: Path) -> Path:\n    return build_tiny_vjepa2(out_dir)\n"
EXPERIMENT = {
    "policy_type": "smolvla_world",
    "encoder": "dinov2-tiny",
    "policy_args": {"world_prophet_width": 64, "world_prophet_heads": 4, "world_fusion_heads": 4,
                    "world_prefix_num_heads": 4},
    "eval_modes": ["pred"],
}  # fmt: skip


def _project(repo: Path, root: Path, parts: tuple[str, ...]) -> Path:
    """A copy of the project (workflow and library) with the DINOv2 encoder's `parts` added, and a smoke
    config with an experiment on it."""
    copy_workflow(repo, root)
    shutil.copytree(repo / "src", root / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    edits = {
        "family": ("latents/registry.py", '        EncoderFamily("cosmos", ', FAMILY),
        "spec": ("latents/registry.py", '    EncoderSpec("vjepa2-tiny", ', SPEC),
        "bad name": ("latents/registry.py", '    EncoderSpec("vjepa2-tiny", ', BAD_NAME),
        "class": ("latents/encoders.py", None, ENCODER_CLASS),
        "builder": ("models/tiny.py", None, BUILDER),
    }
    for part in parts:
        name, before, text = edits[part]
        path = root / "src/wmvla" / name
        source = path.read_text()
        path.write_text(source.replace(before, text + before, 1) if before else source + text)
    config = yaml.safe_load((repo / "config/smoke.yaml").read_text())
    config["experiments"]["E2_dino"] = EXPERIMENT
    (root / "dino.yaml").write_text(yaml.safe_dump(config))
    return root


def _plan(snakemake_bin: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}  # the copy's library, not the checkout's
    cmd = [snakemake_bin, "-n", "--configfile", "dino.yaml"]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_a_world_encoder_is_a_registry_entry_its_class_and_its_tiny_builder(repo, snakemake_bin, tmp_path):
    root = _project(repo, tmp_path / "project", ("family", "spec", "class", "builder"))
    out = _plan(snakemake_bin, root)
    assert out.returncode == 0, out.stderr[-3000:]
    for output in (
        "results/smoke/models/dinov2-tiny",
        "results/smoke/latents/libero_smoke/dinov2-tiny/temporal_window_4",
        "results/smoke/gates/latents/dinov2-tiny.json",
        "results/smoke/gates/experiments/E2_dino.json",
        "results/smoke/libero_spatial/E2_dino/seed0/train",
    ):
        assert f"output: {output}" in out.stdout, output
    shipped = planned_jobs(load_study_config(repo / "config/smoke.yaml"), figures=0)
    assert job_counts(out.stdout)["tiny_model"] == shipped["tiny_model"] + 1  # the smoke study's, and DINOv2


@pytest.mark.parametrize(
    ("parts", "named"),
    [
        (("family", "spec", "builder"), "class DINOv2Encoder, which wmvla.latents.encoders does not define"),
        (("family", "spec", "class"), "builder build_tiny_dinov2, which wmvla.models.tiny does not define"),
        (("spec", "class", "builder"), "names family 'dinov2', which is not in FAMILIES"),
    ],
)
def test_a_partial_encoder_fails_the_dry_run_naming_what_is_missing(
    repo, snakemake_bin, tmp_path, parts, named
):
    out = _plan(snakemake_bin, _project(repo, tmp_path / "project", parts))
    said = out.stdout + out.stderr
    assert out.returncode != 0 and named in said and "Traceback" not in said, said[-3000:]
    assert not (tmp_path / "project/results").exists()


def test_an_encoder_name_breaking_the_one_naming_rule_fails_the_dry_run_in_one_line(
    repo, snakemake_bin, tmp_path
):
    """Hub or tiny, an encoder's name is a path component, a wildcard and a lock key: one rule for all."""
    from wmvla.latents.registry import ENCODERS, FAMILIES, EncoderFamily, EncoderSpec, RegistryError

    out = _plan(
        snakemake_bin,
        _project(repo, tmp_path / "project", ("family", "spec", "class", "builder", "bad name")),
    )
    said = out.stdout + out.stderr
    rule = "lowercase letters and digits, in words joined by single hyphens (^[a-z0-9]+(-[a-z0-9]+)*$)"
    assert out.returncode != 0 and "Traceback" not in said, said[-3000:]
    assert f"encoder 'SigLIP_base' breaks the naming rule of wmvla.latents.registry: {rule}" in said
    with pytest.raises(RegistryError, match="encoder family 'DINO_v2' breaks the naming rule"):
        EncoderFamily("DINO_v2", "DINOv2Encoder")
    with pytest.raises(RegistryError, match="encoder 'vjepa2--vitg' breaks"):
        EncoderSpec("vjepa2--vitg", "vjepa2", "facebook/vjepa2-vitg-fpc64-256", 1408)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in [*ENCODERS, *FAMILIES])


def _smoke(repo: Path) -> dict:
    return yaml.safe_load((repo / "config/smoke.yaml").read_text())


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"world_k": 0}, "experiment E2: world_k must be >= 1, got 0"),
        ({"world_hypothesis_method": "beam"}, "experiment E2: world_hypothesis_method='beam' is not one of"),
        ({"enable_world_injection": False}, "experiment E2: no fusion point is enabled"),
        ({"world_memory_mode_rollout": "learned"}, "experiment E2: world_memory_mode_rollout=learned needs"),
    ],
)
def test_an_arms_bad_value_fails_at_dag_time_naming_the_arm_and_the_field(repo, args, named):
    from wmvla.study.checks import check_study_config

    config = _smoke(repo)
    config["experiments"]["E2"]["policy_args"] = {**config["experiments"]["E2"]["policy_args"], **args}
    with pytest.raises(StudyConfigError, match=re.escape(named)):
        check_study_config(config, "E0")


def test_world_k_zero_fails_the_dry_run_in_one_line(repo, snakemake_bin, tmp_path):
    cmd = [snakemake_bin, "-n", "--directory", str(tmp_path), "--config",
           "experiments={'E2': {'policy_args': {'world_k': 0}}}"]  # fmt: skip
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=120)
    said = out.stdout + out.stderr
    assert out.returncode != 0 and "StudyConfigError" in said
    assert "\nexperiment E2: world_k must be >= 1, got 0\n" in said  # the message is a line of its own
    assert not (tmp_path / "results").exists()


def _with_variant_and_stranger(config: dict) -> dict:
    """A variant of the world arm (another K) and a second plain SmolVLA arm, which no verdict reads."""
    e2 = config["experiments"]["E2"]
    config["experiments"]["E2_k4"] = {**e2, "policy_args": {**e2["policy_args"], "world_k": 4}}
    config["experiments"]["E0_again"] = dict(config["experiments"]["E0"])
    return config


def test_a_variant_of_the_world_arm_is_compared_with_it_and_an_arm_in_no_role_is_named(
    repo, snakemake_bin, tmp_path
):
    shipped, design = analysis_design(_smoke(repo)), analysis_design(_with_variant_and_stranger(_smoke(repo)))
    assert design.variants == (*shipped.variants, "E2_k4")
    assert design.changes["E2_k4"] == "world_k 4 instead of its default"
    assert "E2_k4" in design.versus_world and design.uncovered == (*shipped.uncovered, "E0_again")
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump(_with_variant_and_stranger(_smoke(repo))))
    cmd = [snakemake_bin, "-n", "--directory", str(tmp_path), "--configfile", str(tmp_path / "extra.yaml")]
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "experiment E0_again is in no verdict's role" in out.stderr + out.stdout
    assert "experiment E2_k4 is in no" not in out.stderr + out.stdout


@pytest.mark.parametrize("name", ["smoke.yaml", "config.yaml", "variants"])
def test_every_role_round_trips_from_the_dag_to_the_analysis(repo, name):
    config = (
        _with_variant_and_stranger(_smoke(repo))
        if name == "variants"
        else yaml.safe_load((repo / "config" / name).read_text())
    )
    design = analysis_design(config)
    assert Design.from_json(design_json(config)) == design
    assert Design.from_json(design.to_json()).versus_world == design.versus_world


def test_a_design_naming_a_role_the_analysis_does_not_know_is_refused():
    from wmvla.design import DesignError

    with pytest.raises(DesignError, match="prophets"):
        Design.from_json('{"baseline": "E0", "prophets": ["P1"]}')


CITATION = re.compile(r'DESIGN\.md §(\d+)((?:,? ?"[^"]+")*)')


def _sections(design: str) -> dict[str, str]:
    """Section number → its text, from the `## N. Title` headings."""
    parts = re.split(r"^## (\d+)\. .*$", design, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_design_citation_names_a_section_of_the_projects_design(repo):
    sections = _sections((repo / "DESIGN.md").read_text())
    cited = []
    for folder in ("src", "rules", "config"):
        for path in sorted((repo / folder).rglob("*")):
            if path.suffix not in (".py", ".smk", ".yaml") or "egg-info" in str(path):
                continue
            for number, names in CITATION.findall(path.read_text()):
                cited.append(number)
                assert number in sections, f"{path.relative_to(repo)} cites §{number}, which DESIGN.md lacks"
                for name in re.findall(r'"([^"]+)"', names):
                    assert f"**{name}.**" in sections[number], f"{path.relative_to(repo)}: §{number} {name!r}"
    assert len(cited) >= 20  # the citations are found at all


def test_an_arm_that_is_a_fusion_ablation_and_a_bank_has_one_role_and_one_comparison(repo):
    """Counted once in its family: a fusion flag with several hypotheses is a fusion ablation (V6), and what
    it changes names the bank too — never compared with the world arm twice (V6 and V7)."""
    config = _smoke(repo)
    e2 = config["experiments"]["E2"]
    args = {**e2["policy_args"], "world_inject_suffix_in": True, "world_num_hypotheses": 4}
    config["experiments"]["F2_bank4"] = {**e2, "policy_args": args}
    design = analysis_design(config)
    assert "F2_bank4" in design.fusion and "F2_bank4" not in design.imagination
    assert design.versus_world.count("F2_bank4") == 1
    assert design.changes["F2_bank4"] == (
        "earlier injection into the action expert's inputs (F2) and an imagination bank of 4 hypotheses"
    )
