"""One visible GPU per job: Slurm's mask kept alone, free slots shared on a multi-GPU node."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wmvla.cluster.gpu_run import GpuSlotError, gpu_slot, job_environment, single_mask


def test_slurm_allocation_stays_the_only_mask():
    env = {"ROCR_VISIBLE_DEVICES": "3", "HIP_VISIBLE_DEVICES": "3", "CUDA_VISIBLE_DEVICES": "0"}
    single_mask(env)
    assert env == {"ROCR_VISIBLE_DEVICES": "3"}
    env = {"SLURM_JOB_ID": "7", "ROCR_VISIBLE_DEVICES": "1", "HIP_VISIBLE_DEVICES": "1"}
    assert job_environment(1, env) is None and env == {"SLURM_JOB_ID": "7", "ROCR_VISIBLE_DEVICES": "1"}
    assert job_environment(0, {"HIP_VISIBLE_DEVICES": "1"}) is None  # CPU jobs: untouched
    assert job_environment(1, {"WMVLA_NODE_GPUS": "8"}) == 8
    with pytest.raises(GpuSlotError, match="one GPU each"):
        job_environment(2, {})


def test_slots_are_exclusive_until_released(tmp_path):
    with gpu_slot(2, tmp_path) as first, gpu_slot(2, tmp_path) as second:
        assert {first, second} == {0, 1}
        with pytest.raises(GpuSlotError, match="all 2 GPU slots"), gpu_slot(2, tmp_path):
            pass
    with gpu_slot(2, tmp_path) as again:
        assert again == 0


def test_concurrent_jobs_on_a_node_get_different_devices(tmp_path):
    wmvla = str(Path(sys.executable).parent / "wmvla")
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "WMVLA_NODE_GPUS": "2",
        "WMVLA_GPU_SLOT_DIR": str(tmp_path),
    }
    cmd = [wmvla, "gpu-run", "--gpus", "1", "--", "sh", "-c", "echo $ROCR_VISIBLE_DEVICES; sleep 2"]
    jobs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)]
    time.sleep(1.0)
    jobs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True))
    devices = sorted(job.communicate(timeout=60)[0].strip() for job in jobs)
    assert devices == ["0", "1"] and all(job.returncode == 0 for job in jobs)
    failing = subprocess.run([wmvla, "gpu-run", "--gpus", "0", "--", "false"], env=env, check=False)
    assert failing.returncode == 1  # the command's exit status is the job's
    missing = subprocess.run([wmvla, "gpu-run", "--gpus", "0", "--", "no-such-tool"], env=env, check=False)
    assert missing.returncode == 2


def test_a_job_gets_a_scratch_of_its_own_for_the_caches_that_must_not_outlive_it(tmp_path):
    """`wmvla job` points the datasets library's Arrow copies (and ROCm's kernel database) into a scratch
    directory under $TMPDIR, which is gone once the job ends, whatever its exit status."""
    wmvla = str(Path(sys.executable).parent / "wmvla")
    env = {**os.environ, "TMPDIR": str(tmp_path / "node-local")}
    write = (
        "mkdir -p $HF_DATASETS_CACHE && echo copy > $HF_DATASETS_CACHE/rows.arrow && echo $HF_DATASETS_CACHE"
    )
    for command, status in ((write, 0), (write + "; exit 3", 3)):
        job = subprocess.run(
            [wmvla, "job", "--log", str(tmp_path / "job.log"), "--", "sh", "-c", command],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert job.returncode == status
        scratch = Path((tmp_path / "job.log").read_text().splitlines()[1])
        assert scratch.parent.parent == tmp_path / "node-local" and scratch.name == "datasets"
        assert not scratch.parent.exists()  # removed with everything the job wrote there
    assert list((tmp_path / "node-local").iterdir()) == []


def test_every_library_cache_a_job_writes_points_inside_the_study(repo, tmp_path, monkeypatch):
    from wmvla.study.environment import TOOL_CACHES, tool_cache_environment

    monkeypatch.chdir(tmp_path)
    env: dict[str, str] = {}
    tool_cache_environment(env, {"study": "smoke"})
    assert set(env) == set(TOOL_CACHES) >= {"MPLCONFIGDIR", "MESA_SHADER_CACHE_DIR", "TORCH_HOME"}
    assert all(Path(v).is_relative_to(tmp_path / "results/smoke/.cache") for v in env.values()), env
    assert "results/*/.cache" in (repo / ".dvcignore").read_text()  # caches, not artifacts: never versioned
