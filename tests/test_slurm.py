"""The study on a real Slurm (the session's one-node cluster, tests/slurm_cluster.py): the smoke study ran as
Slurm jobs through the project's mi300x profile, every job a Slurm job but the local rules
(tests/smoke_study.py built it); then the faults a cluster inflicts on a training — cancelled, requeued,
killed by its time limit — each resumed from its newest checkpoint, nothing else rerun; a study restarted
after its Snakemake process died, which never trains a run twice, or, its orphaned job cancelled, resumes it
once; the start check that refuses a cluster the executor would hang on; and the leases a contending GPU job
stops at instead of waiting or taking them over (a held holder, another user's job squeue does not show)."""

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from wmvla.lease.holder import Holder

from .plans import job_counts
from .slurm_cluster import PARTITION, SlurmCluster
from .smoke_study import E1_LOG, E1_TRAIN, SAVE_FREQ, SLURM_JOB_FORMAT, STEPS, newest_checkpoint

pytestmark = pytest.mark.slow


def _slurm_jobs(cluster: SlurmCluster, listing: str | None = None) -> dict[str, dict[str, str]]:
    """Every job the cluster still knows (or an earlier squeue `listing`): id → name, state, partition."""
    if listing is None:
        listing = cluster.run(["squeue", "--states=all", "--noheader", SLURM_JOB_FORMAT]).stdout
    jobs = {}
    for line in listing.splitlines():
        job_id, name, state, partition, gres = line.split("|")
        jobs[job_id] = {"name": name, "state": state, "partition": partition, "gres": gres}
    return jobs


def test_the_smoke_study_runs_as_slurm_jobs_through_the_mi300x_profile(smoke_study):
    output = smoke_study.built.stdout + smoke_study.built.stderr
    planned = job_counts(output)
    clearances = ("study_gates", "experiment_cleared", "perturbation_cleared")
    local = ("all", "gates", *clearances, "tables", "verdicts", "figure", "cost")
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", output)
    assert len(submitted) == sum(n for rule, n in planned.items() if rule not in local)
    assert sum(n for rule, n in planned.items() if rule in local) == len(
        re.findall(r"^local(?:rule|checkpoint) ", output, re.M)  # experiment_cleared is a checkpoint
    )
    jobs = _slurm_jobs(smoke_study.cluster, smoke_study.queue_after_build)  # those ended within MinJobAge
    recent = [jobs[j] for j in submitted if j in jobs]
    assert (
        recent
        and {j["state"] for j in recent} == {"COMPLETED"}
        and {j["partition"] for j in recent} == {PARTITION}
    )
    study = smoke_study.root
    assert json.loads((study / "results/smoke/libero_spatial/E2/seed0/eval/pred.json").read_text())["overall"]
    assert any((study / "logs/slurm").rglob("*.log"))  # Slurm's own job logs are kept, successful ones too
    print(f"the smoke study as {len(submitted)} Slurm jobs: {smoke_study.seconds:.0f} s")


def _new_job(cluster: SlurmCluster, known: set[str]) -> str | None:
    """A job the cluster did not know before (the fault test submits one training at a time)."""
    fresh = sorted((j for j in _slurm_jobs(cluster) if j not in known), key=int)
    return fresh[0] if fresh else None


def _job(cluster: SlurmCluster, job: str) -> dict[str, str]:
    out = cluster.run(["scontrol", "show", "job", job, "--oneliner"])
    return dict(re.findall(r"(\w+)=(\S+)", out.stdout))


def _wait(condition, timeout: float, what: str, poll: float = 0.25, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Snakemake ended while waiting for {what}:\n{proc.stdout.read()[-4000:]}")
        time.sleep(poll)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _resumes(study: Path) -> list[int]:
    """The step each attempt after the first resumed from, as its log says."""
    log = (study / E1_LOG).with_name("train.attempts.log")
    text = log.read_text() if log.is_file() else ""
    return [int(step) for step in re.findall(rf"resuming {E1_TRAIN} at step (\d+) of {STEPS}", text)]


# How each fault hits the training's Slurm job once the attempt running it has saved a checkpoint of its own:
# cancelled; requeued (Slurm runs the same job again; its own ~2-minute requeue delay is lifted with
# StartTime=now, which changes nothing the test proves); killed by its time limit, shortened to the minute
# Slurm allows, the job stopped (SIGSTOP through Slurm) meanwhile so that no machine finishes the run in it.
FAULTS = ("scancel", "requeue", "time limit")


def _inflict(cluster: SlurmCluster, job: str, fault: str) -> None:
    if fault == "scancel":
        assert cluster.run(["scancel", job]).returncode == 0
    elif fault == "requeue":
        assert cluster.run(["scontrol", "requeue", job]).returncode == 0
        _wait(lambda: _job(cluster, job).get("JobState") == "PENDING", 60, "the requeued job to pend")
        assert cluster.run(["scontrol", "update", f"JobId={job}", "StartTime=now"]).returncode == 0
    else:
        assert cluster.run(["scancel", "--signal=STOP", job]).returncode == 0
        assert cluster.run(["scontrol", "update", f"JobId={job}", "TimeLimit=1"]).returncode == 0
        _wait(lambda: _job(cluster, job).get("JobState") == "TIMEOUT", 600, "the time limit", poll=0.1)


def test_a_training_cancelled_requeued_and_timed_out_resumes_each_time_and_nothing_else_reruns(smoke_study):
    """E1 trained again through the profile and hit by each fault in turn: every attempt resumes from the
    newest checkpoint (a later one each time), every logged step once, the final checkpoint complete."""
    study, cluster = smoke_study.root, smoke_study.cluster
    shutil.rmtree(study / E1_TRAIN)
    (study / E1_LOG).with_name("train.attempts.log").unlink(missing_ok=True)
    known = set(_slurm_jobs(cluster))
    cmd = smoke_study.slurm_cmd(E1_TRAIN, "--config", "resources={train: {gpu: 1}}")
    proc = subprocess.Popen(
        cmd, cwd=study, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seconds, jobs = {}, []
    try:
        jobs.append(_wait(lambda: _new_job(cluster, known), 600, "the training's Slurm job", proc=proc))
        spec = cluster.run(["scontrol", "show", "job", jobs[0], "--oneliner"]).stdout  # what sbatch asked for
        for n, fault in enumerate(FAULTS):
            _wait(lambda n=n: len(_resumes(study)) == n, 600, f"attempt {n + 1} to start", proc=proc)
            resumed_at = _resumes(study)[n - 1] if n else 0
            _wait(
                lambda at=resumed_at: newest_checkpoint(study) > at,
                600,
                "a checkpoint of this attempt",
                proc=proc,
            )
            _inflict(cluster, jobs[-1], fault)
            faulted = time.monotonic()
            if fault == "requeue":  # Slurm runs the same job again
                _wait(lambda: _job(cluster, jobs[-1]).get("JobState") == "RUNNING", 300, "the requeued job")
            else:  # Snakemake submits a new job
                jobs.append(
                    _wait(lambda: _new_job(cluster, known | set(jobs)), 600, "Snakemake's resubmission")
                )
            seconds[fault] = time.monotonic() - faulted
        output, _ = proc.communicate(timeout=3000)
    finally:
        if proc.poll() is None:
            proc.kill()
        smoke_study.settle()
    assert proc.returncode == 0, output[-4000:] + cluster.logs()
    assert job_counts(output) == {"train": 1}  # nothing but the training was (re)planned
    assert (
        "TresPerJob=gres:gpu:1" in spec  # the executor's --gpus=1, as Slurm took it
        and "MinMemoryNode=4000M" in spec
        and "TimeLimit=00:30:00" in spec
    )
    train = study / E1_TRAIN
    assert sorted(p.name for p in (train / "checkpoints").iterdir()) == [f"{STEPS:06d}", "last"]
    assert (train / f"checkpoints/{STEPS:06d}/pretrained_model/model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (train / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, STEPS + 10, 10))  # strictly increasing, none twice, none missing
    log = (study / E1_LOG).with_name("train.attempts.log").read_text()
    assert log.count("=== attempt started") == len(jobs) + 1 == 4  # every attempt's log kept (+1: requeued)
    assert (
        "=== devices: ROCR_VISIBLE_DEVICES=" in log
        and "CUDA_VISIBLE_DEVICES" not in log.split("=== devices")[1]
    )
    resumed = _resumes(study)
    assert len(resumed) == 3 and SAVE_FREQ <= resumed[0] < resumed[1] < resumed[2] < STEPS, resumed
    # Snakemake sees a cancelled or timed-out job end within its status checks; a requeued job runs at once
    assert all(s < 60 for s in seconds.values()), seconds
    print(f"running again after the fault: {seconds}; resumed at {resumed}; Slurm jobs {jobs}")


def _live_trainings(cluster: SlurmCluster, comment: str) -> list[str]:
    """The Slurm jobs training E1 right now (pending ones included), as squeue lists them."""
    out = cluster.run(["squeue", "--noheader", "--format=%i|%k"])
    return [line.split("|")[0] for line in out.stdout.splitlines() if line.split("|")[1:] == [comment]]


class _Watch(threading.Thread):
    """Samples squeue every 0.2 s: the most Slurm jobs that ever trained E1 at once."""

    def __init__(self, cluster: SlurmCluster, comment: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.comment, self.most, self.seen = cluster, comment, 0, set()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            live = _live_trainings(self.cluster, self.comment)
            self.most, self.seen = max(self.most, len(live)), self.seen | set(live)


def _status(smoke_study) -> dict:
    """E1's row of `wmvla status --json`, asked on the study's cluster (its `squeue`)."""
    wmvla = Path(smoke_study.snakemake_bin).with_name("wmvla")
    out = subprocess.run([str(wmvla), "status", "--configfile", "config/smoke.yaml", "--json"],
                         cwd=smoke_study.root, env=smoke_study.cluster.env, capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    return next(r for r in json.loads(out.stdout)["runs"] if r["exp"] == "E1")


def test_a_study_restarted_after_its_snakemake_process_died_never_trains_a_run_twice(smoke_study):
    """The Snakemake process driving E1's training is killed (SIGKILL) once the training saved its first
    checkpoint; its Slurm job goes on. `--unlock` and the same command again: the start check stops, naming
    the job and how to cancel it, and submits nothing; once the job has ended, the same command finds E1
    trained. At no moment do two Slurm jobs train E1; each logged step once, the final checkpoint whole."""
    study, cluster = smoke_study.root, smoke_study.cluster
    shutil.rmtree(study / E1_TRAIN)
    (study / E1_LOG).with_name("train.attempts.log").unlink(missing_ok=True)
    known = set(_slurm_jobs(cluster))
    watch = _Watch(cluster, "rule_train_wildcards_smoke_libero_spatial_E1_0")
    watch.start()
    head = subprocess.Popen(
        smoke_study.slurm_cmd(E1_TRAIN), cwd=study, env=cluster.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        job = _wait(lambda: _new_job(cluster, known), 600, "the training's Slurm job", proc=head)
        _wait(lambda: newest_checkpoint(study) >= SAVE_FREQ, 600, "the first checkpoint", proc=head)
        head.kill()  # the login node's process dies; its Slurm job does not
        head.communicate(timeout=60)
        assert _job(cluster, job).get("JobState") == "RUNNING"
        status = _status(smoke_study)  # what a researcher sees now: the run training, on its Slurm job
        assert status["stage"] == "training" and SAVE_FREQ <= status["train"]["done"] < STEPS, status
        assert status["train"]["detail"] == f"Slurm job {job} RUNNING", status
        restarted = time.monotonic()
        assert smoke_study.slurm("--unlock").returncode == 0
        refused = smoke_study.slurm(E1_TRAIN)
        refused_s = time.monotonic() - restarted
        # nothing submitted (a job known at the start may since have left squeue: MinJobAge)
        assert refused.returncode != 0 and set(_slurm_jobs(cluster)) - known == {job}, refused.stderr[-3000:]
        assert f"train smoke/libero_spatial/E1/0 (Slurm job {job}, RUNNING)" in refused.stderr
        assert f"scancel {job}" in refused.stderr and "would run twice" in refused.stderr
        _wait(lambda: not _live_trainings(cluster, watch.comment), 900, "the orphaned training to end")
        again = smoke_study.slurm(E1_TRAIN)
        going_on_s = time.monotonic() - restarted
    finally:
        if head.poll() is None:
            head.kill()
        watch.stop.set()
        watch.join()
        smoke_study.settle()
    assert again.returncode == 0, again.stderr[-4000:] + cluster.logs()
    assert job_counts(again.stdout + again.stderr) == {}  # the orphan's training is taken as it finished
    assert watch.most == 1 and watch.seen == {job}
    train = study / E1_TRAIN
    assert sorted(p.name for p in (train / "checkpoints").iterdir()) == [f"{STEPS:06d}", "last"]
    assert (train / f"checkpoints/{STEPS:06d}/pretrained_model/model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (train / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, STEPS + 10, 10))  # every logged step once
    log = (study / E1_LOG).with_name("train.attempts.log").read_text()
    assert log.count("=== attempt started") == 1 and not _resumes(study)  # trained once, never resumed
    print(
        f"restart after the head's death: refused in {refused_s:.0f} s (Slurm job {job} named); the same "
        f"command went on {going_on_s:.0f} s after the restart, once the orphaned training had ended"
    )


def test_the_start_check_refuses_a_cluster_the_executor_would_hang_on(smoke_study):
    """Accounting the executor cannot read (this cluster has none) is named before any job is submitted."""
    known = set(_slurm_jobs(smoke_study.cluster))
    run = smoke_study.slurm("--slurm-status-command=sacct", "--forcerun", "figure")
    assert run.returncode != 0 and set(_slurm_jobs(smoke_study.cluster)) <= known  # nothing submitted
    assert "cannot read (sacct: " in run.stderr and "set `slurm-status-command: squeue`" in run.stderr


HOLDER = """
import sys, time
from pathlib import Path
from wmvla.lease import lease
with lease(Path(sys.argv[1]), "held holder"):
    Path(sys.argv[2]).write_text("holding")
    time.sleep(600)
"""
CONTENDER = """
import sys, time
from pathlib import Path
from wmvla.errors import WmvlaError
from wmvla.lease import lease
started = time.monotonic()
try:
    with lease(Path(sys.argv[1]), "contender"):
        outcome = "held the lease"
except WmvlaError as err:
    outcome = str(err)
Path(sys.argv[2]).write_text(f"{time.monotonic() - started:.1f}\\n{outcome}")
"""
CONTENDER_BOUND_S = 30  # the contender's whole time on its GPU: its lease check, squeue's retries included


def _sbatch(cluster: SlurmCluster, tmp_path: Path, script: Path, *args: Path) -> str:
    """A one-GPU Slurm job running `script` with `args`; its id."""
    wrap = " ".join([sys.executable, str(script), *map(str, args)])
    log = f"--output={tmp_path}/slurm-%j.out"
    out = cluster.run(["sbatch", "--parsable", "--gpus=1", f"--partition={PARTITION}", log, "--wrap", wrap])
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split(";")[0]


def test_a_held_lease_holder_stops_a_contending_gpu_job_at_once(smoke_study, tmp_path):
    """A Slurm job holding a lease is requeued and held (`scontrol requeuehold`: it resumes only when
    released); a GPU job for the same output stops at once, naming the held job and `scontrol release`,
    instead of sitting on its GPU until the holder's end or its own time limit."""
    cluster = smoke_study.cluster
    guarded, state, outcome = tmp_path / "run", tmp_path / "state", tmp_path / "outcome"
    scripts = {name: tmp_path / f"{name}.py" for name in ("holder", "contender")}
    scripts["holder"].write_text(HOLDER)
    scripts["contender"].write_text(CONTENDER)
    lease_file = guarded.with_name("run.lease")
    holder = _sbatch(cluster, tmp_path, scripts["holder"], lease_file, state)
    try:
        _wait(lambda: state.is_file(), 300, "the holder to take the lease")
        assert cluster.run(["scontrol", "requeuehold", holder]).returncode == 0
        _wait(lambda: _job(cluster, holder).get("JobState") in ("PENDING", "REQUEUE_HOLD"), 120, "the hold")
        contender = _sbatch(cluster, tmp_path, scripts["contender"], lease_file, outcome)
        _wait(lambda: outcome.is_file(), 300, "the contender to end")
        seconds, message = outcome.read_text().split("\n", 1)
        print(f"\ncontender vs a held holder (job {holder}): stopped after {seconds} s on its GPU: {message}")
        assert float(seconds) < CONTENDER_BOUND_S
        assert f"held by Slurm job {holder}" in message and f"scontrol release {holder}" in message
        assert json.loads(lease_file.read_text())["slurm_job"] == holder  # the held job keeps its lease
        _wait(
            lambda: _job(cluster, contender).get("JobState") == "COMPLETED", 60, "the contender's job to end"
        )
    finally:
        cluster.run(["scancel", holder])


def test_another_users_job_squeue_does_not_show_stops_a_contending_gpu_job(slurm_cluster, tmp_path):
    """Clusters with `PrivateData=jobs` hide other users' jobs: `squeue --jobs` answers for one as for no job.
    A lease naming another user's job this cluster does not show is left to be checked, never taken over: a
    contending GPU job stops within the bound, naming the job, its owner and how to release the lease."""
    cluster, lease_file, outcome = slurm_cluster, tmp_path / "run.lease", tmp_path / "outcome"
    hidden = "4000001"  # an id this cluster never gave: what squeue shows of a hidden job
    asked = cluster.run(["squeue", "--noheader", "--jobs", hidden])
    print(f"\nsqueue --jobs {hidden}: exit {asked.returncode}, {(asked.stdout + asked.stderr).strip()!r}")
    holder = Holder("node7", 4321, "99", slurm_job=hidden, user="alice", slurm_name="rule_train", nonce="n")
    lease_file.write_text(json.dumps(asdict(holder), sort_keys=True))
    before = lease_file.read_text()
    script = tmp_path / "contender.py"
    script.write_text(CONTENDER)
    contender = _sbatch(cluster, tmp_path, script, lease_file, outcome)
    _wait(lambda: outcome.is_file(), 300, "the contender to end")
    seconds, message = outcome.read_text().split("\n", 1)
    print(f"contender vs another user's unlisted job {hidden}: stopped after {seconds} s: {message}")
    assert float(seconds) < CONTENDER_BOUND_S and "\n" not in message
    assert f"held by Slurm job {hidden} on node7 (user alice), whose state cannot be read" in message
    assert "may be hidden" in message and f"ask alice or an administrator: squeue --jobs {hidden}" in message
    assert f"remove {lease_file} and run the job again" in message
    assert lease_file.read_text() == before and sorted(p.name for p in tmp_path.glob("run.lease*")) == [
        "run.lease"
    ]
    _wait(lambda: _job(cluster, contender).get("JobState") == "COMPLETED", 60, "the contender's job to end")


def test_a_study_whose_head_died_and_whose_orphan_was_cancelled_resumes_the_run_once_restarted(smoke_study):
    """The Snakemake process driving E1's training is killed (SIGKILL) once the training saved its first
    checkpoint, and its orphaned Slurm job is cancelled, as the start check offers: the job dies holding the
    run's lease. `--unlock` and the same command, as the README says: a new job takes the lease over from the
    cancelled one, resumes from its newest checkpoint and finishes; the study is complete, every logged step
    once, nothing left beside the run but what a run leaves."""
    study, cluster = smoke_study.root, smoke_study.cluster
    shutil.rmtree(study / E1_TRAIN)
    (study / E1_LOG).with_name("train.attempts.log").unlink(missing_ok=True)
    known = set(_slurm_jobs(cluster))
    comment = "rule_train_wildcards_smoke_libero_spatial_E1_0"
    lease_file = (study / E1_TRAIN).with_name("train.lease")
    head = subprocess.Popen(
        smoke_study.slurm_cmd(E1_TRAIN), cwd=study, env=cluster.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        job = _wait(lambda: _new_job(cluster, known), 600, "the training's Slurm job", proc=head)
        _wait(lambda: newest_checkpoint(study) >= SAVE_FREQ, 600, "the first checkpoint", proc=head)
        head.kill()  # the login node's process dies; its Slurm job does not
        head.communicate(timeout=60)
        assert cluster.run(["scancel", job]).returncode == 0
        _wait(lambda: not _live_trainings(cluster, comment), 300, "the cancelled job to leave the queue")
        cancelled_at = newest_checkpoint(study)
        left = json.loads(lease_file.read_text())  # its holder was killed: the lease is still there
        assert left["slurm_job"] == job, left
        restarted = time.monotonic()
        assert smoke_study.slurm("--unlock").returncode == 0
        again = smoke_study.slurm(E1_TRAIN)
        seconds = time.monotonic() - restarted
    finally:
        if head.poll() is None:
            head.kill()
        smoke_study.settle()
    assert again.returncode == 0, again.stderr[-4000:] + cluster.logs()
    assert job_counts(again.stdout + again.stderr) == {"train": 1}
    train = study / E1_TRAIN
    assert sorted(p.name for p in (train / "checkpoints").iterdir()) == [f"{STEPS:06d}", "last"]
    assert (train / f"checkpoints/{STEPS:06d}/pretrained_model/model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (train / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, STEPS + 10, 10))  # every logged step once
    log = (study / E1_LOG).with_name("train.attempts.log").read_text()
    assert log.count("=== attempt started") == 2 and _resumes(study) == [cancelled_at], _resumes(study)
    ended = r"\(its job (is CANCELLED|has left the queue)\)"
    assert re.search(rf"took over \S*{E1_TRAIN}\.lease from Slurm job {job} .*{ended}", log), log[-3000:]
    assert not list(lease_file.parent.glob("train.lease*"))  # released; no claim or private file left
    print(
        f"head killed, Slurm job {job} cancelled at step {cancelled_at}: the same command took its lease "
        f"over and finished the run {seconds:.0f} s after the restart"
    )
