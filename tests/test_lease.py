"""A lease on a resumable directory: one writer under any interleaving; a live holder stops the other job at
once (never a GPU held while waiting), an ended one is taken over, a holder releases only its own lease."""

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

import wmvla.lease
from wmvla.lease import Holder, LeaseError, lease, lease_path

HOLD = """
import sys, time
from pathlib import Path
from wmvla.lease import lease
with lease(Path(sys.argv[1]), "test run"):
    Path(sys.argv[2]).write_text("holding")
    time.sleep(float(sys.argv[3]))
"""


def _wait_for(path: Path, text: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (path.is_file() and path.read_text() == text):
        assert time.monotonic() < deadline, f"{path} never said {text!r}"
        time.sleep(0.05)


def _write(path: Path, holder: Holder) -> None:
    path.write_text(json.dumps(asdict(holder), sort_keys=True))


def test_the_lease_sits_beside_what_it_guards():
    assert lease_path(Path("r/E1/seed0/train")) == Path("r/E1/seed0/train.lease")
    assert lease_path(Path("r/eval/pred.json")) == Path("r/eval/pred.json.lease")


def test_a_second_writer_stops_at_once_while_the_first_lives_and_holds_once_it_ended(tmp_path):
    path, state = lease_path(tmp_path / "run"), tmp_path / "state"
    first = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(state), "30"])
    try:
        _wait_for(state, "holding")
        holder = Holder(**json.loads(path.read_text()))
        assert holder.pid == first.pid and holder.slurm_job is None and holder.user
        started = time.monotonic()
        with (
            pytest.raises(
                LeaseError, match=rf"held by process {first.pid} .*its process runs.*ps -p {first.pid}"
            ),
            lease(path, "test run"),
        ):
            pass
        assert time.monotonic() - started < 5  # no waiting
    finally:
        first.kill()
        first.wait(timeout=60)
    with lease(path, "test run") as me:  # the holder was killed: its lease is taken over
        assert Holder(**json.loads(path.read_text())) == me
    assert not path.exists()  # released


def test_a_lease_whose_holder_has_ended_is_taken_over_at_once(tmp_path, caplog):
    path = lease_path(tmp_path / "run")
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    me = Holder.me()
    _write(path, Holder(me.host, int(ended.stdout), "1"))  # its process has gone (and its start time differs)
    with lease(path, "test run"):
        pass
    assert "took over" in caplog.text and "its process has ended" in caplog.text and not path.exists()


def test_a_reused_pid_is_not_taken_for_the_holder(tmp_path):
    path = lease_path(tmp_path / "run")
    me = Holder.me()
    _write(path, Holder(me.host, os.getppid(), "not-its-start-time"))  # that PID runs, but another process
    with lease(path, "test run"):
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_a_holder_on_another_host_is_not_guessed_at(tmp_path):
    path = lease_path(tmp_path / "run")
    _write(path, Holder("elsewhere", 1234, "99"))
    with (
        pytest.raises(LeaseError, match=f"held by process 1234 on elsewhere.*remove {path}"),
        lease(path, "test run"),
    ):
        pass
    assert path.exists()  # left for whoever can tell


def _fake_squeue(tmp_path: Path, monkeypatch, body: str) -> None:
    """An `squeue` that runs the shell `body` (it prints `STATE|user|submit time`, or fails)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    squeue = bin_dir / "squeue"
    squeue.write_text(f"#!/bin/sh\n{body}\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(wmvla.lease, "SQUEUE_TRIES", (0.0, 0.0, 0.0))


SLURM_HOLDER = Holder("node1", 4321, "7", slurm_job="77", user="alice", slurm_name="run-3f2a")


@pytest.mark.parametrize(
    ("listed", "outcome"),
    [
        ("RUNNING|alice|run-3f2a", "its job is RUNNING"),
        ("COMPLETING|alice|run-3f2a", "its job is COMPLETING"),  # still writing
        ("REQUEUE_HOLD|alice|run-3f2a", "held .*scontrol release 77"),  # resumes when released
        ("PENDING|alice|run-3f2a|job requeued in held state", "held \\(job requeued in held state\\)"),
        ("PENDING|alice|run-3f2a|BeginTime", "its job is PENDING"),  # requeued, to run again: alive
        ("", None),  # left the queue
        ("CANCELLED|alice|run-3f2a", None),
        ("RUNNING|bob|run-9c1d", None),  # job id 77 given to another job (ids wrapped): not the holder
    ],
)
def test_a_slurm_holder_stops_the_job_while_listed_alive_and_is_taken_over_once_ended(
    tmp_path, monkeypatch, listed, outcome
):
    path = lease_path(tmp_path / "run")
    _fake_squeue(tmp_path, monkeypatch, f"echo '{listed}'")
    _write(path, SLURM_HOLDER)
    if outcome is None:
        with lease(path, "test run") as me:
            assert json.loads(path.read_text())["pid"] == me.pid
        return
    with (
        pytest.raises(
            LeaseError, match=f"held by Slurm job 77 on node1 \\(user alice\\).*{outcome}"
        ) as error,
        lease(path, "test run"),
    ):
        pass
    assert "squeue --jobs 77" in str(error.value) and "\n" not in str(error.value)


def test_squeue_failing_is_retried_then_the_job_stops_without_guessing(tmp_path, monkeypatch):
    path = lease_path(tmp_path / "run")
    calls = tmp_path / "calls"
    _fake_squeue(
        tmp_path, monkeypatch, f"echo call >> {calls}; echo 'slurm_load_jobs error: timeout' >&2; exit 1"
    )
    _write(path, SLURM_HOLDER)
    with (
        pytest.raises(LeaseError, match=r"whose state cannot be read .*squeue cannot be asked"),
        lease(path, "test run"),
    ):
        pass
    assert len(calls.read_text().splitlines()) == len(wmvla.lease.SQUEUE_TRIES) and path.exists()


def test_a_requeued_job_takes_over_its_own_earlier_incarnation(tmp_path, monkeypatch):
    path = lease_path(tmp_path / "run")
    _fake_squeue(tmp_path, monkeypatch, "exit 1")  # squeue would say nothing useful
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    _write(path, Holder("node1", 4321, "7", slurm_job="77", slurm_restart=1))
    with lease(path, "test run") as me:
        assert me.slurm_restart == 2


def test_a_holder_whose_lease_was_taken_over_does_not_remove_the_takers(tmp_path):
    """Release only your own: a job judged dead (e.g. it hung) that ends after all leaves the new lease."""
    path = lease_path(tmp_path / "run")
    with lease(path, "test run") as me:
        taker = Holder("node9", 1, "1", slurm_job="99")
        text = path.read_text()
        tombstone = path.with_name(f"{path.name}.ended-{wmvla.lease._key(text)}")
        tombstone.touch()  # what a taker creates first, then it replaces the lease
        _write(path, taker)
    assert Holder(**json.loads(path.read_text())) == taker and me != taker


RACE = """
import os, random, sys, time
from pathlib import Path
import wmvla.lease
from wmvla.lease import LeaseError, lease
path, log, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
time.sleep(random.uniform(0, 0.3))
try:
    with lease(path, "race"):
        with open(log, "a") as f:
            f.write(f"in {time.monotonic_ns()} {os.getpid()}\\n")
        time.sleep(random.uniform(0.0, 0.2))
        with open(log, "a") as f:
            f.write(f"out {time.monotonic_ns()} {os.getpid()}\\n")
except LeaseError:
    with open(log, "a") as f:
        f.write(f"refused {time.monotonic_ns()} {os.getpid()}\\n")
"""
TRIALS, TAKERS = 15, 4


def test_takers_racing_for_an_ended_holders_lease_never_hold_it_together(tmp_path, monkeypatch):
    """Several jobs find the lease of a Slurm job that has left the queue; each liveness check is slowed by up
    to 0.8 s (a busy controller) and they start, hold and release at random moments: in every trial, at most
    one holds the lease at any time, and one of them does."""
    _fake_squeue(
        tmp_path, monkeypatch, 'sleep "$(python3 -c "import random; print(random.uniform(0, 0.8))")"'
    )
    for trial in range(TRIALS):
        root = tmp_path / f"trial{trial}"
        root.mkdir()
        path, log = lease_path(root / "run"), root / "log"
        _write(path, SLURM_HOLDER)
        start = time.time() + 0.5
        takers = [
            subprocess.Popen([sys.executable, "-c", RACE, str(path), str(log), str(start)])
            for _ in range(TAKERS)
        ]
        for taker in takers:
            assert taker.wait(timeout=120) == 0
        events = sorted(
            (int(t), kind) for kind, t, _ in (line.split() for line in log.read_text().splitlines())
        )
        holding, most = 0, 0
        for _, kind in events:
            holding += {"in": 1, "out": -1}.get(kind, 0)
            most = max(most, holding)
        assert most == 1, (trial, log.read_text())
        assert sum(kind == "in" for _, kind in events) >= 1 and not path.exists()
