"""The study on a real Slurm (a one-node cluster of the test's own): the smoke DAG through the project's
mi300x profile, every job a Slurm job but the local rules; then the faults a cluster inflicts on a training —
cancelled, requeued, killed by its time limit — each resumed from its checkpoint, nothing else rerun.

The profile is used as shipped, with two additions a laptop-sized test needs: the smoke config, and the first
status check 5 s after a submission instead of 40 (the executor's cadence; Slurm itself is untouched)."""

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .plans import copy_workflow, job_counts
from .slurm_cluster import PARTITION, SlurmCluster, missing_binaries

pytestmark = pytest.mark.slow

TRAIN = "results/smoke/libero_spatial/E1/seed0/train"  # a world arm: its metrics.jsonl is checked too
TRAIN_LOG = "logs/smoke/libero_spatial/E1/seed0/train.log"
STEPS, SAVE_FREQ = 200, 50  # config/smoke.yaml


@pytest.fixture(scope="module")
def cluster(repo, tmp_path_factory):
    if missing_binaries():
        subprocess.run([str(repo / "scripts/install-slurm")], check=True)
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    yield slurm
    slurm.stop()


@pytest.fixture(scope="module")
def study(repo, tmp_path_factory) -> Path:
    return copy_workflow(repo, tmp_path_factory.mktemp("study"))


def _snakemake_cmd(snakemake_bin: str, repo: Path, *args: str) -> list[str]:
    profile = ["--profile", str(repo / "profiles/mi300x"), "--configfile", "config/smoke.yaml"]
    return [snakemake_bin, *profile, "--slurm-init-seconds-before-status-checks=5", *args]


def _snakemake(snakemake_bin, repo, study, cluster, *args, timeout=3000) -> subprocess.CompletedProcess:
    cmd = _snakemake_cmd(snakemake_bin, repo, *args)
    return subprocess.run(cmd, cwd=study, env=cluster.env, capture_output=True, text=True, timeout=timeout)


def _slurm_jobs(cluster: SlurmCluster) -> dict[str, dict[str, str]]:
    """Every job the cluster still knows: id → name, state, partition."""
    out = cluster.run(["squeue", "--states=all", "--noheader", "--format=%i|%j|%T|%P|%b"])
    jobs = {}
    for line in out.stdout.splitlines():
        job_id, name, state, partition, gres = line.split("|")
        jobs[job_id] = {"name": name, "state": state, "partition": partition, "gres": gres}
    return jobs


def test_the_smoke_study_runs_as_slurm_jobs_through_the_mi300x_profile(snakemake_bin, repo, study, cluster):
    run = _snakemake(snakemake_bin, repo, study, cluster)
    assert run.returncode == 0, run.stderr[-4000:] + cluster.logs()
    output = run.stdout + run.stderr
    planned = job_counts(output)
    local = ("all", "gates", "study_gates", "tables", "verdicts", "figure", "cost")  # the localrules
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", output)
    assert len(submitted) == sum(n for rule, n in planned.items() if rule not in local)
    assert sum(n for rule, n in planned.items() if rule in local) == len(
        re.findall(r"^local(?:rule|checkpoint) ", output, re.M)  # study_gates is a checkpoint
    )
    jobs = _slurm_jobs(cluster)  # those that ended within MinJobAge are still listed
    recent = [jobs[j] for j in submitted if j in jobs]
    assert (
        recent
        and {j["state"] for j in recent} == {"COMPLETED"}
        and {j["partition"] for j in recent} == {PARTITION}
    )
    report = subprocess.run(
        [snakemake_bin, "--configfile", "config/smoke.yaml", "--report", "results/smoke/report.html"],
        cwd=study, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert report.returncode == 0 and (study / "results/smoke/report.html").stat().st_size > 0
    assert json.loads((study / "results/smoke/libero_spatial/E2/seed0/eval/pred.json").read_text())["overall"]
    assert any((study / "logs/slurm").rglob("*.log"))  # Slurm's own job logs are kept, successful ones too


def _new_job(cluster: SlurmCluster, known: set[str]) -> str | None:
    """A job the cluster did not know before (the fault tests submit one training at a time)."""
    fresh = sorted((j for j in _slurm_jobs(cluster) if j not in known), key=int)
    return fresh[0] if fresh else None


def _state(cluster: SlurmCluster, job: str) -> str:
    out = cluster.run(["scontrol", "show", "job", job, "--oneliner"])
    return dict(re.findall(r"(\w+)=(\S+)", out.stdout)).get("JobState", "")


def _restarts(cluster: SlurmCluster, job: str) -> int:
    out = cluster.run(["scontrol", "show", "job", job, "--oneliner"])
    return int(dict(re.findall(r"(\w+)=(\S+)", out.stdout)).get("Restarts", 0))


def _wait(condition, timeout: float, what: str, poll: float = 0.25, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Snakemake ended while waiting for {what}:\n{proc.stdout.read()[-4000:]}")
        time.sleep(poll)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _checkpoint_saved(study: Path) -> bool:
    step = study / f"{TRAIN}.partial/run/checkpoints/{SAVE_FREQ:06d}/training_state/training_step.json"
    return step.is_file()


def _train_under_fault(snakemake_bin, repo, study, cluster, fault: str, *config: str) -> dict:
    """Train E1 again through the profile; once its first checkpoint is saved, inflict `fault` on its Slurm
    job (`scancel`, `scontrol requeue`, or nothing: its time limit kills it). Returns the seconds from the
    fault until the training runs again (Snakemake's resubmission or Slurm's requeue), and the output."""
    shutil.rmtree(study / TRAIN, ignore_errors=True)
    shutil.rmtree(study / f"{TRAIN}.partial", ignore_errors=True)
    (study / TRAIN_LOG).with_name("train.attempts.log").unlink(missing_ok=True)
    known = set(_slurm_jobs(cluster))
    cmd = _snakemake_cmd(snakemake_bin, repo, TRAIN, "--rerun-triggers", "mtime", "--config", *config)
    proc = subprocess.Popen(
        cmd, cwd=study, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        job = _wait(lambda: _new_job(cluster, known), 600, "the training's Slurm job", proc=proc)
        spec = cluster.run(["scontrol", "show", "job", job, "--oneliner"]).stdout  # what sbatch asked for
        _wait(lambda: _checkpoint_saved(study), 1200, "the first checkpoint", proc=proc)
        if fault == "scancel":
            assert cluster.run(["scancel", job]).returncode == 0
        elif fault == "requeue":
            assert cluster.run(["scontrol", "requeue", job]).returncode == 0
        else:  # the time limit, shortened to what Slurm allows (a minute) once the first checkpoint is saved
            assert cluster.run(["scontrol", "update", f"JobId={job}", "TimeLimit=1"]).returncode == 0
            _wait(lambda: _state(cluster, job) == "TIMEOUT", 600, "the time limit", poll=0.1)
        faulted = time.monotonic()
        if fault == "requeue":  # Slurm runs the same job again
            _wait(
                lambda: _restarts(cluster, job) >= 1 and _state(cluster, job) == "RUNNING", 600, "the requeue"
            )
        else:  # Snakemake submits a new job
            _wait(lambda: _new_job(cluster, known | {job}), 600, "Snakemake's resubmission", proc=proc)
        seconds = time.monotonic() - faulted
        output, _ = proc.communicate(timeout=3000)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output[-4000:] + cluster.logs()
    return {
        "seconds": seconds,
        "output": output,
        "jobs": len(set(_slurm_jobs(cluster)) - known),
        "spec": spec,
    }


def _resumed_from(study: Path, attempts: int, total: int = STEPS) -> list[int]:
    """The training finished once: every logged step once, the final checkpoint complete, every attempt's
    log kept. Returns the step each later attempt resumed from."""
    train = study / TRAIN
    assert sorted(p.name for p in (train / "checkpoints").iterdir()) == [f"{total:06d}", "last"]
    assert (train / f"checkpoints/{total:06d}/pretrained_model/model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (train / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, total + 10, 10))  # strictly increasing, none twice, none missing
    log = (study / TRAIN_LOG).with_name("train.attempts.log").read_text()
    assert log.count("=== attempt started") == attempts  # the log of every attempt is kept
    assert (
        "=== devices: ROCR_VISIBLE_DEVICES=" in log
        and "CUDA_VISIBLE_DEVICES" not in log.split("=== devices")[1]
    )
    return [int(step) for step in re.findall(rf"resuming {TRAIN} at step (\d+) of {total}", log)]


# Each fault: how the training's Slurm job is hit once its first checkpoint is saved, and the extra config of
# the run. The time-limit case trains longer (1,500 steps) so that no machine finishes it within the minute
# Slurm's smallest limit gives; `--rerun-triggers mtime` keeps that longer budget from rerunning its gates.
FAULTS = {
    "scancel": {"steps": STEPS, "config": ()},
    "requeue": {"steps": STEPS, "config": ()},
    "time limit": {"steps": 1500, "config": ("train={total_samples: 3000}",)},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulted_training_resumes_from_its_checkpoint_and_nothing_else_reruns(
    snakemake_bin, repo, study, cluster, fault
):
    if not (study / "results/smoke/tables/runs.csv").exists():
        pytest.skip("needs the smoke study of the test above")
    case = FAULTS[fault]
    run = _train_under_fault(
        snakemake_bin, repo, study, cluster, fault, "resources={train: {gpu: 1}}", *case["config"]
    )
    assert job_counts(run["output"]) == {"train": 1}  # nothing but the training was (re)planned
    assert (
        "TresPerJob=gres:gpu:1" in run["spec"]  # the executor's --gpus=1, as Slurm took it
        and "MinMemoryNode=4000M" in run["spec"]
        and "TimeLimit=00:30:00" in run["spec"]
    )
    requeued = 1 if fault == "requeue" else 0  # Slurm reruns the same job: one more attempt, no new job
    resumed = _resumed_from(study, attempts=run["jobs"] + requeued, total=case["steps"])
    assert resumed and all(step >= SAVE_FREQ for step in resumed)  # never from step 0
    # Snakemake sees a cancelled or timed-out job end within its status checks; Slurm holds a requeued job
    # for its own delay (about 2 minutes on Slurm 22.05) before it runs again
    assert run["seconds"] < (300 if fault == "requeue" else 60), run["seconds"]
    seconds, jobs = run["seconds"], run["jobs"]
    print(
        f"{fault}: running again {seconds:.0f} s after the fault; resumed at {resumed}; {jobs} Slurm job(s)"
    )


def test_the_start_check_refuses_a_cluster_the_executor_would_hang_on(snakemake_bin, repo, study, cluster):
    """Accounting the executor cannot read (this cluster has none) is named before any job is submitted."""
    known = set(_slurm_jobs(cluster))
    run = _snakemake(
        snakemake_bin, repo, study, cluster, "--slurm-status-command=sacct", "--forcerun", "figure"
    )
    assert run.returncode != 0 and set(_slurm_jobs(cluster)) == known
    assert "cannot read (sacct: " in run.stderr and "set `slurm-status-command: squeue`" in run.stderr
