"""Torch's ROCm build of the pinned torch version, for AMD GPU nodes (`make setup-rocm`).

Why a table: PyTorch publishes each release's ROCm wheels for specific ROCm versions only; asking the
index of another ROCm version for the pinned torch finds no wheel, and installing a different torch by
hand silently leaves `constraints.txt`. Source: PyTorch's release compatibility matrix
(github.com/pytorch/pytorch, RELEASE.md) — torch 2.9: ROCm 6.4; 2.10: ROCm 7.1; 2.11: ROCm 7.2.
"""

import re
import subprocess
from pathlib import Path

from wmvla.errors import WmvlaError

ROCM_FOR_TORCH = {"2.9": ("6.4",), "2.10": ("7.1",), "2.11": ("7.2",)}  # first: the default
INDEX_URL = "https://download.pytorch.org/whl/rocm{rocm}"


class RocmSetupError(WmvlaError, RuntimeError):
    """No ROCm build of the pinned torch for the requested ROCm, or the installed build is wrong."""


def pinned(package: str, constraints: Path) -> str:
    """The version `constraints.txt` pins `package` to (without a local `+cu…` tag)."""
    for line in Path(constraints).read_text().splitlines():
        if m := re.match(rf"^{re.escape(package)}==([^+\s;]+)", line.strip()):
            return m[1]
    raise RocmSetupError(f"{package} is not pinned in {constraints}")


def rocm_for(torch_version: str, requested: str | None = None) -> str:
    """The ROCm version whose wheel index has `torch_version`; `requested` must be one of them."""
    minor = ".".join(torch_version.split(".")[:2])
    supported = ROCM_FOR_TORCH.get(minor)
    if supported is None:
        known = ", ".join(f"torch {t}" for t in ROCM_FOR_TORCH)
        raise RocmSetupError(
            f"no ROCm wheels known for torch {torch_version} ({known}); extend ROCM_FOR_TORCH"
        )
    if requested is None:
        return supported[0]
    if requested not in supported:
        raise RocmSetupError(
            f"torch {torch_version} has ROCm wheels for ROCm {', '.join(supported)} only, not {requested}"
        )
    return requested


def install_command(python: str, constraints: Path, requested: str | None = None) -> list[str]:
    """The pip command that replaces the venv's torch/torchvision by their ROCm builds of the pins."""
    torch, vision = pinned("torch", constraints), pinned("torchvision", constraints)
    rocm = rocm_for(torch, requested)
    return [
        python,
        "-m",
        "pip",
        "install",
        "--force-reinstall",
        "--no-deps",
        "--index-url",
        INDEX_URL.format(rocm=rocm),
        f"torch=={torch}",
        f"torchvision=={vision}",
    ]  # fmt: skip (that index holds ROCm builds only; check_installed verifies the result)


def check_installed(python: str, constraints: Path) -> str:
    """After installing: the venv's torch is the pinned version, built for ROCm (HIP)."""
    probe = "import torch; print(torch.__version__, torch.version.hip or '')"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RocmSetupError(
            f"torch does not import after the install: {out.stderr.strip().splitlines()[-1:]}"
        )
    version, _, hip = out.stdout.strip().partition(" ")
    if version.split("+")[0] != pinned("torch", constraints) or not hip:
        wanted = pinned("torch", constraints)
        raise RocmSetupError(
            f"installed torch {version} (HIP {hip or 'none'}), expected the ROCm build of {wanted}"
        )
    return f"torch {version}, HIP {hip}"
