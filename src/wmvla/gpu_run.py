"""Run a job's command on exactly one visible GPU: under Slurm as allocated, on a shared node by slot.

Why: ROCm applies `ROCR_VISIBLE_DEVICES` first and `HIP_VISIBLE_DEVICES`/`CUDA_VISIBLE_DEVICES` on top,
as indices into what is left. Slurm sets `ROCR_VISIBLE_DEVICES` for the GPUs it allocated; a second mask
inherited from a login shell ("double masking") then hides the allocated GPU or selects another job's.
On a single multi-GPU node without Slurm, Snakemake's `--resources gpu=8` bounds how many GPU jobs run at
once but does not say which device each gets: here each job takes a free slot (an exclusive lock file),
so two jobs never share a GPU.
"""

import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

from wmvla.errors import WmvlaError

log = logging.getLogger(__name__)

SECONDARY_MASKS = ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL")
NODE_GPUS = "WMVLA_NODE_GPUS"  # set on a shared multi-GPU node without Slurm: number of devices to share
SLOT_DIR = "WMVLA_GPU_SLOT_DIR"  # where the slot locks live (default: /tmp/wmvla-gpu-slots-<uid>)


class GpuSlotError(WmvlaError, RuntimeError):
    """No GPU can be given to the job as asked."""


def single_mask(env: MutableMapping[str, str]) -> None:
    """Keep `ROCR_VISIBLE_DEVICES` as the only device mask when it is set (Slurm's allocation)."""
    if env.get("ROCR_VISIBLE_DEVICES") is None:
        return
    for name in SECONDARY_MASKS:
        if env.pop(name, None) is not None:
            log.info("unset %s: ROCR_VISIBLE_DEVICES already selects this job's GPU", name)


@contextmanager
def gpu_slot(n_devices: int, slot_dir: Path) -> Iterator[int]:
    """Hold an exclusive lock on one free device index in [0, n_devices) for the duration of the block."""
    slot_dir.mkdir(parents=True, exist_ok=True)
    for index in range(n_devices):
        handle = (slot_dir / f"gpu{index}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield index
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    raise GpuSlotError(
        f"all {n_devices} GPU slots in {slot_dir} are taken; run Snakemake with --resources gpu={n_devices}"
    )


def job_environment(gpus: int, env: MutableMapping[str, str]) -> int | None:
    """Prepare `env` for a job needing `gpus` GPUs; returns how many node slots it must hold (or None)."""
    if gpus == 0:
        return None
    if gpus != 1:
        raise GpuSlotError(f"jobs use one GPU each; this one asks for {gpus}")
    if env.get("ROCR_VISIBLE_DEVICES") is not None or env.get("SLURM_JOB_ID"):
        single_mask(env)
        return None
    if env.get(NODE_GPUS):
        return int(env[NODE_GPUS])
    return None  # a machine with one GPU (or none): nothing to choose


def run(gpus: int, command: list[str]) -> int:
    """Exec `command` with one GPU made visible as described above (replaces this process)."""
    if not command:
        raise GpuSlotError("no command to run after --")
    if shutil.which(command[0]) is None:
        raise GpuSlotError(f"command not found: {command[0]}")
    env = dict(os.environ)
    slots = job_environment(gpus, env)
    if slots is None:
        os.execvpe(command[0], command, env)
    slot_dir = Path(env.get(SLOT_DIR) or f"/tmp/wmvla-gpu-slots-{os.getuid()}")
    with gpu_slot(slots, slot_dir) as index:
        for name in SECONDARY_MASKS:
            env.pop(name, None)
        env["ROCR_VISIBLE_DEVICES"] = str(index)
        log.info("running on GPU %d of this node: %s", index, " ".join(command))
        return subprocess.run(command, env=env, check=False).returncode  # the lock is held until it ends
