"""Watching a training while it runs: its curves in TensorBoard, read in headless Chromium, and its stage in
`wmvla status` — then the same study with the training killed, and another that failed, named with its log.

The trainings are tiny `smolvla_world` runs (synthetic data) at the smoke study's paths, started as the DAG's
train rule starts them (`wmvla job --log … -- lerobot-wm-train …`)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wmvla.latents.cache import CacheRequest, build_cache
from wmvla.latents.encoders import load_encoder
from wmvla.study.config import load_study_config
from wmvla.watch.status import gate_states, study_status

from .datasets import synthetic_dataset
from .policies import tiny_world_train_args

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
RUN = "libero_spatial/E2/seed0"
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = (  # root in a container, no network beyond loopback: what Chromium needs to start quietly
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


@pytest.fixture(scope="module")
def chromium(repo) -> str:
    if shutil.which("chromium") is None:
        subprocess.run([str(repo / "scripts/install-browser")], check=True)
    return shutil.which("chromium")


def _browse(chromium: str, url: str, profile: Path, render_s: int = 0) -> str:
    """The page's DOM after Chromium ran its scripts (`render_s` of virtual time for a page that builds
    itself), or a JSON endpoint as the browser shows it."""
    budget = [f"--virtual-time-budget={render_s * 1000}", "--window-size=1400,3000"] if render_s else []
    out = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *budget, "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return out.stdout


def _points(dom: str) -> list:
    """A TensorBoard scalars endpoint's [wall time, step, value] rows, off the `<pre>` Chromium shows."""
    start, end = dom.find("<pre>"), dom.find("</pre>")
    return json.loads(dom[start + 5 : end]) if start >= 0 and end > start else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := check()) is not None:
            return found
        assert proc is None or proc.poll() is None, f"the training ended before {what}"
        time.sleep(1)
    raise AssertionError(f"no {what} after {timeout} s")


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_smolvlm, tiny_vjepa2):
    root = tmp_path_factory.mktemp("live")
    dataset = synthetic_dataset(root / "ds", lengths=(30, 30, 30), image_size=64)
    request = CacheRequest("test/synthetic", "vjepa2-tiny", 4)
    cache = build_cache(
        dataset, request, load_encoder("vjepa2-tiny", tiny_vjepa2), root / "cache", 16, 32
    ).path
    return {"root": root, "args": tiny_world_train_args(dataset, tiny_smolvlm, cache, tiny_vjepa2)}


def _train(study: dict, run: str, *extra: str) -> subprocess.Popen:
    """A training at the smoke study's paths of `run`, as the train rule starts one (own process group)."""
    cmd = [
        str(BIN / "wmvla"), "job", "--log", f"logs/smoke/{run}/train.log", "--",
        str(BIN / "lerobot-wm-train"), *study["args"], "--steps=400", "--log_freq=5", "--save_freq=400",
        f"--output_dir=results/smoke/{run}/train", f"--curves_dir=logs/smoke/curves/{run}", *extra,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(cmd, cwd=study["root"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _stages(root: Path, monkeypatch) -> dict:
    monkeypatch.chdir(root)
    config = load_study_config(REPO / "config/smoke.yaml")
    runs, _ = study_status(config, None, gate_states(config))
    return {f"{r.suite}/{r.exp}/seed{r.seed}": r for r in runs}


def test_a_running_trainings_curves_show_in_the_browser_and_status_follows_it(study, chromium, monkeypatch):
    root, port = study["root"], _free_port()
    training = _train(study, RUN)
    serve = [
        "--logdir",
        "logs/smoke/curves",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--reload_interval",
        "1",
    ]
    board = subprocess.Popen(
        [str(BIN / "tensorboard"), *serve], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        url = f"{base}/data/plugin/scalars/scalars?run={RUN}&tag=world/world_gate"
        points = _wait("world_gate curve", lambda: _points(_browse(chromium, url, root / "chr")) or None, 300,
                       training)  # fmt: skip
        running = _stages(root, monkeypatch)[RUN]
        assert training.poll() is None, "the curve was read after the training ended"
        assert running.stage == "training" and 0 < running.train.done < running.train.total == 400
        assert running.train.detail.startswith("process ") and running.train.detail.endswith(" runs")
        metrics = root / f"results/smoke/{RUN}/train.partial/run/metrics.jsonl"
        logged = {r["step"]: r for r in map(json.loads, metrics.read_text().splitlines())}
        _, step, value = points[0]
        assert value == pytest.approx(logged[step]["world_gate"], rel=1e-6, abs=1e-9)  # the metric itself
        page = f"{base}/?tagFilter=world_gate#timeseries"  # the card of one curve, for every run
        for render_s in (15, 30, 60):  # virtual time to fetch and draw (longer on a busy machine)
            dom = _browse(chromium, page, root / "chr", render_s=render_s)
            if RUN in dom and "world/world_gate" in dom:
                break
        assert RUN in dom and "world/world_gate" in dom, "the page shows no world_gate card of the run"
    finally:
        os.killpg(training.pid, signal.SIGKILL)  # a node lost: no attempt end, the lease left behind
        training.wait()
        board.terminate()
        board.wait()
    killed = _wait("the killed training seen as interrupted", lambda: (
        r if (r := _stages(root, monkeypatch)[RUN]).stage == "interrupted" else None), 30)  # fmt: skip
    assert killed.train.done >= running.train.done and killed.train.total == 400


def test_a_failed_training_is_named_with_its_log_and_error(study, monkeypatch):
    run = "libero_spatial/E1/seed0"
    failed = _train(study, run, "--policy.world_dim=63")  # not the cache's width
    assert failed.wait(timeout=600) != 0
    status = _stages(study["root"], monkeypatch)[run]
    assert status.stage == "failed" and status.train.log == f"logs/smoke/{run}/train.log"
    assert "Error" in status.train.detail and not status.train.detail.startswith("===")
