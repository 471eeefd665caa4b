"""The CLI reports expected failures as one clear line (exit code 2), never a traceback."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _wmvla(*args, env_extra=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "wmvla.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_locking_or_fetching_without_the_hub_is_a_clear_error(repo, tmp_path):
    """The two commands that need the network (real huggingface_hub calls) fail in one line without it."""
    import json

    lock = _wmvla("hub", "lock", str(repo / "config/config.yaml"), "--lock", str(tmp_path / "lock.yaml"))
    assert lock.returncode == 2 and "cannot resolve dataset HuggingFaceVLA/libero@main" in lock.stderr
    assert "Traceback" not in lock.stderr and not (tmp_path / "lock.yaml").exists()
    entry = {"key": "policy.init", "repo_id": "HuggingFaceVLA/smolvla_libero", "repo_type": "model"}
    entry |= {"revision": "main", "files": ["*.json"], "sha": "0" * 40}
    for offline in ("0", "1"):
        fetch = _wmvla(
            "hub", "fetch", "--entry", json.dumps(entry), "--cache", str(tmp_path / "hub"),
            "--out", str(tmp_path / "m.json"), env_extra={"HF_HUB_OFFLINE": offline},
        )  # fmt: skip
        assert (
            fetch.returncode == 2
            and "cannot fetch policy.init HuggingFaceVLA/smolvla_libero@0000" in fetch.stderr
        )
        assert "Traceback" not in fetch.stderr and not (tmp_path / "m.json").exists()


def test_check_of_a_non_dataset_is_a_clear_error(tmp_path):
    out = _wmvla("data", "check", str(tmp_path))
    assert out.returncode == 2 and "is not a LeRobot dataset" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("bad", ["{not json", "[1,"])
def test_provenance_rejects_bad_json(tmp_path, bad):
    out = _wmvla("provenance", str(tmp_path), "--config", bad, "--started-at", "2026-01-01T00:00:00+00:00")
    assert out.returncode == 2 and "--config is not JSON" in out.stderr


def test_provenance_records_commit_config_and_packages(tmp_path):
    import json

    out = _wmvla(
        "provenance", str(tmp_path), "--config", '{"exp": "E0"}', "--started-at", "2026-01-01T00:00:00+00:00"
    )
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert record["config"] == {"exp": "E0"} and len(record["config_hash"]) == 16
    assert record["packages"]["lerobot"] == "0.6.1" and record["packages"]["torch"]
    assert {"git_commit", "git_dirty", "device", "started_at", "finished_at"} <= set(record)


def test_impossible_recording_spec_is_a_clear_error(tmp_path):
    out = _wmvla("data", "record-smoke", "--steps", "0", "--out", str(tmp_path / "d"))
    assert out.returncode == 2 and "steps_per_episode must be positive" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "d").exists()


def _job(log: Path, *command: str, hub: list[str] = ()) -> subprocess.Popen:
    argv = [sys.executable, "-m", "wmvla.cli", "job", "--log", str(log), "--hub", *hub, "--gpus", "0", "--"]
    return subprocess.Popen([*argv, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_every_attempt_of_a_job_is_kept_under_a_header(tmp_path):
    log = tmp_path / "logs" / "train.log"
    first = _job(log, "sh", "-c", "echo first attempt; exit 3")
    assert first.wait(timeout=120) == 3  # the command's status is the job's
    log.unlink()  # what Snakemake does to a job's log before its next attempt
    second = _job(log, "sh", "-c", "echo second attempt")
    assert second.wait(timeout=120) == 0
    assert "second attempt" in log.read_text() and "first attempt" not in log.read_text()
    text = (tmp_path / "logs" / "train.attempts.log").read_text()
    assert text.count("=== attempt started") == 2 and "first attempt" in text and "second attempt" in text
    assert text.index("first attempt") < text.index("exit status 3") < text.index("second attempt")
    assert text.rstrip().splitlines()[-1].startswith("=== attempt ended") and "exit status 0" in text


def test_a_job_whose_hub_inputs_are_missing_runs_nothing_and_says_why(tmp_path):
    manifest = tmp_path / "policy.vlm.json"
    snapshot = tmp_path / "snapshot"
    files = [{"path": "config.json", "bytes": 10}]
    manifest.write_text(
        json.dumps(
            {
                "key": "policy.vlm",
                "repo_id": "a/b",
                "sha": "f" * 40,
                "snapshot": str(snapshot),
                "files": files,
            }
        )
    )
    job = _job(tmp_path / "job.log", "touch", str(tmp_path / "ran"), hub=[str(manifest)])
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 2 and not (tmp_path / "ran").exists()
    assert "config.json is missing in the offline cache" in stderr
    assert "error: policy.vlm (a/b@ffffffffffff)" in (tmp_path / "job.log").read_text()


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_job_passes_the_schedulers_signal_to_its_command(tmp_path):
    """Slurm signals a cancelled or timed-out job; the command itself must see it (and may clean up)."""
    log = tmp_path / "job.log"
    job = _job(log, "sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done")
    deadline = time.monotonic() + 60
    # the line the command prints, not the attempt header (which quotes the command, `echo ready` included)
    while "ready" not in _lines(log) and time.monotonic() < deadline:
        time.sleep(0.1)
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=60) == 7
    assert "got TERM" in log.read_text() and "exit status 7" in log.read_text()
    assert log.with_name("job.attempts.log").read_text() == log.read_text()
