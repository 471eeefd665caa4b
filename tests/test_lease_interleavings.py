"""The lease under the interleavings and faults its argument (wmvla.lease) is about, each fixed by events
rather than timing: two acquisitions of one process overlapping (the nonce), a sweep that lags while others
take and end the lease (its two rules), an ender that lives but does not finish, files this job may not
read, a release that fails as the job ends, and private files left by a job on another node."""

import errno
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

import wmvla.lease
from wmvla.lease import LeaseError, Step, lease, lease_path
from wmvla.lease.holder import Holder

from .test_lease import MY_SLURM_HOLDER, _claim, _ended_pid, _fake_squeue, _left, _write

WAIT_S = 60  # a bound on every wait for an event: reached only if the code under test is broken


def _dead_holder(nonce: str) -> Holder:
    """A holder on this host whose process has ended."""
    return replace(Holder.me(), pid=_ended_pid(), started="1", nonce=nonce)


def _pause(at: str, reached: threading.Event, go: threading.Event, after: str | None = None) -> Step:
    """A step hook that, at step `at` (the first time after step `after`), says so and waits for `go`."""
    armed = [after is None]

    def step(name: str) -> None:
        if name == after:
            armed[0] = True
        elif armed[0] and name == at and not reached.is_set():
            reached.set()
            assert go.wait(WAIT_S), f"never let go at {at}"

    return step


def test_two_threads_of_one_process_never_hold_a_lease_together(tmp_path):
    """Each acquisition is a lease of its own (a nonce): while one thread holds the lease, another thread of
    the same process stops, told it is this very process. Without the nonce both acquisitions would write
    one text, and the second would find 'its own' lease in place and hold it too."""
    path = lease_path(tmp_path / "run")
    held, done = threading.Event(), threading.Event()

    def first() -> None:
        with lease(path, "first thread"):
            held.set()
            done.wait(WAIT_S)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert held.wait(WAIT_S)
        with pytest.raises(LeaseError) as error, lease(path, "second thread"):
            pass
    finally:
        done.set()
        thread.join(WAIT_S)
    message = str(error.value)
    print(f"\nsecond thread: {message}")
    assert f"held by this very process (pid {os.getpid()})" in message and "another thread" in message
    assert "ps -p" not in message and "\n" not in message
    assert _left(tmp_path) == []


class _Holders:
    """How many parties hold the lease at once, at most."""

    def __init__(self) -> None:
        self.now, self.most, self.lock = 0, 0, threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


@pytest.mark.parametrize("lag_at", ["end:removed", "sweep:listed", "sweep:read"])
def test_a_lagging_sweep_never_frees_a_claim_in_use(tmp_path, monkeypatch, lag_at):
    """S releases the lease and its sweep lags at `lag_at` (descheduled; a slow NFS listing). Meanwhile N
    publishes a lease and dies holding it, and Y, taking it over, claims its end and checks it, not yet
    replacing it. S's sweep goes on; then Z comes for the lease and must stop at Y's claim, naming Y. A sweep
    that read the lease before listing, or removed claims of the lease in place, would free Y's claim: Z
    would claim the same end and hold the lease with Y."""
    monkeypatch.setattr(wmvla.lease, "PAUSE_S", 0.001)  # Z's rounds: no time for Y to go on
    path, holders = lease_path(tmp_path / "run"), _Holders()
    s_lags, s_go, y_checked, y_go, y_in = (threading.Event() for _ in range(5))

    def s() -> None:
        with lease(path, "S", step=_pause(lag_at, s_lags, s_go, after="held")):
            pass

    def y() -> None:
        with lease(path, "Y", step=_pause("take:checked", y_checked, y_go)):
            holders.enter()
            y_in.set()
            holders.leave()

    threads = [threading.Thread(target=s), threading.Thread(target=y)]
    threads[0].start()
    assert s_lags.wait(WAIT_S)
    _write(path, _dead_holder("N"))  # N published, and was killed holding it
    threads[1].start()
    assert y_checked.wait(WAIT_S)
    s_go.set()
    threads[0].join(WAIT_S)
    refusal = None
    try:
        with lease(path, "Z"):
            holders.enter()
            y_go.set()
            y_in.wait(5)  # Y takes the lease it checked
            holders.leave()
    except LeaseError as err:
        refusal = str(err)
    finally:
        y_go.set()
        threads[1].join(WAIT_S)
    print(f"\nZ, S's sweep lagging at {lag_at}: {refusal}")
    assert holders.most == 1, "Y and Z held the lease together"
    assert refusal and f"being ended by process {os.getpid()}" in refusal and y_in.is_set()
    assert _left(tmp_path) == []


STALLED = """
import sys
from pathlib import Path
from wmvla.lease import lease

def step(name):
    if name == "take:claimed":
        print("claimed", flush=True)
        sys.stdin.read()  # stalls until the test closes its stdin

with lease(Path(sys.argv[1]), "stalled taker", step=step):
    pass
"""


def test_an_ender_that_lives_but_does_not_finish_is_named(tmp_path, monkeypatch):
    """A taker that claimed the end of a dead holder's lease and stalls there (hung on NFS, stopped, a Slurm
    job whose process hangs): the next job stops naming it, its state and how to check it — not a lease
    'changing hands' that names nobody."""
    monkeypatch.setattr(wmvla.lease, "PAUSE_S", 0.001)
    path = lease_path(tmp_path / "run")
    _write(path, _dead_holder("ended"))
    taker = subprocess.Popen(
        [sys.executable, "-c", STALLED, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert taker.stdout.readline() == "claimed\n"
        with pytest.raises(LeaseError) as error, lease(path, "next job"):
            pass
    finally:
        taker.stdin.close()
        assert taker.wait(WAIT_S) == 0  # then it takes the lease over and releases it
    message, me = str(error.value), Holder.me()
    print(f"\nnext job: {message}")
    assert f"being ended by process {taker.pid} on {me.host}" in message and "its process runs" in message
    assert f"Check: ps -p {taker.pid} on {me.host}" in message and "\n" not in message
    assert _left(tmp_path) == []


def test_a_claim_this_job_may_not_read_is_refused_in_one_line(tmp_path, monkeypatch):
    """Another user's claim written with umask 077 (reading it raises PermissionError, as for any reader but
    root): the job stops in one line naming the claim, never a traceback, and takes nothing over."""
    path = lease_path(tmp_path / "run")
    _write(path, _dead_holder("ended"))
    claim = _claim(path)
    _write(claim, replace(_dead_holder("ender"), user="alice"))
    read_bytes = Path.read_bytes

    def refused(file: Path) -> bytes:
        if file.name.startswith("run.lease.ended-"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return read_bytes(file)

    monkeypatch.setattr(Path, "read_bytes", refused)
    with pytest.raises(LeaseError) as error, lease(path, "test run"):
        pass
    message = str(error.value)
    assert (
        f"being ended by a job, whose state cannot be read ({claim.name} cannot be read: Permission"
        in message
    )
    assert f"remove {claim} and run the job again" in message and "\n" not in message
    assert _left(tmp_path) == [".ended", "lease"]


def test_an_unlink_reported_failed_after_it_succeeded_ends_the_release_all_the_same(tmp_path, monkeypatch):
    """NFS may answer ENOENT to an unlink it made (a lost reply, the request retried). Releasing runs as the
    job ends: the job's own exception comes out, and the lease, gone, is swept as any other."""
    path = lease_path(tmp_path / "run")
    real_unlink = os.unlink

    def retried_unlink(file, *args, **kwargs):
        real_unlink(file, *args, **kwargs)
        if Path(file) == path:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(file))

    monkeypatch.setattr(os, "unlink", retried_unlink)
    with pytest.raises(ValueError, match="the job's own"), lease(path, "test run"):
        raise ValueError("the job's own")
    assert _left(tmp_path) == []


def test_a_release_that_fails_is_logged_and_never_hides_the_jobs_own_outcome(tmp_path, monkeypatch, caplog):
    """A quota refusing the claim that ends the lease: the job's own exception comes out; the log says the
    lease is left naming this job and who takes it over. Asked again, this very process is told it is it."""
    path = lease_path(tmp_path / "run")
    real_write, holding = Path.write_text, threading.Event()

    def over_quota(file: Path, *args, **kwargs):
        if not holding.is_set():
            return real_write(file, *args, **kwargs)
        file.touch()  # created, then refused its bytes
        raise OSError(errno.EDQUOT, "Disk quota exceeded", str(file))

    def step(name: str) -> None:
        if name == "held":
            holding.set()

    monkeypatch.setattr(Path, "write_text", over_quota)
    with pytest.raises(ValueError, match="the job's own"), lease(path, "test run", step=step):
        raise ValueError("the job's own")
    assert f"{path} not released" in caplog.text and "Disk quota exceeded" in caplog.text
    assert "the next job takes it over once this one has ended" in caplog.text
    holding.clear()
    with pytest.raises(LeaseError) as error, lease(path, "again"):
        pass
    assert f"held by this very process (pid {os.getpid()})" in str(error.value)


@pytest.mark.parametrize(
    ("squeue", "kept"),
    [
        ("echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1", False),
        (f"echo 'RUNNING|{MY_SLURM_HOLDER.user}|run-3f2a'", True),
    ],
    ids=["its-job-left-the-queue", "its-job-runs"],
)
def test_a_private_file_of_a_job_on_another_node_is_judged_as_a_holder(tmp_path, monkeypatch, squeue, kept):
    """A job killed on node1 between writing a private file and linking it leaves `.new-…@node1`; the next
    job, here, judges its writer from the text it holds as it judges a holder: swept once its Slurm job has
    left the queue, kept while it runs (its link would fail were it removed)."""
    _fake_squeue(tmp_path, monkeypatch, squeue)
    path = lease_path(tmp_path / "run")
    private = path.with_name(f"{path.name}.new-4321-7-0123456789ab@node1")
    _write(private, MY_SLURM_HOLDER)
    with lease(path, "next job"):
        pass
    assert private.exists() == kept and not path.exists()
