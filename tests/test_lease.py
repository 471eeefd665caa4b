"""A lease on a resumable directory: one writer under any interleaving; a live holder stops the other job at
once (never a GPU held while waiting), an ended one is taken over, a holder releases only its own lease; a job
killed at any step of taking or ending a lease, or one process taking it twice, leaves nothing the next job
cannot take; a holder or a lease this job cannot judge (another user's job squeue hides, an unreadable file)
is never taken over."""

import getpass
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

import wmvla.lease.holder
from wmvla.lease import STEPS, LeaseError, lease, lease_path
from wmvla.lease.holder import Holder

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
    """An `squeue` that runs the shell `body` (it prints `STATE|user|job name|reason`, or fails)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    squeue = bin_dir / "squeue"
    squeue.write_text(f"#!/bin/sh\n{body}\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(wmvla.lease.holder, "SQUEUE_TRIES", (0.0, 0.0, 0.0))


SLURM_HOLDER = Holder("node1", 4321, "7", slurm_job="77", user="alice", slurm_name="run-3f2a")
MY_SLURM_HOLDER = replace(SLURM_HOLDER, user=getpass.getuser())


@pytest.mark.parametrize(
    ("listed", "outcome"),
    [
        ("RUNNING|alice|run-3f2a", "its job is RUNNING"),
        ("COMPLETING|alice|run-3f2a", "its job is COMPLETING"),  # still writing
        ("REQUEUE_HOLD|alice|run-3f2a", "held .*scontrol release 77"),  # resumes when released
        ("PENDING|alice|run-3f2a|job requeued in held state", "held \\(job requeued in held state\\)"),
        ("PENDING|alice|run-3f2a|BeginTime", "its job is PENDING"),  # requeued, to run again: alive
        ("NODE_FAIL|alice|run-3f2a", "whose state cannot be read \\(its job is NODE_FAIL"),  # may run on
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


def test_a_job_of_this_user_that_left_the_queue_is_taken_over(tmp_path, monkeypatch):
    path = lease_path(tmp_path / "run")
    _fake_squeue(tmp_path, monkeypatch, "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1")
    _write(path, MY_SLURM_HOLDER)
    with lease(path, "test run") as me:
        assert json.loads(path.read_text())["pid"] == me.pid


@pytest.mark.parametrize(
    "squeue",
    [
        "exit 0",  # PrivateData=jobs: another user's job is not listed
        "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1",  # or said to be no job
    ],
)
def test_another_users_job_squeue_does_not_show_is_unknown_never_taken_over(tmp_path, monkeypatch, squeue):
    """On a cluster that hides other users' jobs, not listed is no proof of an end: the contender stops at
    once naming the holder, how to check it (its owner or an administrator) and how to release it."""
    path = lease_path(tmp_path / "run")
    _fake_squeue(tmp_path, monkeypatch, squeue)
    monkeypatch.setattr(wmvla.lease.holder, "SQUEUE_TRIES", (0.0, 2.0, 8.0))  # as shipped
    _write(path, SLURM_HOLDER)
    before = path.read_text()
    started = time.monotonic()
    with pytest.raises(LeaseError) as error, lease(path, "test run"):
        pass
    seconds, message = time.monotonic() - started, str(error.value)
    print(f"\nhidden holder: stopped after {seconds:.2f} s: {message}")
    assert seconds < 30 and "\n" not in message
    assert "held by Slurm job 77 on node1 (user alice), whose state cannot be read" in message
    assert "may be hidden" in message and "ask alice or an administrator: squeue --jobs 77" in message
    assert f"remove {path}" in message
    assert path.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["bin", "run.lease"]


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
    assert len(calls.read_text().splitlines()) == len(wmvla.lease.holder.SQUEUE_TRIES) and path.exists()


def test_a_requeued_job_takes_over_its_own_earlier_incarnation(tmp_path, monkeypatch):
    path = lease_path(tmp_path / "run")
    _fake_squeue(tmp_path, monkeypatch, "exit 1")  # squeue would say nothing useful
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    _write(path, Holder("node1", 4321, "7", slurm_job="77", slurm_restart=1))
    with lease(path, "test run") as me:
        assert me.slurm_restart == 2


@pytest.mark.parametrize("claimed", [True, False], ids=["taker-claiming", "taker-done"])
def test_a_holder_whose_lease_was_taken_over_does_not_remove_the_takers(tmp_path, claimed):
    """Release only your own: a job judged dead (e.g. it hung) that ends after all leaves the new lease,
    whether the taker is still between its claim and its lease or has swept its claim away."""
    path = lease_path(tmp_path / "run")
    taker = replace(Holder.me(), pid=os.getppid(), started=None)  # a process that runs
    with lease(path, "test run") as me:
        if claimed:  # what a taker links first, then it replaces the lease
            _write(_claim(path), taker)
        _write(path, taker)
    assert Holder(**json.loads(path.read_text())) == taker and me != taker
    assert len(list(tmp_path.glob("run.lease.ended-*"))) == claimed  # its own claim, if any, removed


def _claim(path: Path, n: int = 1) -> Path:
    """The n-th claim to end the lease `path` as it is now."""
    return path.with_name(f"{path.name}.ended-{wmvla.lease._key(path.read_text())}.{n}")


def _left(root: Path) -> list[str]:
    """What is left beside the lease in `root`: the lease, its claims (.ended), private files (.new)."""
    return sorted(p.name.split(".lease", 1)[1].split("-", 1)[0] or "lease" for p in root.glob("*.lease*"))


TWICE = """
import sys
from pathlib import Path
from wmvla.lease import lease
for _ in range(2):  # as a latent-cache build interrupted and resumed in the same process
    with lease(Path(sys.argv[1]), "twice"):
        pass
"""


def test_one_process_taking_a_lease_twice_leaves_nothing_the_next_job_cannot_take(tmp_path):
    path = lease_path(tmp_path / "run")
    subprocess.run([sys.executable, "-c", TWICE, str(path)], check=True, timeout=60)
    print(f"\nleft after acquire, release, acquire, release: {_left(tmp_path)}")
    assert not path.exists() and sum(n == ".ended" for n in _left(tmp_path)) <= 1
    with lease(path, "next job") as me:
        assert Holder(**json.loads(path.read_text())) == me
    assert _left(tmp_path) == []


def test_a_link_reported_failed_after_it_succeeded_is_this_jobs_own(tmp_path, monkeypatch):
    """NFS may answer EEXIST to a link it made (a lost reply, the request retried): the lease and the claim
    are this job's if they hold its text (its nonce), both when it publishes and when it takes over."""
    real_link = os.link

    def retried_link(src, dst):
        real_link(src, dst)
        raise FileExistsError(17, "File exists", str(dst))

    monkeypatch.setattr(os, "link", retried_link)
    fresh, ended = lease_path(tmp_path / "fresh"), lease_path(tmp_path / "ended")
    _write(ended, replace(Holder.me(), pid=_ended_pid(), started="1"))
    for path in (fresh, ended):
        with lease(path, "test run") as me:
            assert Holder(**json.loads(path.read_text())) == me
        assert not path.exists()
    assert _left(tmp_path) == []


@pytest.mark.parametrize(
    "content",
    [
        *(b"", b"{", b'{"host": "n1", "pid": 1, "started": "1", "lease_v3": "x"}', b"\xff\xfe", b"[1, 2]"),
        *(b'{"host": "n1", "pid": null, "started": "1"}', b'{"host": "n1", "pid": -1, "started": "1"}'),
    ],
    ids=["empty", "cut", "another-version", "not-utf8", "not-an-object", "pid-null", "pid-a-group"],
)
def test_an_unreadable_lease_is_refused_in_one_line_never_taken_over(tmp_path, content):
    path = lease_path(tmp_path / "run")
    path.write_bytes(content)
    with pytest.raises(LeaseError) as error, lease(path, "test run"):
        pass
    message = str(error.value)
    assert f"{path} cannot be read as a lease" in message and "nothing is taken over" in message
    assert f"remove {path} and run the job again" in message and "\n" not in message
    assert path.read_bytes() == content and _left(tmp_path) == ["lease"]


def test_an_unreadable_claim_to_end_a_lease_is_refused_naming_it(tmp_path):
    path = lease_path(tmp_path / "run")
    _write(path, replace(Holder.me(), pid=_ended_pid(), started="1"))
    claim = _claim(path)
    claim.write_text("{")
    with pytest.raises(LeaseError, match=f"being ended by a job.*remove {claim} and run"), lease(path, "t"):
        pass
    assert claim.read_text() == "{"


def _ended_pid() -> int:
    """The PID of a process that has ended."""
    child = subprocess.run([sys.executable, "-c", "print(__import__('os').getpid())"], capture_output=True)
    return int(child.stdout)


KILLED = """
import os, signal, sys
from pathlib import Path
from wmvla.lease import lease

def step(name):
    if name == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

with lease(Path(sys.argv[1]), "killed job", step=step):
    pass
"""


def _killed_at(path: Path, step: str) -> None:
    """A job that takes and ends the lease `path`, SIGKILLed at `step` (it must get there)."""
    killed = subprocess.run([sys.executable, "-c", KILLED, str(path), step], timeout=60)
    assert killed.returncode == -signal.SIGKILL, f"the job never reached {step}"


def test_a_job_killed_at_any_step_of_taking_or_ending_a_lease_leaves_it_to_the_next_job(tmp_path, caplog):
    """For each step boundary (wmvla.lease.STEPS): a job killed there — taking an ended holder's lease for the
    `take:` steps, a free one otherwise — and then a new job takes the lease in one attempt, and leaves
    nothing behind once it releases it."""
    rows, failures = [], []
    for step in STEPS:
        root = tmp_path / step.replace(":", "_")
        root.mkdir()
        path = lease_path(root / "run")
        if step.startswith("take:"):
            _write(path, replace(Holder.me(), pid=_ended_pid(), started="1", nonce="ended"))
        _killed_at(path, step)
        left = _left(root)
        caplog.clear()
        try:
            with lease(path, "next job") as me:
                assert Holder(**json.loads(path.read_text())) == me
            how = "took it over" if "took over" in caplog.text else "took it"
            outcome = f"{how}; left after its release: {_left(root) or 'nothing'}"
            if _left(root):
                failures.append(step)
        except LeaseError as err:
            outcome, _ = f"REFUSED: {err}", failures.append(step)
        rows.append((step, ", ".join(left), outcome))
    rows.insert(0, ("killed at", "left by the killed job", "the next job, in one attempt"))
    width = [max(len(row[i]) for row in rows) for i in (0, 1)]
    print("", *(f"{step:{width[0]}}  {left:{width[1]}}  {outcome}" for step, left, outcome in rows), sep="\n")
    assert not failures, failures


def test_enders_killed_one_after_another_are_each_superseded(tmp_path):
    """Two takers killed in turn between claiming the end of an ended holder's lease and replacing it: the
    third takes it, and the claims are swept."""
    path = lease_path(tmp_path / "run")
    _write(path, replace(Holder.me(), pid=_ended_pid(), started="1", nonce="ended"))
    _killed_at(path, "take:claimed")
    _killed_at(path, "take:checked")
    assert len(list(tmp_path.glob("run.lease.ended-*.[12]"))) == 2
    with lease(path, "third job") as me:
        assert Holder(**json.loads(path.read_text())) == me and _left(tmp_path) == ["lease"]
    assert _left(tmp_path) == []


RACE = """
import os, random, sys, time
from pathlib import Path
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


@pytest.mark.parametrize("stale_claim", [False, True], ids=["ended-holder", "and-its-ender-killed"])
def test_takers_racing_for_an_ended_holders_lease_never_hold_it_together(tmp_path, monkeypatch, stale_claim):
    """Several jobs find the lease of a Slurm job that has left the queue (and, in the second case, the claim
    of a Slurm job that died ending it); each liveness check is slowed by up to 0.8 s (a busy controller) and
    they start, hold and release at random moments: in every trial, at most one holds the lease at any time,
    one of them does, and nothing is left once they are done."""
    _fake_squeue(
        tmp_path, monkeypatch, 'sleep "$(python3 -c "import random; print(random.uniform(0, 0.8))")"'
    )
    for trial in range(TRIALS if not stale_claim else TRIALS // 3):
        root = tmp_path / f"trial{trial}"
        root.mkdir()
        path, log = lease_path(root / "run"), root / "log"
        _write(path, MY_SLURM_HOLDER)
        if stale_claim:
            _write(_claim(path), replace(MY_SLURM_HOLDER, slurm_job="78"))
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
        assert sum(kind == "in" for _, kind in events) >= 1 and _left(root) == [], (trial, _left(root))
