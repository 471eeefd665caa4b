"""Node preflight: one job on a GPU node, before the gates and every GPU job, checks what they all need.

Why: a node whose GPUs HIP cannot see, whose bf16 kernels are missing or slow, that cannot render LIBERO
headless (MI300X has no display engine: rendering runs through Mesa's EGL or OSMesa on the CPU), that
cannot read the offline Hub cache, or whose filesystem cannot hold the study would otherwise fail every
one of ~570 jobs, hours in, times Slurm's restarts. Each check is recorded with its measured value and
threshold (the gates' record format); on a CPU study the GPU checks are recorded as skipped, not passed.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from wmvla.errors import WmvlaError
from wmvla.gates.record import Gate, check, failure_line, write_gates
from wmvla.hub.check import check_manifests
from wmvla.hub.lock import HubError

log = logging.getLogger(__name__)

GB = 1e9


class PreflightFailure(WmvlaError, RuntimeError):
    """At least one preflight check failed; the message has one line per failed check."""


@dataclass(frozen=True)
class Footprint:
    """What the study will still write, from the config (the dataset's frame count is read at run time)."""

    runs: int  # trainings
    checkpoints_per_run: int  # kept on disk at once: the newest intermediate ones plus the final one
    checkpoint_gb: float  # one checkpoint: weights, optimizer state, processors (an estimate, in the config)
    latent_dims: tuple[int, ...]  # D of every latent cache (one per encoder)
    evaluations: int
    videos: int
    video_mb: float

    @classmethod
    def from_dict(cls, fields: dict) -> "Footprint":
        """From `wmvla.study.resources.footprint` (JSON on the preflight's command line)."""
        return cls(**{**fields, "latent_dims": tuple(fields["latent_dims"])})

    def estimate(self, frames: int) -> dict[str, float]:
        """Bytes per kind of artifact, for a dataset of `frames` frames."""
        return {
            "checkpoints": self.runs * self.checkpoints_per_run * self.checkpoint_gb * GB,
            "latent caches": frames * sum(self.latent_dims) * 2,  # fp16 rows
            "evaluations": self.evaluations * 200e3
            + self.videos * self.video_mb * 1e6,  # JSON + logs, videos
        }


def _timed(fn, device: str, repeats: int) -> float:
    """Seconds per call after a warm-up, the device synchronised (kernels run asynchronously on GPUs)."""
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    fn()
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - started) / repeats


GPU_CHECKS = ("gpus_visible", "bf16_matmul", "bf16_attention")


def check_gpus(device: str, min_tflops: float) -> list[Gate]:
    """HIP sees the GPUs; a bf16 matmul and scaled_dot_product_attention run on one, and how fast."""
    if device != "cuda":
        return [
            Gate(n, "GPU check", None, "—", None, f"skipped: the study runs on {device}") for n in GPU_CHECKS
        ]
    import torch

    count, hip = torch.cuda.device_count() if torch.cuda.is_available() else 0, torch.version.hip
    ok = bool(count >= 1 and hip)
    visible = Gate(
        "gpus_visible",
        "Does torch see the node's GPUs through HIP (ROCm)?",
        f"{count} GPU(s), HIP {hip}",
        ">= 1 GPU with a ROCm build of torch",
        ok,
        "" if ok else "install torch's ROCm build (make setup-rocm); check ROCR_VISIBLE_DEVICES",
    )
    if not ok:
        return [visible, *(Gate(n, "GPU check", None, "—", False, "no GPU") for n in GPU_CHECKS[1:])]
    return [visible, matmul_check(min_tflops, "cuda"), attention_check("cuda")]


def matmul_check(min_tflops: float, device: str, n: int = 8192) -> Gate:
    """A bf16 n×n matmul: throughput, and its error against fp32 on a corner of the product."""
    import torch

    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    seconds = _timed(lambda: a @ b, device, repeats=10)
    tflops = 2 * n**3 / seconds / 1e12
    corner = min(n, 256)
    exact = a[:corner].float() @ b[:, :corner].float()
    error = float(((a[:corner] @ b[:, :corner]).float() - exact).abs().max() / exact.abs().max())
    return Gate(
        "bf16_matmul",
        f"Does a {n}x{n} bf16 matmul run on the {device}, correctly and fast?",
        float(f"{tflops:.3g}"),  # TFLOP/s, 3 significant digits
        f"TFLOP/s >= {min_tflops}, relative error < 2e-2",
        bool(tflops >= min_tflops and error < 2e-2),
        f"relative error vs fp32 {error:.1e}",
    )


def attention_check(device: str, batch: int = 8, heads: int = 16, length: int = 1024, dim: int = 64) -> Gate:
    """bf16 scaled_dot_product_attention: throughput, and its error against fp32."""
    import torch
    import torch.nn.functional as F

    shape = (batch, heads, length, dim)
    q, k, v = (torch.randn(shape, device=device, dtype=torch.bfloat16) for _ in range(3))
    seconds = _timed(lambda: F.scaled_dot_product_attention(q, k, v), device, repeats=10)
    tflops = 4 * batch * heads * length**2 * dim / seconds / 1e12
    reference = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    error = float((F.scaled_dot_product_attention(q, k, v).float() - reference).abs().max())
    return Gate(
        "bf16_attention",
        f"Does bf16 scaled_dot_product_attention run on the {device}, correctly?",
        float(f"{tflops:.3g}"),  # TFLOP/s, 3 significant digits
        "max error vs fp32 < 5e-2 (TFLOP/s recorded)",
        bool(error < 5e-2),
        f"max error vs fp32 {error:.1e}",
    )


def check_render(suite: str, image_size: int, timeout: float = 900) -> Gate:
    """Render one LIBERO frame in a fresh process with this job's MUJOCO_GL (a GL crash cannot kill us)."""
    command = [sys.executable, "-m", "wmvla.sim.envs", suite, str(image_size)]
    backend = os.environ.get("MUJOCO_GL")
    question = f"Does LIBERO render headless with MUJOCO_GL={backend}?"
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Gate(
            "libero_render",
            question,
            None,
            "a frame within the timeout",
            False,
            f"no frame in {timeout:.0f} s",
        )
    if out.returncode != 0:
        why = failure_line(out.stderr)
        return Gate("libero_render", question, None, "a rendered frame", False, f"{backend}: {why}")
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    ok = probe["std"] > 1.0  # a black or constant frame means a broken context, not a scene
    value = f"mean RGB {probe['mean_rgb']} in {probe['seconds']} s via {probe['gl_renderer'] or backend}"
    return Gate("libero_render", question, value, "a non-constant frame", ok, json.dumps(probe))


def check_hub_cache(manifests: list[Path]) -> Gate:
    """Every file the hub stage fetched is in the cache, and every JSON of a model snapshot parses."""
    question = "Are the study's locked Hub artifacts loadable offline from this node?"
    if not manifests:
        return Gate("hub_cache", question, None, "—", None, "skipped: the study loads nothing from the Hub")
    try:
        check_manifests(manifests)
        files = 0
        for path in manifests:
            manifest = json.loads(Path(path).read_text())
            for item in manifest["files"]:
                if item["path"].endswith(".json") and manifest["repo_type"] == "model":
                    json.loads((Path(manifest["snapshot"]) / item["path"]).read_text())
                    files += 1
    except (HubError, json.JSONDecodeError, OSError) as err:
        return Gate("hub_cache", question, None, "every file present", False, str(err))
    return Gate(
        "hub_cache", question, f"{len(manifests)} artifact(s), {files} JSON file(s) parsed", "all", True
    )


def check_disk(results: Path, footprint: Footprint, frames: int) -> Gate:
    """Free space on the results filesystem against what the study will still write (printed)."""
    parts = footprint.estimate(frames)
    need = sum(parts.values())
    Path(results).mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(results).free
    detail = "; ".join(f"{kind} {size / GB:.2f} GB" for kind, size in parts.items())
    f = footprint
    detail += (
        f" (checkpoints: {f.runs} runs × {f.checkpoints_per_run} × {f.checkpoint_gb} GB;"
        f" latents: {frames} frames × D {'+'.join(map(str, f.latent_dims)) or '0'} × 2 B)"
    )
    return Gate(
        "disk_space",
        f"Does the filesystem of {results} hold what the study will write?",
        f"{free / GB:.1f} GB free",
        f">= {need / GB:.1f} GB estimated",
        free >= need,
        detail,
    )


def check_scratch(scratch: Path, copy_bytes: int, jobs_per_node: int) -> Gate:
    """Free space in the jobs' scratch (`$TMPDIR`) against the dataset copies the jobs of one node hold at
    once: LeRobot's loader copies each job's episodes there (`wmvla.cluster.scratch`)."""
    need = copy_bytes * jobs_per_node
    scratch.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(scratch).free
    return Gate(
        "scratch_space",
        f"Does the jobs' scratch {scratch} hold the dataset copies of {jobs_per_node} jobs at once?",
        f"{free / GB:.1f} GB free",
        f">= {need / GB:.2f} GB estimated",
        free >= need,
        f"{jobs_per_node} jobs per node (preflight.jobs_per_node) × {copy_bytes / GB:.2f} GB, the largest "
        "suite's share of the dataset's parquet data",
    )


@dataclass(frozen=True)
class PreflightRequest:
    device: str
    suite: str  # rendered once: the first suite of the study
    image_size: int
    manifests: tuple[Path, ...]
    results: Path
    dataset_frames: int
    footprint: Footprint
    min_bf16_tflops: float
    scratch: Path  # where jobs make their scratch (`$TMPDIR`)
    copy_bytes: int  # the largest dataset copy one job makes there
    jobs_per_node: int


def run_preflight(request: PreflightRequest) -> list[Gate]:
    """Every check, in order; never raises for a failed check (the caller decides)."""
    return [
        *check_gpus(request.device, request.min_bf16_tflops),
        check_render(request.suite, request.image_size),
        check_hub_cache(list(request.manifests)),
        check_disk(request.results, request.footprint, request.dataset_frames),
        check_scratch(request.scratch, request.copy_bytes, request.jobs_per_node),
    ]


def record_preflight(checks: list[Gate], out: Path) -> None:
    """Log every check; stop with one line per failed check (the preflight is always enforced), else write
    the record every GPU job waits for."""
    heading = f"{{n}} preflight check(s) failed on {os.uname().nodename}; no GPU job starts:"
    check(checks, True, heading, error=PreflightFailure)
    write_gates(out, checks)
