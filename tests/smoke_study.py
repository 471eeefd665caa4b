"""The smoke study every end-to-end test reads: built once per test session, as Slurm jobs through the
project's mi300x profile on the test's own one-node Slurm (tests/slurm_cluster.py).

Why one study: the smoke DAG is the suite's most expensive work. Built once, it carries the assertions of a
local run (same jobs, same outputs), the Slurm run's and the gates'; tests that retrain one of its runs put it
back (`settle`) so that the next test finds the study complete and up to date."""

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .plans import copy_workflow
from .slurm_cluster import SlurmCluster

E1_TRAIN = "results/smoke/libero_spatial/E1/seed0/train"  # the run the fault tests retrain (world branch)
E1_LOG = "logs/smoke/libero_spatial/E1/seed0/train.log"
STEPS, SAVE_FREQ, LOG_FREQ = 200, 50, 10  # config/smoke.yaml
SLURM_JOB_FORMAT = "--format=%i|%j|%T|%P|%b"  # id, name, state, partition, GRES


def newest_checkpoint(study: Path) -> int:
    """The step of the newest complete checkpoint of E1's unfinished run (0: none yet)."""
    last = study / f"{E1_TRAIN}.partial/run/checkpoints/last"
    try:
        return json.loads((last.resolve() / "training_state/training_step.json").read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


@dataclass
class SmokeStudy:
    root: Path  # a git checkout of the workflow files, DVC initialised as shipped (a researcher's clone)
    repo: Path
    snakemake_bin: str
    cluster: SlurmCluster
    built: subprocess.CompletedProcess | None = None  # the run through the mi300x profile that built it
    seconds: float = 0.0  # from its start to its end (other tests ran meanwhile)
    queue_after_build: str = ""  # squeue right after the build: Slurm forgets ended jobs after MinJobAge
    home: Path | None = (
        None  # the HOME the build ran with: empty before, and nothing of the study's in it after
    )
    plans_after_build: dict[str, subprocess.CompletedProcess] | None = None  # dry runs before any test ran

    def slurm_cmd(self, *args: str) -> list[str]:
        """`snakemake` through the mi300x profile as shipped, with the smoke config; the first status check
        5 s after a submission instead of 40 (the executor's cadence; Slurm itself is untouched)."""
        profile = ["--profile", str(self.repo / "profiles/mi300x"), "--configfile", "config/smoke.yaml"]
        return [self.snakemake_bin, *profile, "--slurm-init-seconds-before-status-checks=5", *args]

    def slurm(self, *args: str, timeout: int = 3000) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.slurm_cmd(*args), cwd=self.root, env=self.cluster.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def local(self, *args: str, cwd: Path | None = None, timeout: int = 1800) -> subprocess.CompletedProcess:
        """`snakemake --cores 2 …` on this machine, as `make smoke` runs the study."""
        return subprocess.run(
            [self.snakemake_bin, "--cores", "2", *args], cwd=cwd or self.root, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def settle(self) -> None:
        """Put the study back as built: E1's training if a test left it unfinished (retrained locally, same
        settings), then every output touched in DAG order, so a dry run plans nothing."""
        subprocess.run([self.snakemake_bin, "--unlock"], cwd=self.root, capture_output=True, check=True)
        if not (self.root / E1_TRAIN).is_dir():
            shutil.rmtree(self.root / f"{E1_TRAIN}.partial", ignore_errors=True)
            rebuilt = self.local("--rerun-incomplete", E1_TRAIN)
            assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
        touched = self.local("--touch")
        assert touched.returncode == 0, touched.stderr[-3000:]


class StudyBuild:
    """The whole smoke DAG as Slurm jobs (every job but the local rules), in a fresh git checkout, building
    in the background: the test session runs the tests that do not read the study meanwhile (conftest.py)."""

    def __init__(self, repo: Path, snakemake_bin: str, cluster: SlurmCluster, root: Path) -> None:
        copy_workflow(repo, root)
        (root / ".gitignore").write_text("/results\n/logs\n/.snakemake\n")
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "study")
        home = root.parent / f"{root.name}.home"
        home.mkdir()
        self.study = SmokeStudy(root, repo, snakemake_bin, cluster, home=home)
        self.output = root.parent / f"{root.name}.build.log"  # files: a pipe nobody reads fills and stalls
        self.errors = root.parent / f"{root.name}.build.err"
        with self.output.open("w") as out, self.errors.open("w") as err:
            self.process = subprocess.Popen(
                self.study.slurm_cmd(), cwd=root, env={**cluster.env, "HOME": str(home)}, stdout=out,
                stderr=err, text=True,
            )  # fmt: skip
        self.started = time.monotonic()
        self.ended = threading.Thread(target=self._end, daemon=True)  # notes the queue as the build ends
        self.ended.start()

    def _end(self) -> None:
        returncode = self.process.wait()
        self.study.seconds = time.monotonic() - self.started
        self.study.queue_after_build = self.study.cluster.run(
            ["squeue", "--states=all", "--noheader", SLURM_JOB_FORMAT]
        ).stdout
        if returncode == 0:  # before any test can touch the study: what `make smoke` would find left to do
            self.study.plans_after_build = {
                "make smoke": self.study.local(
                    "--configfile", "config/smoke.yaml", "--rerun-incomplete", "-n"
                ),
                "local profile": self.study.local("--profile", str(self.study.repo / "profiles/local"), "-n"),
            }
        self.study.built = subprocess.CompletedProcess(
            self.process.args, returncode, self.output.read_text(), self.errors.read_text()
        )

    def wait(self, timeout: float = 3000) -> SmokeStudy:
        """The study once built (the first call waits for it; it must have succeeded)."""
        self.ended.join(timeout=max(1.0, self.started + timeout - time.monotonic()))
        built = self.study.built
        assert built is not None, f"the smoke study was not built within {timeout} s"
        assert built.returncode == 0, built.stderr[-4000:] + self.study.cluster.logs()
        return self.study

    def stop(self) -> None:
        """An unfinished build ends with the session: Snakemake cancels its Slurm jobs on SIGTERM."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.ended.join(timeout=60)
