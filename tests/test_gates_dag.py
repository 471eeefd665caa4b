"""In the smoke DAG: the gates the session's smoke study ran; a failed gate stops a study before training; the
override is recorded, rerunning no passed gate, training, evaluation or offline check. The failure is provoked
in a copy of the built study (its data, models and latent caches as they are), so only the gates run again."""

import json
import re
import shutil

import pytest

pytestmark = pytest.mark.slow

STRICT_LATENTS = "gates={latents: {max_consecutive_cos: 0.5}}"  # tiny encoders' latents are far more alike
WORLD = ("E1", "E2", "E2_cosmos")  # the experiments that read a latent cache


def _ran(run) -> set[str]:
    """The rules a Snakemake run started jobs of (checkpoints and local rules included)."""
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", run.stdout + run.stderr, re.M))


def _status(summary: dict) -> dict[str, bool | None]:
    return {g["name"]: g["passed"] for g in summary["gates"]}


def _ran_as_the_study_ran(status: dict[str, bool | None]) -> None:
    assert status["init_policy_sr"] is None  # the smoke study has no init checkpoint: skipped, not passed
    assert all(status[f"parity[{e}]"] and status[f"trains[{e}]"] for e in ("E0", *WORLD))
    assert all(status[f"processor_parity[{e}]"] for e in ("E0", *WORLD))  # E0's statistics, tensor for tensor
    assert status["libero_render"] is True and status["gpus_visible"] is None


def test_the_study_ran_every_gate_before_training(smoke_study):
    summary = json.loads((smoke_study.root / "results/smoke/gates/gates.json").read_text())
    assert summary["enforced"] is True and summary["overridden"] == []
    _ran_as_the_study_ran(_status(summary))


def test_a_failed_gate_stops_the_study_before_training_and_the_override_is_recorded(smoke_study, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(smoke_study.root, study, symlinks=True)
    gates = study / "results/smoke/gates"
    untouched = [gates / "gates.json", gates / "study.json"]
    for exp in WORLD:  # nothing that reads a latent cache may run again on a failed one
        untouched += [gates / f"experiments/{exp}.json"]
        untouched += [study / f"results/smoke/libero_spatial/{exp}/seed0/train/checkpoints/000200"]
    before = {path: path.stat().st_mtime_ns for path in untouched}

    failed = smoke_study.local("--config", STRICT_LATENTS, cwd=study)
    assert failed.returncode != 0
    assert _ran(failed) == {"gate_latents"}, failed.stderr[-3000:]
    paths = [study / f"logs/smoke/gates/latents_{e}.log" for e in ("vjepa2-tiny", "cosmos-tiny")]
    logs = [path.read_text() for path in paths if path.exists()]  # the first failure stops the scheduling
    failed_logs = [log for log in logs if "FAILED (value 0.99" in log and "threshold <= 0.5)" in log]
    assert failed_logs and all("latents_change_between_frames[" in log for log in failed_logs)
    assert not any("Traceback" in log for log in logs)
    assert {path: path.stat().st_mtime_ns for path in untouched} == before

    overridden = smoke_study.local(
        "--config", "gates={enforce: false, latents: {max_consecutive_cos: 0.5}}", cwd=study
    )  # the whole study: only the failed gates, the summaries (which record `enforce`) and the report run
    assert overridden.returncode == 0, overridden.stderr[-3000:]
    assert _ran(overridden) == {
        "gate_latents",
        "gates",
        "study_gates",
        "experiment_cleared",  # each experiment cleared again: the override is what clears it now
        "perturbation_cleared",  # and each perturbed suite
        "cost",
        "tables",
        "verdicts",
        "figure",
        "all",
    }
    summary = json.loads((gates / "gates.json").read_text())
    assert summary["enforced"] is False and summary["overridden"] == [
        "latents_change_between_frames[vjepa2-tiny]",
        "latents_change_between_frames[cosmos-tiny]",
    ]
    _ran_as_the_study_ran(_status(summary))

    # `enforce` back on, thresholds still failing: the override ends with the clearances, before any run.
    # --keep-going: every job that can run does, so which failing summary Snakemake starts first is moot.
    enforced = smoke_study.local("--keep-going", "--config", STRICT_LATENTS, cwd=study)
    ran = _ran(enforced)
    assert enforced.returncode != 0 and "experiment_cleared" in ran, enforced.stdout[-3000:]
    clearances = {"experiment_cleared", "perturbation_cleared", "study_gates", "gates"}
    assert ran <= {*clearances, "cost"}, ran  # no run of any kind
    for exp in WORLD:
        log = (study / f"logs/smoke/gates/cleared_{exp}.log").read_text()
        assert "sanity gate(s) failed; no training starts" in log, (exp, log[-2000:])


def test_a_gate_run_again_reruns_no_training_evaluation_or_offline_check(smoke_study, tmp_path):
    """A gate decides whether the study may train; no run is built from it. Forcing an experiment's gate to
    run again (as a changed gate setting or protocol knob in its plan does) reruns the gate and what
    summarises the gates, nothing of the experiment's runs."""
    study = tmp_path / "study"
    shutil.copytree(smoke_study.root, study, symlinks=True)
    runs = study / "results/smoke/libero_spatial/E2_cosmos/seed0"
    before = {path: path.stat().st_mtime_ns for path in runs.rglob("*") if path.is_file()}

    rerun = smoke_study.local("--forcerun", "results/smoke/gates/experiments/E2_cosmos.json", cwd=study)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    ran = _ran(rerun)
    assert "gate_experiment" in ran and ran <= {
        "gate_experiment",
        "experiment_cleared",
        "gates",
        "cost",
        "tables",
        "verdicts",
        "figure",
        "all",
    }
    assert {path: path.stat().st_mtime_ns for path in runs.rglob("*") if path.is_file()} == before
