"""The CLI reports expected failures as one clear line (exit code 2), never a traceback."""

import subprocess
import sys

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
