"""The README's main job: the whole smoke DAG end to end in a scratch directory (slow, ~8 min)."""

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
    assert (train / "checkpoints/000200/pretrained_model/model.safetensors").is_file()
    assert json.loads((train / "provenance.json").read_text())["config"]["exp"] == "E0"

    result = json.loads((results / "libero_spatial/E0/seed0/eval/pred.json").read_text())
    assert result["checkpoint_step"] == 200 and result["suite"] == "libero_spatial"
    assert [(e["task_id"], e["init_state_id"]) for e in result["episodes"]] == [(0, 0)]
    assert result["overall"]["n_episodes"] == 1

    # E1 and E2 are smolvla_world runs with their own metrics; E2 is also evaluated with zero memory.
    for exp in ("E1", "E2"):
        records = [
            json.loads(x) for x in (results / f"libero_spatial/{exp}/seed0/train/metrics.jsonl").open()
        ]
        assert records[-1]["step"] == 200 and all(r["world_loss"] is not None for r in records)
    e1 = [json.loads(x) for x in (results / "libero_spatial/E1/seed0/train/metrics.jsonl").open()]
    e2 = [json.loads(x) for x in (results / "libero_spatial/E2/seed0/train/metrics.jsonl").open()]
    assert all(r["world_gate"] == 0.0 for r in e1)  # zero memory gives the gate nothing to learn from
    assert e2[-1]["world_gate"] != 0.0
    zero = json.loads((results / "libero_spatial/E2/seed0/eval/zero.json").read_text())
    assert zero["mode"] == "zero" and zero["overall"]["n_episodes"] == 1

    assert all(1 <= e["steps"] <= 30 for e in zero["episodes"])
    assert (results / "libero_spatial/E2/seed0/eval/pred.videos/task0_init0.mp4").stat().st_size > 0

    # Offline checks: every memory mode for world policies, the plain action loss for E0.
    e2_offline = json.loads((results / "libero_spatial/E2/seed0/offline.json").read_text())
    assert [m["mode"] for m in e2_offline["modes"]] == ["pred", "zero", "oracle", "shuffle", "random"]
    assert e2_offline["episodes"] == [3]  # every 4th episode of the suite, kept out of training
    e0_offline = json.loads((results / "libero_spatial/E0/seed0/offline.json").read_text())
    assert [m["mode"] for m in e0_offline["modes"]] == ["none"]

    # Tables, figures and the HTML report.
    experiments = (results / "tables/experiments.csv").read_text()
    assert all(f",{exp}," in experiments for exp in ("E0", "E1", "E2"))
    for name in ("sr_by_experiment", "sr_per_task", "rollout_ablations", "training_curves", "attention"):
        assert (results / f"figures/{name}.png").stat().st_size > 5_000
        assert (results / f"figures/{name}.svg").is_file()
    report = subprocess.run([*cmd, "--report", "report.html"], capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert "offline_memory_modes.png" in html and "experiments.csv" in html

    # Logs live outside LeRobot's output directories.
    assert (tmp_path / "logs/libero_spatial/E0/seed0/train.log").is_file()

    again = subprocess.run([*cmd, "-n"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
