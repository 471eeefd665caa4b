"""In the real smoke DAG: a failed gate stops the study before any training; the override is recorded."""

import json
import subprocess

import pytest

from .plans import copy_workflow

pytestmark = pytest.mark.slow

STRICT_LATENTS = "gates={latents: {max_consecutive_cos: 0.5}}"  # tiny V-JEPA latents are far more alike


def _snakemake(snakemake_bin, cwd, *args):
    return subprocess.run(
        [snakemake_bin, "--cores", "2", *args], cwd=cwd, capture_output=True, text=True, timeout=1800
    )


def test_a_failed_gate_stops_the_study_before_training_and_the_override_is_recorded(
    snakemake_bin, repo, tmp_path
):
    study = copy_workflow(repo, tmp_path)
    failed = _snakemake(snakemake_bin, study, "--config", STRICT_LATENTS)
    assert failed.returncode != 0
    log = (study / "logs/smoke/gates/latents.log").read_text()
    assert "latents_change_between_frames: FAILED (value 0.99" in log and "threshold <= 0.5)" in log
    assert "Traceback" not in log
    assert not (study / "results/smoke/gates/gates.json").exists()
    assert not list((study / "results/smoke").glob("libero_spatial/*/seed0/train"))  # no training ran
    records = {p.stem for p in (study / "results/smoke/gates/experiments").glob("*.json")}
    assert records <= {"E0", "E1", "E2"}  # experiment gates may have finished meanwhile; nothing more

    overridden = _snakemake(
        snakemake_bin, study, "results/smoke/gates/gates.json",
        "--config", "gates={enforce: false, latents: {max_consecutive_cos: 0.5}}",
    )  # fmt: skip
    assert overridden.returncode == 0, overridden.stderr[-3000:]
    summary = json.loads((study / "results/smoke/gates/gates.json").read_text())
    assert summary["enforced"] is False and summary["overridden"] == ["latents_change_between_frames"]
    status = {g["name"]: g["passed"] for g in summary["gates"]}
    assert status["init_policy_sr"] is None  # the smoke study has no init checkpoint: skipped, not passed
    assert all(status[f"parity[{e}]"] and status[f"trains[{e}]"] for e in ("E0", "E1", "E2"))
    assert status["libero_render"] is True and status["gpus_visible"] is None
