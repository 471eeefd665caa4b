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
def hub_server(tmp_path_factory):
    """A local Hub server (olah, tests/hub_server.py) serving replicas of the full study's model repositories
    (tests/hub_replicas.py); `.shas`: artifact key → the replica's commit."""
    from .hub_replicas import publish_models
    from .hub_server import HubServer

    root = tmp_path_factory.mktemp("hub")
    server = HubServer(root / "server")
    server.shas = publish_models(server, root / "replicas")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hub_snapshots(hub_server, repo, tmp_path_factory) -> dict[str, Path]:
    """Every replica fetched by the hub stage's own command (`wmvla hub fetch`, by commit) into one cache, as
    the full study's artifacts ask (its file patterns); artifact key → the manifest the jobs check."""
    import json
    import subprocess
    import sys

    from wmvla.study.artifacts import study_artifacts
    from wmvla.study.config import load_study_config

    root = tmp_path_factory.mktemp("fetched")
    artifacts = {a.key: a for a in study_artifacts(load_study_config(repo / "config/config.yaml"))}
    manifests = {}
    for key, sha in hub_server.shas.items():
        entry = json.dumps({**artifacts[key].__dict__, "sha": sha})
        manifests[key] = root / "manifests" / f"{key}.json"
        fetched = subprocess.run(
            [str(Path(sys.executable).parent / "wmvla"), "hub", "fetch", "--entry", entry, "--cache",
             str(root / "cache"), "--out", str(manifests[key])],
            env={**os.environ, **hub_server.env()}, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert fetched.returncode == 0, fetched.stderr[-3000:]
    return manifests


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


STUDY = "smoke_study"
READS_THE_STUDY = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config, items):
    """The tests that read the smoke study run last, in their order: it builds in the background while the
    others run (the build mostly waits on Slurm and on single-threaded jobs; 2 cores have room for both)."""
    items.sort(key=lambda item: STUDY in item.fixturenames)  # stable: the order within each part is kept
    config.stash[READS_THE_STUDY] = any(STUDY in item.fixturenames for item in items)


@pytest.fixture(scope="session", autouse=True)
def smoke_study_build(request, repo, snakemake_bin, tmp_path_factory):
    """Starts the smoke study's build (tests/smoke_study.py) before the session's first test, if a selected
    test reads it; ends an unfinished build with the session."""
    if not request.config.stash.get(READS_THE_STUDY, False):
        yield None
        return
    from .smoke_study import StudyBuild

    cluster = request.getfixturevalue("slurm_cluster")
    build = StudyBuild(repo, snakemake_bin, cluster, tmp_path_factory.mktemp("study") / "root")
    yield build
    build.stop()


@pytest.fixture(scope="session")
def smoke_study(smoke_study_build):
    """The smoke study, built once per session as Slurm jobs; slow tests only."""
    return smoke_study_build.wait()
