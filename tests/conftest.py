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


STUDIES = ("hub_study", "smoke_study")  # built in the background; their readers run last, in this order
SELECTED = pytest.StashKey[set]()


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselection: a study no selected test reads is not built
def pytest_collection_modifyitems(config, items):
    """The tests that read a study run last, in their order: each study builds in the background while the
    others run (the builds mostly wait on Slurm and on single-threaded jobs; 2 cores have room for them)."""

    def last(item) -> int:
        return max((i + 1 for i, name in enumerate(STUDIES) if name in item.fixturenames), default=0)

    items.sort(key=last)  # stable: the order within each part is kept
    config.stash[SELECTED] = {name for name in STUDIES if any(name in item.fixturenames for item in items)}


@pytest.fixture(scope="session", autouse=True)
def smoke_study_build(request, repo, snakemake_bin, tmp_path_factory):
    """Starts the smoke study's build (tests/smoke_study.py) before the session's first test, if a selected
    test reads it; ends an unfinished build with the session."""
    if "smoke_study" not in request.config.stash.get(SELECTED, set()):
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


@pytest.fixture(scope="session", autouse=True)
def hub_study_build(request, repo, snakemake_bin, tmp_path_factory):
    """Starts the Hub-sourced study's build (tests/hub_study.py, in a process of its own) before the session's
    first test, if a selected test reads it; ends an unfinished build with the session."""
    if "hub_study" not in request.config.stash.get(SELECTED, set()):
        yield None
        return
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("hub-study")
    with (root / "build.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.hub_study", str(root), snakemake_bin], cwd=repo, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    yield root, process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture(scope="session")
def hub_study(hub_study_build, snakemake_bin):
    """The Hub-sourced study, built once per session; slow tests only."""
    from .hub_study import load

    root, process = hub_study_build
    process.wait(timeout=3000)
    assert (root / "build.json").is_file(), (root / "build.log").read_text()[-4000:]
    study, steps = load(root, snakemake_bin)
    failed = [step for step in steps if step["returncode"]]
    assert not failed and len(steps) == 5, (failed or steps, (root / "build.log").read_text()[-3000:])
    return study
