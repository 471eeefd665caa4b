"""The README's main job: the whole smoke DAG end to end in a scratch directory (slow, ~4 min)."""

import json
import subprocess

import pytest

pytestmark = pytest.mark.slow


def test_smoke_dag_records_trains_and_evaluates_in_the_simulator(snakemake_bin, repo, tmp_path):
    cmd = [
        snakemake_bin,
        "--snakefile",
        str(repo / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--cores",
        "2",
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-4000:]

    results = tmp_path / "results"
    assert (results / "data/libero_smoke/meta/info.json").is_file()
    assert (results / "data/libero_smoke/provenance.json").is_file()
    train = results / "libero_spatial/E0/seed0/train"
    assert (train / "checkpoints/last/pretrained_model/model.safetensors").is_file()
    assert json.loads((train / "provenance.json").read_text())["config"]["exp"] == "E0"

    result = json.loads((results / "libero_spatial/E0/seed0/eval/pred.json").read_text())
    assert result["checkpoint_step"] == 200 and result["suite"] == "libero_spatial"
    assert [(e["task_id"], e["init_state_id"]) for e in result["episodes"]] == [(0, 0)]
    assert result["overall"]["n_episodes"] == 1

    # Logs live outside LeRobot's output directories.
    assert (tmp_path / "logs/libero_spatial/E0/seed0/train.log").is_file()

    again = subprocess.run([*cmd, "-n"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
