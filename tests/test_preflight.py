"""The node preflight: each check passes on a fit node and fails, by name, on an unfit one."""

import json
import subprocess
import sys

import pytest

from wmvla.gates.preflight import (
    Footprint,
    PreflightFailure,
    attention_check,
    check_disk,
    check_gpus,
    check_hub_cache,
    check_render,
    check_scratch,
    matmul_check,
    record_preflight,
)


def test_gpu_checks_are_skipped_not_passed_on_a_cpu_study(tmp_path):
    checks = check_gpus("cpu", min_tflops=100)
    assert [c.name for c in checks] == ["gpus_visible", "bf16_matmul", "bf16_attention"]
    assert all(c.passed is None and "skipped" in c.line for c in checks)
    record_preflight(checks, tmp_path / "preflight.json")  # recorded, not failed
    assert (tmp_path / "preflight.json").is_file()


def test_a_gpu_study_on_a_node_without_gpus_fails_every_gpu_check(tmp_path):
    checks = check_gpus("cuda", min_tflops=100)  # this machine has no GPU (and a CUDA build of torch)
    assert [c.passed for c in checks] == [False, False, False]
    assert "0 GPU(s)" in checks[0].value and "make setup-rocm" in checks[0].detail
    with pytest.raises(PreflightFailure) as error:
        record_preflight(checks, tmp_path / "preflight.json")
    assert str(error.value).count(": FAILED (") == 3 and not (tmp_path / "preflight.json").exists()


def test_the_kernel_checks_measure_throughput_and_error():
    """The same code the GPU runs, on the CPU and at small sizes: throughput measured, error against fp32."""
    fast = matmul_check(min_tflops=1e-6, device="cpu", n=256)
    assert fast.passed is True and fast.value > 0 and "relative error vs fp32" in fast.detail
    slow = matmul_check(min_tflops=1e6, device="cpu", n=256)  # a node far below the required throughput
    assert slow.passed is False and "TFLOP/s >= 1000000.0" in slow.threshold
    attention = attention_check("cpu", batch=1, heads=2, length=64, dim=32)
    assert attention.passed is True and attention.value > 0


@pytest.mark.slow  # a LIBERO scene built and rendered in a fresh process (~40 s), as the smoke preflight does
def test_libero_renders_headless_with_the_configured_backend():
    check = check_render("libero_spatial", 64)
    assert check.passed is True, check.detail
    probe = json.loads(check.detail)
    assert probe["shape"] == [64, 64, 3] and probe["mujoco"] and probe["gl_vendor"]


def test_a_render_backend_that_cannot_start_is_a_failed_check(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    check = check_render("libero_spatial", 64)
    assert check.passed is False and check.detail.startswith("no-such-backend:")
    assert "MUJOCO_GL=no-such-backend" in check.question


def test_the_offline_cache_check_passes_complete_and_fails_incomplete_artifacts(hub_snapshots, tmp_path):
    """On the V-JEPA 2 snapshot the hub stage's own command fetched from the test's Hub server."""
    import shutil

    manifest = json.loads(hub_snapshots["encoder.vjepa2-vitg"].read_text())
    snapshot = tmp_path / "snapshot"
    shutil.copytree(manifest["snapshot"], snapshot)
    moved = tmp_path / "encoder.json"
    moved.write_text(json.dumps({**manifest, "snapshot": str(snapshot)}))
    ok = check_hub_cache([moved])
    assert ok.passed is True and "JSON file(s) parsed" in ok.value
    assert check_hub_cache([]).passed is None  # the smoke study loads nothing from the Hub
    (snapshot / "config.json").unlink()
    missing = check_hub_cache([moved])
    assert missing.passed is False and "config.json is missing" in missing.detail


def test_a_scratch_too_small_for_a_nodes_dataset_copies_fails_and_says_why(tmp_path):
    ok = check_scratch(tmp_path, copy_bytes=1_000_000, jobs_per_node=8)
    assert ok.passed is True and "8 jobs per node" in ok.detail and ">= 0.01 GB" in ok.threshold
    full = check_scratch(tmp_path, copy_bytes=10**15, jobs_per_node=2)  # 2 PB of dataset copies
    assert full.passed is False and "2000000.00 GB" in full.threshold


def test_too_little_disk_against_the_estimated_footprint_fails_and_prints_the_estimate(tmp_path):
    small = Footprint(runs=3, checkpoints_per_run=1, checkpoint_gb=0.01, latent_dims=(64,), evaluations=4,
                      videos=4, video_mb=0.05)  # fmt: skip
    ok = check_disk(tmp_path, small, frames=160)
    assert ok.passed is True and "checkpoints 0.03 GB" in ok.detail and "160 frames × D 64" in ok.detail
    planted = Footprint(runs=180, checkpoints_per_run=3, checkpoint_gb=1e9, latent_dims=(1408,),
                        evaluations=204, videos=4000, video_mb=1.0)  # fmt: skip
    full = check_disk(tmp_path, planted, frames=273_465)
    assert full.passed is False and "180 runs × 3 × 1000000000.0 GB" in full.detail
    assert full.threshold == ">= 540000000004.8 GB estimated"  # + 0.77 GB latents, 4.04 GB evaluations


def test_the_cli_stops_with_one_line_per_failed_check(tmp_path):
    from .datasets import synthetic_dataset

    spatial = "pick up the black bowl between the plate and the ramekin and place it on the plate"
    dataset = synthetic_dataset(tmp_path / "ds", tasks=(spatial,))
    footprint = {"runs": 1, "checkpoints_per_run": 1, "checkpoint_gb": 1e9, "latent_dims": [64],
                 "evaluations": 1, "videos": 1, "video_mb": 1.0}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "wmvla.cli", "preflight", "--device=cpu", "--suite=libero_spatial",
         "--suites", "libero_spatial", "--jobs-per-node=2", "--image-size=64", f"--dataset={dataset}",
         f"--results={tmp_path / 'results'}",
         f"--footprint={json.dumps(footprint)}", "--min-bf16-tflops=1", f"--out={tmp_path / 'p.json'}"],
        capture_output=True, text=True, timeout=900, env={**__import__("os").environ, "MUJOCO_GL": "nope"},
    )  # fmt: skip
    assert out.returncode == 2 and "2 preflight check(s) failed" in out.stderr
    assert "libero_render: FAILED" in out.stderr and "disk_space: FAILED" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("torch_version", ["2.11.0", "2.11.1"])
def test_the_rocm_index_is_the_one_the_pinned_torch_is_built_for(repo, torch_version, tmp_path):
    from wmvla.cluster.rocm import RocmSetupError, install_command, rocm_for

    assert rocm_for(torch_version) == "7.2"
    with pytest.raises(RocmSetupError, match=r"torch 2.11.\d has ROCm wheels for ROCm 7.2 only, not 6.4"):
        rocm_for(torch_version, "6.4")
    assert rocm_for("2.10.0") == "7.1" and rocm_for("2.9.1") == "6.4"
    with pytest.raises(RocmSetupError, match=r"no ROCm wheels known for torch 3\.0\.0"):
        rocm_for("3.0.0")
    command = install_command("python", repo / "constraints.txt")
    assert "https://download.pytorch.org/whl/rocm7.2" in command and "torch==2.11.0" in command


def test_setup_rocm_dry_run_prints_the_command_and_refuses_an_unsupported_rocm(repo):
    def run(*args):
        cmd = [sys.executable, "-m", "wmvla.cli", "setup", "rocm-torch", "--dry-run", *args]
        return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=120)

    ok = run()
    assert (
        ok.returncode == 0
        and "--index-url https://download.pytorch.org/whl/rocm7.2 torch==2.11.0" in ok.stdout
    )
    bad = run("--rocm", "6.4")
    assert bad.returncode == 2 and "has ROCm wheels for ROCm 7.2 only, not 6.4" in bad.stderr
    assert bad.stdout == "" and "Traceback" not in bad.stderr
