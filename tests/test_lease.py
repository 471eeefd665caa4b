"""A lease on a resumable directory: a second writer waits while the first lives; a dead holder's is taken."""

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from wmvla.lease import Holder, LeaseError, lease, lease_path

HOLD = """
import sys, time
from pathlib import Path
from wmvla.lease import lease
with lease(Path(sys.argv[1]), "test run"):
    Path(sys.argv[2]).write_text("holding")
    time.sleep(float(sys.argv[3]))
    Path(sys.argv[2]).write_text("done")
"""


def _wait_for(path: Path, text: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (path.is_file() and path.read_text() == text):
        assert time.monotonic() < deadline, f"{path} never said {text!r}"
        time.sleep(0.05)


def _write(path: Path, holder: Holder) -> None:
    path.write_text(json.dumps(asdict(holder)))


def test_the_lease_sits_beside_what_it_guards():
    assert lease_path(Path("r/E1/seed0/train")) == Path("r/E1/seed0/train.lease")
    assert lease_path(Path("r/eval/pred.json")) == Path("r/eval/pred.json.lease")


def test_a_second_writer_waits_while_the_first_lives_and_then_holds_the_lease(tmp_path):
    path, state = lease_path(tmp_path / "run"), tmp_path / "state"
    first = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(state), "1.5"])
    try:
        _wait_for(state, "holding")
        holder = Holder(**json.loads(path.read_text()))
        assert holder.pid == first.pid and holder.slurm_job is None
        with lease(path, "test run", poll_s=0.05) as held:
            assert state.read_text() == "done"  # never while the first one wrote
            assert held.waited_s > 0.5 and held.holder.pid == os.getpid()
            assert Holder(**json.loads(path.read_text())) == held.holder
    finally:
        first.wait(timeout=60)
    assert not path.exists()  # released


def test_a_lease_whose_holder_has_ended_is_taken_over_at_once(tmp_path, caplog):
    path = lease_path(tmp_path / "run")
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    me = Holder.me()
    _write(path, Holder(me.host, int(ended.stdout), "1"))  # its process has gone (and its start time differs)
    with lease(path, "test run", poll_s=60) as held:
        assert held.waited_s == 0
    assert "taking over the lease" in caplog.text and not path.exists()


def test_a_reused_pid_is_not_taken_for_the_holder(tmp_path):
    path = lease_path(tmp_path / "run")
    me = Holder.me()
    _write(path, Holder(me.host, os.getppid(), "not-its-start-time"))  # that PID runs, but another process
    with lease(path, "test run", poll_s=60) as held:
        assert held.waited_s == 0


def test_a_holder_on_another_host_is_not_guessed_at(tmp_path):
    path = lease_path(tmp_path / "run")
    _write(path, Holder("elsewhere", 1234, "99"))
    with (
        pytest.raises(LeaseError, match=f"held by process 1234 on elsewhere.*remove {path}"),
        lease(path, "test run"),
    ):
        pass
    assert path.exists()  # left for whoever can tell


def _fake_squeue(tmp_path: Path, monkeypatch, state_file: Path) -> None:
    """An `squeue --jobs=<id> --format=%T` that prints the job's state from a file ('' once it left)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"
    squeue.write_text(f"#!/bin/sh\ncat {state_file} 2>/dev/null\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_a_slurm_holder_is_waited_for_while_squeue_lists_it_running(tmp_path, monkeypatch):
    path, state = lease_path(tmp_path / "run"), tmp_path / "job_state"
    state.write_text("RUNNING\n")
    _fake_squeue(tmp_path, monkeypatch, state)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    _write(path, Holder("node1", 4321, "7", slurm_job="77"))
    subprocess.Popen(["sh", "-c", f"sleep 1; printf 'COMPLETING\\n' > {state}; sleep 1; : > {state}"])
    with lease(path, "test run", poll_s=0.1) as held:
        assert held.waited_s > 1.5  # RUNNING, then COMPLETING (still writing), then gone


def test_a_requeued_job_takes_over_its_own_earlier_incarnation(tmp_path, monkeypatch):
    path = lease_path(tmp_path / "run")
    _fake_squeue(tmp_path, monkeypatch, tmp_path / "never")  # squeue would say nothing useful
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    _write(path, Holder("node1", 4321, "7", slurm_job="77", slurm_restart=1))
    with lease(path, "test run", poll_s=60) as held:
        assert held.waited_s == 0 and held.holder.slurm_restart == 2


def test_a_slurm_holder_whose_state_cannot_be_read_stops_the_job(tmp_path, monkeypatch):
    path = lease_path(tmp_path / "run")
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue at all
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    _write(path, Holder("node1", 4321, "7", slurm_job="77"))
    with pytest.raises(LeaseError, match="Slurm job 77 on node1"), lease(path, "test run"):
        pass
