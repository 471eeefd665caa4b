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
