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
import signal
import subprocess
from collections.abc import Callable, Iterator, MutableMapping
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


@contextmanager
def gpu_environment(gpus: int, env: MutableMapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """The environment of a job needing `gpus` GPUs, for the duration of the block (a node slot is held)."""
    env = dict(os.environ if env is None else env)
    slots = job_environment(gpus, env)
    if slots is None:
        yield env
        return
    slot_dir = Path(env.get(SLOT_DIR) or f"/tmp/wmvla-gpu-slots-{os.getuid()}")
    with gpu_slot(slots, slot_dir) as index:
        for name in SECONDARY_MASKS:
            env.pop(name, None)
        env["ROCR_VISIBLE_DEVICES"] = str(index)
        log.info("running on GPU %d of this node", index)
        yield env


def visible_devices(env: dict[str, str]) -> str:
    """The device masks a job runs with, for its log (empty: no GPU asked or none masked)."""
    masks = [f"{name}={env[name]}" for name in ("ROCR_VISIBLE_DEVICES", *SECONDARY_MASKS) if name in env]
    return ", ".join(masks)


FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def run_child(command: list[str], env: dict[str, str], sink: Callable[[bytes], None] | None = None) -> int:
    """Run `command` to its end and return its exit status, passing on the signals a scheduler sends; with
    `sink`, its output (stdout and stderr) goes there as it comes.

    Why forward: Slurm signals the job's processes on `scancel`, preemption and before a time limit; the
    command (a training, an evaluation) must see the signal itself, not lose its parent and keep running.
    """
    if not command:
        raise GpuSlotError("no command to run after --")
    if shutil.which(command[0], path=env.get("PATH")) is None:
        raise GpuSlotError(f"command not found: {command[0]}")
    piped = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT} if sink else {}
    child = subprocess.Popen(command, env=env, **piped)
    forward = {
        sig: signal.signal(sig, lambda signum, _: child.send_signal(signum)) for sig in FORWARDED_SIGNALS
    }
    try:
        if sink:
            for chunk in iter(lambda: child.stdout.read1(1 << 16), b""):
                sink(chunk)
        status = child.wait()
    finally:
        for sig, handler in forward.items():
            signal.signal(sig, handler)
    return status if status >= 0 else 128 - status  # killed by signal N: the shell's 128 + N


def run(gpus: int, command: list[str]) -> int:
    """Run `command` with one GPU made visible as described above; its exit status."""
    with gpu_environment(gpus) as env:
        return run_child(command, env)
