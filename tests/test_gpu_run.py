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
