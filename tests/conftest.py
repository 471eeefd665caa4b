"""Shared fixtures. Tests never touch the network: the Hub is forced offline before anything imports it."""

import os
import shutil
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("WANDB_MODE", "disabled")

import pytest

from wmvla.sim.setup import apply_environment_defaults

apply_environment_defaults()

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_smolvlm(tmp_path_factory) -> Path:
    from wmvla.models.tiny import build_tiny_smolvlm

    return build_tiny_smolvlm(tmp_path_factory.mktemp("models") / "smolvlm-tiny")


@pytest.fixture(scope="session")
def tiny_vjepa2(tmp_path_factory) -> Path:
    from wmvla.models.tiny import build_tiny_vjepa2

    return build_tiny_vjepa2(tmp_path_factory.mktemp("models") / "vjepa2-tiny")


@pytest.fixture(scope="session")
def tiny_cosmos(tmp_path_factory) -> Path:
    from wmvla.models.tiny import build_tiny_cosmos

    return build_tiny_cosmos(tmp_path_factory.mktemp("models") / "cosmos-tiny")


@pytest.fixture(scope="session")
def snakemake_bin() -> str:
    path = shutil.which("snakemake", path=str(Path(os.sys.executable).parent))
    assert path, "snakemake is not installed next to the test interpreter; run `make setup`"
    return path


@pytest.fixture(scope="session")
def slurm_cluster(repo, tmp_path_factory):
    """A one-node Slurm of the test session's own (installed from Debian's packages if missing)."""
    import subprocess

    from .slurm_cluster import SlurmCluster, missing_binaries

    if missing_binaries():
        subprocess.run([str(repo / "scripts/install-slurm")], check=True)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def smoke_study(repo, snakemake_bin, slurm_cluster, tmp_path_factory):
    """The smoke study, built once per session as Slurm jobs (tests/smoke_study.py); slow tests only."""
    from .smoke_study import build_smoke_study

    return build_smoke_study(repo, snakemake_bin, slurm_cluster, tmp_path_factory.mktemp("study"))
