"""The README's main job, read off the session's smoke study (tests/smoke_study.py: the whole smoke DAG, built
once as Slurm jobs through the mi300x profile): what it records, trains, evaluates and reports; then what
only this machine shows — the local path of `make smoke` and the local profile planning nothing more on it,
a locally killed training resuming, a partial run of other settings refused — and its results shared through
DVC with another clone."""

import csv
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

from .plans import job_counts
from .smoke_study import E1_LOG, E1_TRAIN, SAVE_FREQ, STEPS, git, newest_checkpoint

pytestmark = pytest.mark.slow


def test_the_smoke_study_records_trains_evaluates_and_reports(smoke_study):
    study, results = smoke_study.root, smoke_study.root / "results/smoke"  # the smoke study's own root
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
    assert e1[-1]["world_gate"] != 0.0  # the capacity control's gate moves: its learned memory is used
    assert e2[-1]["world_gate"] != 0.0
    zero = json.loads((results / "libero_spatial/E2/seed0/eval/zero.json").read_text())
    assert zero["mode"] == "zero" and zero["overall"]["n_episodes"] == 1

    assert all(1 <= e["steps"] <= 30 for e in zero["episodes"])
    assert (results / "libero_spatial/E2/seed0/eval/pred.videos/task0_init0.mp4").stat().st_size > 0

    # E2_cosmos: its own cache from the tiny Cosmos tokenizer, its gate, and the same encoder at rollout.
    cosmos_cache = results / "latents/libero_smoke/cosmos-tiny/temporal_window_9"
    cache_meta = json.loads((cosmos_cache / "meta.json").read_text())
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
    e1_offline = json.loads((results / "libero_spatial/E1/seed0/offline.json").read_text())
    assert "learned" in [m["mode"] for m in e1_offline["modes"]]  # E1's memory as trained
    e0_offline = json.loads((results / "libero_spatial/E0/seed0/offline.json").read_text())
    assert [m["mode"] for m in e0_offline["modes"]] == ["none"]

    # What the evidence says: tiny untrained policies never succeed, so nothing is assessable.
    verdicts = {row["id"]: row for row in csv.DictReader((results / "tables/verdicts.csv").open())}
    assert verdicts["V0"]["verdict"] == "contradicted" and "never succeeds" in verdicts["V0"]["reason"]
    assert {v["verdict"] for k, v in verdicts.items() if k != "V0"} == {"not assessable"}
    assert "V8.E2_cosmos" in verdicts  # which world representation helps: E2_cosmos against E2 (and E0)
    for vid in ("V1", "V4", "V5"):  # one seed: no run-level inference, whatever V0 says
        assert "one training run per suite and arm" in verdicts[vid]["reason"], verdicts[vid]
        assert verdicts[vid]["unit"] == "training run (suite × seed)"
        assert "each suite its own stratum" in verdicts[vid]["method"]
    vs_world = (results / "tables/vs_world.csv").read_text()
    assert ",E2_cosmos,pred,E2,pred," in vs_world
    assert (results / "figures/forest.png").stat().st_size > 5_000

    # Tables, figures and the HTML report.
    experiments = (results / "tables/experiments.csv").read_text()
    assert all(f",{exp}," in experiments for exp in ("E0", "E1", "E2", "E2_cosmos"))
    for name in ("sr_by_experiment", "sr_per_task", "rollout_ablations", "training_curves", "attention"):
        assert (results / f"figures/{name}.png").stat().st_size > 5_000
        assert (results / f"figures/{name}.svg").is_file()
    report = smoke_study.local("--configfile", "config/smoke.yaml", "--report", "results/smoke/report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (results / "report.html").read_text()
    assert "study <strong>smoke</strong>" in html
    assert "offline_memory_modes.png" in html and "experiments.csv" in html

    # Logs live outside LeRobot's output directories.
    assert (study / "logs/smoke/libero_spatial/E0/seed0/train.log").is_file()


def test_status_reads_the_built_smoke_study_as_done_and_its_curves_are_there(smoke_study):
    """`wmvla status` on the built study: every run done, every clearance cleared, no lease held, nothing
    left; each training wrote its TensorBoard curves where the README says."""
    wmvla = Path(smoke_study.snakemake_bin).with_name("wmvla")
    out = subprocess.run([str(wmvla), "status", "--configfile", "config/smoke.yaml", "--json"],
                         cwd=smoke_study.root, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout)
    assert found["stages"] == {"done": 4} and all(g["state"] == "cleared" for g in found["gates"].values())
    assert not [lease for lease in found["leases"] if lease["alive"] is not False]
    assert found["remaining"]["job_hours"] == 0 and not found["remaining"]["unknown"]
    for exp in ("E0", "E1", "E2", "E2_cosmos"):
        events = list(
            (smoke_study.root / f"logs/smoke/curves/libero_spatial/{exp}/seed0").glob("events.out.*")
        )
        assert events and events[0].stat().st_size > 1000, exp


def test_the_smoke_study_leaves_no_dataset_copy_in_the_home_directory(smoke_study, capsys):
    """The study was built with an empty HOME: LeRobot's Arrow copies of the dataset went to each job's
    scratch, every library cache into the study; what HOME holds afterwards is listed (Snakemake's own
    small caches, if any) and holds no dataset, model or checkpoint bytes."""
    files = {
        str(p.relative_to(smoke_study.home)): p.stat().st_size
        for p in smoke_study.home.rglob("*")
        if p.is_file()
    }
    with capsys.disabled():
        print(f"\nHOME after the smoke study: {len(files)} file(s), {sum(files.values())} bytes")
        for name, size in sorted(files.items()):
            print(f"  {size:>9}  {name}")
    assert not [n for n in files if re.search(r"\.(arrow|parquet|safetensors|bin|pt|npy)$|datasets|/hub/", n)]
    assert sum(files.values()) < 1_000_000, files


def test_make_smoke_and_the_local_profile_find_nothing_left_to_do(smoke_study):
    """The study built on Slurm is the study `make smoke` builds: its local command line and the local profile
    plan the same DAG, and nothing of it is left to run. Planned as the build ended, before any test ran (a
    test that retrains a run puts the study back with `snakemake --touch`, after which nothing is left by
    construction)."""
    assert smoke_study.plans_after_build is not None
    for name, plan in smoke_study.plans_after_build.items():
        out = plan.stdout + plan.stderr
        assert plan.returncode == 0 and "Nothing to be done" in out, f"{name}: {out[-3000:]}"


def test_the_smoke_study_never_touches_the_full_studys_artifacts(smoke_study, repo):
    """A full-study checkpoint planted where the full study writes it survives a smoke rerun byte for byte,
    and the full study's plan lies under its own root only."""
    study = smoke_study.root
    planted = study / "results/full/libero_spatial/E2/seed0/train"
    weights = planted / "checkpoints/050000/pretrained_model/model.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"a real 50k-step checkpoint")
    (planted / "provenance.json").write_text(json.dumps({"study": "full", "config": {"study": "full"}}))
    before = {p: p.read_bytes() for p in planted.rglob("*") if p.is_file()}
    try:
        again = smoke_study.local()
        assert again.returncode == 0, again.stderr[-3000:]
        assert {p: p.read_bytes() for p in planted.rglob("*") if p.is_file()} == before

        full = smoke_study.local("-n", "--profile", str(repo / "profiles/mi300x"))
        assert full.returncode == 0, full.stderr[-3000:]
        outputs = re.findall(r"^    output: (.*)$", full.stdout, re.MULTILINE)
        paths = [p for line in outputs for p in line.split(", ")]
        assert len(paths) > 500 and all(p.startswith("results/full/") for p in paths), paths[:5]
        assert "results/smoke" not in full.stdout
    finally:
        shutil.rmtree(study / "results/full")


def _figures(study: Path) -> int:
    """How many figures the smoke study draws: each reads every result, so all are drawn again."""
    from wmvla.analysis.names import figure_names

    config = yaml.safe_load((study / "config/smoke.yaml").read_text())
    kinds = config.get("perturbations", {}).get("kinds", [])
    return len(figure_names(config["experiments"], config["analysis"]["baseline"], kinds))


def _changed_e1_config(study: Path) -> Path:
    """The smoke config with one of E1's overrides changed (a 1-layer Prophet)."""
    config = yaml.safe_load((study / "config/smoke.yaml").read_text())
    config["experiments"]["E1"]["policy_args"]["world_prophet_layers"] = 1
    changed = study / "changed_e1.yaml"
    changed.write_text(yaml.safe_dump(config))
    return changed


def test_changing_one_experiments_overrides_reruns_only_that_experiment(smoke_study):
    plan = smoke_study.local("-n", "--configfile", str(_changed_e1_config(smoke_study.root)))
    assert job_counts(plan.stdout) == {
        "gate_experiment": 1,  # E1's gates (its parity with E0) run again before E1 retrains
        "gates": 1,  # the summary (trains wait for it only the first time: E0 and E2 are not retrained)
        "train": 1,
        "eval": 1,
        "offline_check": 1,
        "cost": 1,
        "tables": 1,
        "verdicts": 1,
        "figure": _figures(smoke_study.root),
        "all": 1,
    }, plan.stdout[-3000:]
    assert "results/smoke/libero_spatial/E1/seed0/train" in plan.stdout
    assert "output: results/smoke/libero_spatial/E2/seed0/train" not in plan.stdout


def _kill_after_a_checkpoint(smoke_study, sig: int, after: int) -> tuple[int, int]:
    """Run `make smoke`'s Snakemake for E1's training (resuming its partial run if there is one); once a
    checkpoint later than step `after` is complete, send `sig` to the whole process group (as Ctrl-C or an
    OOM kill of the session does). Returns the step of the checkpoint LeRobot's `last` link names after the
    kill (where a resume must start; a fast machine may have saved more than one) and the last step logged."""
    study = smoke_study.root
    train = study / E1_TRAIN
    partial = train.with_name("train.partial") / "run"
    proc = subprocess.Popen(
        [smoke_study.snakemake_bin, "--cores", "2", "--rerun-incomplete", E1_TRAIN],
        cwd=study, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if newest_checkpoint(study) > after:
            time.sleep(1)  # a few more steps, which the resumed run repeats
            break
        time.sleep(0.2)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=120)
    time.sleep(2)
    last = (partial / "checkpoints/last").resolve()
    saved = json.loads((last / "training_state/training_step.json").read_text())["step"]
    assert int(last.name) == saved and after < saved < STEPS, (
        last
    )  # killed after a checkpoint, before the end
    metrics = [json.loads(line) for line in (partial / "metrics.jsonl").read_text().splitlines()]
    assert not train.exists() and train.with_name("train.partial").is_dir()  # nothing half-trained declared
    subprocess.run([smoke_study.snakemake_bin, "--unlock"], cwd=study, capture_output=True, check=True)
    return saved, metrics[-1]["step"]


def _refused_with_other_overrides(smoke_study, saved: int) -> None:
    """A rerun with other overrides is refused in one line saying how to start over; nothing is lost."""
    study, train = smoke_study.root, smoke_study.root / E1_TRAIN
    changed = _changed_e1_config(study)
    # mtime triggers only: E1's gate would run again first with the changed overrides (as it must before a
    # real retraining); what is tested here is the training's refusal
    refused = smoke_study.local(
        "--rerun-incomplete", "--rerun-triggers=mtime", E1_TRAIN, "--configfile", str(changed)
    )
    assert "rule train:" in refused.stdout + refused.stderr, refused.stderr[-3000:]  # the training ran
    assert refused.returncode != 0
    log = (study / E1_LOG).read_text()
    assert f"holds {saved} steps of a run with other settings" in log
    assert "(differs in --policy.world_prophet_layers=1" in log
    assert f"rm -rf {E1_TRAIN}.partial" in log and "Traceback" not in log
    assert (train.with_name("train.partial") / f"run/checkpoints/{saved:06d}").is_dir()  # nothing lost
    subprocess.run([smoke_study.snakemake_bin, "--unlock"], cwd=study, capture_output=True, check=True)


def test_a_training_killed_twice_resumes_each_time_from_its_last_checkpoint(smoke_study):
    """E1 trained from scratch by `make smoke`'s Snakemake: SIGKILLed once it saved its first checkpoint (a
    rerun under other overrides is then refused), SIGTERMed once the resumed attempt saved one of its own,
    rerun with the study's own settings: each attempt resumes from the checkpoint LeRobot's `last` link
    names, every step logged once."""
    study, train = smoke_study.root, smoke_study.root / E1_TRAIN
    shutil.rmtree(train)
    log = study / E1_LOG
    try:
        killed, logged_killed = _kill_after_a_checkpoint(smoke_study, signal.SIGKILL, after=0)
        assert "resuming" not in log.read_text()  # no partial run was there: it started from step 0
        _refused_with_other_overrides(smoke_study, killed)
        terminated, logged_terminated = _kill_after_a_checkpoint(smoke_study, signal.SIGTERM, after=killed)
        assert f"resuming {E1_TRAIN} at step {killed} of {STEPS}" in log.read_text()
        rerun = smoke_study.local("--rerun-incomplete", E1_TRAIN)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert f"resuming {E1_TRAIN} at step {terminated} of {STEPS}" in log.read_text()
        assert sorted(p.name for p in (train / "checkpoints").iterdir()) == [f"{STEPS:06d}", "last"]
        steps = [json.loads(line)["step"] for line in (train / "metrics.jsonl").read_text().splitlines()]
        assert steps == list(range(10, STEPS + 10, 10))  # strictly increasing, none twice, none missing
        # steps run in all: at most save_freq beyond the run's length per kill
        assert logged_killed + (logged_terminated - killed) + (STEPS - terminated) <= STEPS + 2 * SAVE_FREQ
        assert not train.with_name("train.partial").exists()
        plan = smoke_study.local("-n", E1_TRAIN)
        assert "Nothing to be done" in plan.stdout + plan.stderr  # a finished run is never trained again
    finally:
        smoke_study.settle()


def test_results_shared_with_dvc_are_up_to_date_in_another_clone(smoke_study, tmp_path):
    """dvc commit + push of the study; a fresh clone pulls, and Snakemake then plans nothing at all;
    deleting one evaluation replans exactly it and what reads it."""
    study = smoke_study.root
    dvc = str(Path(sys.executable).parent / "dvc")
    remote = tmp_path / "remote"
    for args in (
        ("commit", "-f", "smoke"),
        ("remote", "modify", "--local", "shared", "url", str(remote)),
        ("push", "smoke"),
    ):
        subprocess.run([dvc, *args], cwd=study, check=True, capture_output=True)
    git(study, "add", "dvc.lock")
    git(study, "commit", "-qm", "results of the smoke run")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(study), str(clone))
    subprocess.run([dvc, "remote", "modify", "--local", "shared", "url", str(remote)], cwd=clone, check=True)
    subprocess.run([dvc, "pull", "smoke"], cwd=clone, check=True, capture_output=True)
    train = clone / "results/smoke/libero_spatial/E2/seed0/train"
    assert (train / "checkpoints/000200/pretrained_model").is_dir()
    assert not (train / "checkpoints/last").exists()

    assert smoke_study.local("--touch", cwd=clone).returncode == 0  # pulled files get DAG-ordered mtimes
    plan = smoke_study.local("-n", cwd=clone)
    assert "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-3000:]

    (clone / "results/smoke/libero_spatial/E2/seed0/eval/zero.json").unlink()
    plan = smoke_study.local("-n", cwd=clone)
    assert job_counts(plan.stdout) == {
        "eval": 1,
        "cost": 1,
        "tables": 1,
        "verdicts": 1,
        "figure": _figures(smoke_study.root),
        "all": 1,
    }
