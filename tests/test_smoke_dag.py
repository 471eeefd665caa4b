"""The README's main job: the whole smoke DAG end to end in a scratch study (slow, ~9 min), then its
results shared through DVC with another clone."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .plans import copy_workflow, job_counts

pytestmark = pytest.mark.slow


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


@pytest.fixture(scope="module")
def study(repo, tmp_path_factory) -> Path:
    """A git checkout of the workflow files (as a researcher's clone), with DVC initialised as shipped."""
    root = copy_workflow(repo, tmp_path_factory.mktemp("study"))
    (root / ".gitignore").write_text("/results\n/logs\n/.snakemake\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "study")
    return root


def _snakemake(snakemake_bin: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [snakemake_bin, "--cores", "2", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)


def test_smoke_dag_records_trains_and_evaluates_in_the_simulator(snakemake_bin, study):
    cmd = [snakemake_bin, "--cores", "2"]
    run = subprocess.run(cmd, cwd=study, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-4000:]

    results = study / "results/smoke"  # the smoke study's own root
    assert sorted(p.name for p in (study / "results").iterdir()) == ["smoke"]
    assert (results / "data/libero_smoke/meta/info.json").is_file()
    assert (results / "data/libero_smoke/provenance.json").is_file()
    train = results / "libero_spatial/E0/seed0/train"
    assert (train / "checkpoints/000200/pretrained_model/model.safetensors").is_file()
    provenance = json.loads((train / "provenance.json").read_text())
    assert provenance["config"]["exp"] == "E0" and provenance["study"] == "smoke"

    result = json.loads((results / "libero_spatial/E0/seed0/eval/pred.json").read_text())
    assert result["checkpoint_step"] == 200 and result["suite"] == "libero_spatial"
    assert result["provenance"]["study"] == "smoke"
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

    # E2_cosmos: its own cache from the tiny Cosmos tokenizer, its gate, and the same encoder at rollout.
    cache_meta = json.loads((results / "latents/libero_smoke/cosmos-tiny_m9/meta.json").read_text())
    assert cache_meta["encoder"]["name"] == "cosmos-tiny" and cache_meta["encoder"]["dim"] == 144
    gate = json.loads((results / "gates/latents/cosmos-tiny.json").read_text())
    assert all(g["passed"] for g in gate["gates"])
    cosmos_train = results / "libero_spatial/E2_cosmos/seed0/train"
    saved = json.loads((cosmos_train / "checkpoints/000200/pretrained_model/config.json").read_text())
    assert (saved["world_encoder"], saved["world_dim"], saved["world_temporal_window"]) == (
        "cosmos-tiny",
        144,
        9,
    )
    assert saved["world_encoder_path"].endswith("results/smoke/models/cosmos-tiny")
    cosmos_eval = json.loads((results / "libero_spatial/E2_cosmos/seed0/eval/pred.json").read_text())
    assert cosmos_eval["overall"]["n_episodes"] == 1

    # Offline checks: every memory mode for world policies, the plain action loss for E0.
    e2_offline = json.loads((results / "libero_spatial/E2/seed0/offline.json").read_text())
    assert [m["mode"] for m in e2_offline["modes"]] == ["pred", "zero", "oracle", "shuffle", "random"]
    assert e2_offline["episodes"] == [3]  # every 4th episode of the suite, kept out of training
    e0_offline = json.loads((results / "libero_spatial/E0/seed0/offline.json").read_text())
    assert [m["mode"] for m in e0_offline["modes"]] == ["none"]

    # What the evidence says: tiny untrained policies never succeed, so nothing is assessable.
    import csv

    verdicts = {row["id"]: row for row in csv.DictReader((results / "tables/verdicts.csv").open())}
    assert verdicts["V0"]["verdict"] == "contradicted" and "never succeeds" in verdicts["V0"]["reason"]
    assert {v["verdict"] for k, v in verdicts.items() if k != "V0"} == {"not assessable"}
    assert "V8.E2_cosmos" in verdicts  # which world representation helps: E2_cosmos against E2 (and E0)
    vs_world = (results / "tables/vs_world.csv").read_text()
    assert ",E2_cosmos,pred,E2,pred," in vs_world
    assert (results / "figures/forest.png").stat().st_size > 5_000

    # Tables, figures and the HTML report.
    experiments = (results / "tables/experiments.csv").read_text()
    assert all(f",{exp}," in experiments for exp in ("E0", "E1", "E2", "E2_cosmos"))
    for name in ("sr_by_experiment", "sr_per_task", "rollout_ablations", "training_curves", "attention"):
        assert (results / f"figures/{name}.png").stat().st_size > 5_000
        assert (results / f"figures/{name}.svg").is_file()
    report = subprocess.run(
        [*cmd, "--report", "results/smoke/report.html"],
        cwd=study,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    html = (results / "report.html").read_text()
    assert "study <strong>smoke</strong>" in html
    assert "offline_memory_modes.png" in html and "experiments.csv" in html

    # Logs live outside LeRobot's output directories.
    assert (study / "logs/smoke/libero_spatial/E0/seed0/train.log").is_file()

    again = subprocess.run([*cmd, "-n"], cwd=study, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_the_smoke_study_never_touches_the_full_studys_artifacts(snakemake_bin, repo, study):
    """A full-study checkpoint planted where the full study writes it survives a smoke rerun byte for byte,
    and the full study's plan lies under its own root only."""
    if not (study / "results/smoke/tables/runs.csv").exists():
        pytest.skip("needs the smoke run of the test above")
    planted = study / "results/full/libero_spatial/E2/seed0/train"
    weights = planted / "checkpoints/050000/pretrained_model/model.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"a real 50k-step checkpoint")
    (planted / "provenance.json").write_text(json.dumps({"study": "full", "config": {"study": "full"}}))
    before = {p: p.read_bytes() for p in planted.rglob("*") if p.is_file()}
    try:
        again = _snakemake(snakemake_bin, study)
        assert again.returncode == 0, again.stderr[-3000:]
        assert {p: p.read_bytes() for p in planted.rglob("*") if p.is_file()} == before

        full = _snakemake(snakemake_bin, study, "-n", "--profile", str(repo / "profiles/mi300x"))
        assert full.returncode == 0, full.stderr[-3000:]
        outputs = re.findall(r"^    output: (.*)$", full.stdout, re.MULTILINE)
        paths = [p for line in outputs for p in line.split(", ")]
        assert len(paths) > 500 and all(p.startswith("results/full/") for p in paths), paths[:5]
        assert "results/smoke" not in full.stdout
    finally:
        shutil.rmtree(study / "results/full")


def test_changing_one_experiments_overrides_reruns_only_that_experiment(snakemake_bin, study):
    if not (study / "results/smoke/tables/runs.csv").exists():
        pytest.skip("needs the smoke run of the test above")
    config = yaml.safe_load((study / "config/smoke.yaml").read_text())
    config["experiments"]["E1"]["policy_args"]["world_prophet_layers"] = 1
    changed = study / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    plan = _snakemake(snakemake_bin, study, "-n", "--configfile", str(changed))
    assert job_counts(plan.stdout) == {
        "gate_experiment": 1,  # E1's gates (its parity with E0) run again before E1 retrains
        "gates": 1,  # the summary (trains wait for it only the first time: E0 and E2 are not retrained)
        "train": 1,
        "eval": 1,
        "offline_check": 1,
        "cost": 1,
        "tables": 1,
        "verdicts": 1,
        "figure": 8,
        "all": 1,
    }, plan.stdout[-3000:]
    assert "results/smoke/libero_spatial/E1/seed0/train" in plan.stdout
    assert "output: results/smoke/libero_spatial/E2/seed0/train" not in plan.stdout


def _interrupt_training(snakemake_bin, study, target: Path, sig: int) -> tuple[int, int]:
    """Run Snakemake for one training; once its first intermediate checkpoint is complete, send `sig` to
    the whole process group (as Slurm does at preemption). Returns the step of the checkpoint LeRobot's
    `last` link names after the kill (where a resume must start; a fast machine may have saved more than
    the first) and the last step logged before the kill."""
    partial = target.with_name("train.partial") / "run"
    proc = subprocess.Popen(
        [snakemake_bin, "--cores", "2", "--rerun-incomplete", str(target.relative_to(study))],
        cwd=study, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if (partial / "checkpoints/000050/training_state/training_step.json").is_file():
            time.sleep(1)  # a few more steps, which the resumed run repeats
            break
        time.sleep(0.2)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=120)
    time.sleep(2)
    last = (partial / "checkpoints/last").resolve()
    saved = json.loads((last / "training_state/training_step.json").read_text())["step"]
    assert int(last.name) == saved and 50 <= saved < 200, last  # killed after a checkpoint, before the end
    metrics = [json.loads(line) for line in (partial / "metrics.jsonl").read_text().splitlines()]
    return saved, metrics[-1]["step"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_training_resumes_from_its_last_checkpoint(snakemake_bin, study, sig):
    if not (study / "results/smoke/tables/runs.csv").exists():
        pytest.skip("needs the smoke run of the test above")
    train = study / "results/smoke/libero_spatial/E1/seed0/train"
    shutil.rmtree(train)
    saved, logged_before = _interrupt_training(snakemake_bin, study, train, sig)
    assert not train.exists() and train.with_name("train.partial").is_dir()  # nothing half-trained declared

    subprocess.run([snakemake_bin, "--unlock"], cwd=study, capture_output=True, check=True)
    rerun = _snakemake(
        snakemake_bin, study, "--rerun-incomplete", "results/smoke/libero_spatial/E1/seed0/train"
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (study / "logs/smoke/libero_spatial/E1/seed0/train.log").read_text()
    assert f"resuming results/smoke/libero_spatial/E1/seed0/train at step {saved} of 200" in log
    assert sorted(p.name for p in (train / "checkpoints").iterdir()) == ["000200", "last"]
    steps = [json.loads(line)["step"] for line in (train / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, 210, 10))  # strictly increasing, none twice, none missing
    assert logged_before + (200 - saved) <= 200 + 50  # steps run in all: at most save_freq beyond the budget
    assert not train.with_name("train.partial").exists()
    plan = _snakemake(snakemake_bin, study, "-n", "results/smoke/libero_spatial/E1/seed0/train")
    assert "Nothing to be done" in plan.stdout + plan.stderr  # a finished run is never trained again


def test_a_partial_run_with_other_overrides_is_refused_and_starting_over_works(snakemake_bin, study):
    if not (study / "results/smoke/tables/runs.csv").exists():
        pytest.skip("needs the smoke run of the test above")
    train = study / "results/smoke/libero_spatial/E1/seed0/train"
    shutil.rmtree(train)
    saved, _ = _interrupt_training(snakemake_bin, study, train, signal.SIGKILL)
    subprocess.run([snakemake_bin, "--unlock"], cwd=study, capture_output=True, check=True)
    config = yaml.safe_load((study / "config/smoke.yaml").read_text())
    config["experiments"]["E1"]["policy_args"]["world_prophet_layers"] = 1
    changed = study / "changed_e1.yaml"
    changed.write_text(yaml.safe_dump(config))
    target = [
        "--rerun-incomplete",
        "results/smoke/libero_spatial/E1/seed0/train",
        "--configfile",
        str(changed),
    ]

    try:
        refused = _snakemake(snakemake_bin, study, *target)
        assert refused.returncode != 0
        log = (study / "logs/smoke/libero_spatial/E1/seed0/train.log").read_text()
        assert f"holds {saved} steps of a run with other settings" in log
        assert "(differs in --policy.world_prophet_layers=1" in log
        assert f"rm -rf {train.relative_to(study)}.partial" in log and "Traceback" not in log
        assert (train.with_name("train.partial") / f"run/checkpoints/{saved:06d}").is_dir()  # nothing lost

        shutil.rmtree(train.with_name("train.partial"))  # the documented way to start over
        again = _snakemake(snakemake_bin, study, *target)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "resuming" not in (study / "logs/smoke/libero_spatial/E1/seed0/train.log").read_text()
        assert (train / "checkpoints/000200/pretrained_model/model.safetensors").is_file()
    finally:  # back to the study's own E1 for the tests below, whatever happened above
        for leftover in (train, train.with_name("train.partial")):
            shutil.rmtree(leftover, ignore_errors=True)
        subprocess.run([snakemake_bin, "--unlock"], cwd=study, capture_output=True, check=True)
        assert _snakemake(snakemake_bin, study, "results/smoke/libero_spatial/E1/seed0/train").returncode == 0


def test_results_shared_with_dvc_are_up_to_date_in_another_clone(snakemake_bin, study, tmp_path):
    """dvc commit + push after the run; a fresh clone pulls, and Snakemake then plans nothing at all;
    deleting one evaluation replans exactly it and what reads it."""
    if not (study / "results/smoke/tables/runs.csv").exists():
        pytest.skip("needs the smoke run of the test above")
    dvc = str(Path(sys.executable).parent / "dvc")
    remote = tmp_path / "remote"
    for args in (
        ("commit", "-f", "smoke"),
        ("remote", "modify", "--local", "shared", "url", str(remote)),
        ("push", "smoke"),
    ):
        subprocess.run([dvc, *args], cwd=study, check=True, capture_output=True)
    _git(study, "add", "dvc.lock")
    _git(study, "commit", "-qm", "results of the smoke run")

    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(study), str(clone))
    subprocess.run([dvc, "remote", "modify", "--local", "shared", "url", str(remote)], cwd=clone, check=True)
    subprocess.run([dvc, "pull", "smoke"], cwd=clone, check=True, capture_output=True)
    train = clone / "results/smoke/libero_spatial/E2/seed0/train"
    assert (train / "checkpoints/000200/pretrained_model").is_dir()
    assert not (train / "checkpoints/last").exists()

    assert _snakemake(snakemake_bin, clone, "--touch").returncode == 0  # pulled files get DAG-ordered mtimes
    plan = _snakemake(snakemake_bin, clone, "-n")
    assert "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-3000:]

    (clone / "results/smoke/libero_spatial/E2/seed0/eval/zero.json").unlink()
    plan = _snakemake(snakemake_bin, clone, "-n")
    assert job_counts(plan.stdout) == {
        "eval": 1,
        "cost": 1,
        "tables": 1,
        "verdicts": 1,
        "figure": 8,
        "all": 1,
    }
