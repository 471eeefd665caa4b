"""In the real smoke DAG: a failed gate stops the study before any training; the override is recorded."""

import json
import subprocess

import pytest

from .plans import copy_workflow

pytestmark = pytest.mark.slow

STRICT_LATENTS = "gates={latents: {max_consecutive_cos: 0.5}}"  # tiny encoders' latents are far more alike
WORLD = ("E1", "E2", "E2_cosmos")  # the experiments that read a latent cache


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
    paths = [study / f"logs/smoke/gates/latents_{e}.log" for e in ("vjepa2-tiny", "cosmos-tiny")]
    logs = [path.read_text() for path in paths if path.exists()]  # the first failure stops the scheduling
    failed_logs = [log for log in logs if "FAILED (value 0.99" in log and "threshold <= 0.5)" in log]
    assert failed_logs and all("latents_change_between_frames[" in log for log in failed_logs)
    assert not any("Traceback" in log for log in logs)
    assert not (study / "results/smoke/gates/gates.json").exists()
    for exp in WORLD:  # no world experiment was gated or trained on a failed cache (E0 reads none)
        assert not (study / f"results/smoke/gates/experiments/{exp}.json").exists()
        assert not (study / f"results/smoke/libero_spatial/{exp}/seed0/train").exists()

    overridden = _snakemake(
        snakemake_bin, study, "results/smoke/gates/gates.json",
        "--config", "gates={enforce: false, latents: {max_consecutive_cos: 0.5}}",
    )  # fmt: skip
    assert overridden.returncode == 0, overridden.stderr[-3000:]
    summary = json.loads((study / "results/smoke/gates/gates.json").read_text())
    assert summary["enforced"] is False and summary["overridden"] == [
        "latents_change_between_frames[vjepa2-tiny]",
        "latents_change_between_frames[cosmos-tiny]",
    ]
    status = {g["name"]: g["passed"] for g in summary["gates"]}
    assert status["init_policy_sr"] is None  # the smoke study has no init checkpoint: skipped, not passed
    assert all(status[f"parity[{e}]"] and status[f"trains[{e}]"] for e in ("E0", *WORLD))
    assert status["libero_render"] is True and status["gpus_visible"] is None
