"""A study whose inputs come from a Hub: the full study's artifacts (replicas with tiny weights, served by a
local Hub server) pinned by `wmvla hub lock`, fetched by the hub stage, and every later job run offline.

Why its own study: the smoke study builds its models and records its data, and trains from scratch, so it
never takes the path of the real run — locked snapshots as the Hub client leaves them, the init checkpoint's
saved processors (which name their tokenizer by Hub id), E0 fine-tuned through `--policy.path`, the
world-branch arms from the same init, the init-policy gate. This one does, with the full study's config
narrowed to one suite, one seed and E0, E1 and E2, sized for a CPU.
"""

import copy
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import hub_replicas
from .hub_server import HubServer
from .plans import copy_workflow

CONFIG = "config/hub.yaml"
REPORT = "results/hub/report.html"
TINY_WORLD = {
    "world_prophet_width": 64,
    "world_prophet_heads": 4,
    "world_fusion_heads": 4,
    "world_prefix_num_heads": 4,
}


def hub_study_config(full: dict) -> dict:
    """The full study's config (its Hub artifacts, init, VLM, tokenizer, encoder and analysis) narrowed and
    sized for a CPU: libero_spatial, seed 0, E0/E1/E2 on V-JEPA 2 ViT-g latents, 20 training steps."""
    config = copy.deepcopy(full)
    config["study"] = "hub"
    config["world"].update(encoder_revisions={"vjepa2-vitg": "main"}, batch_size=32, shard_size=64)
    config["policy"].update(device="cpu", args={"push_to_hub": False})
    config["train"] = {
        "total_samples": 40, "batch_size": 2, "num_workers": 0, "log_freq": 5, "save_freq": 20,
        "keep_checkpoints": 1,
    }  # fmt: skip
    config["suites"], config["seeds"] = ["libero_spatial"], [0]
    world = {**full["experiments"]["E2"]["policy_args"], **TINY_WORLD}
    config["experiments"] = {
        "E0": full["experiments"]["E0"],
        "E1": {**full["experiments"]["E1"], "policy_args": {**world, "world_memory_mode_train": "learned"}},
        "E2": {**full["experiments"]["E2"], "policy_args": world, "eval_modes": ["pred"]},
    }
    config["eval"].update(
        n_episodes=1, batch_size=1, async_envs=False, videos_per_task=0, task_ids={"libero_spatial": [0]},
        episode_length=30, image_size=hub_replicas.IMAGE,
    )  # fmt: skip
    config["offline_check"] = {"holdout_every": 4, "batch_size": 8, "max_batches": 1}
    config["preflight"].update(min_bf16_tflops=1, checkpoint_gb=0.01, video_mb=0.05, jobs_per_node=2)
    # the init replica has random weights: it never succeeds, so its gate asks for nothing above zero
    config["gates"].update(init_episodes_per_task=1, min_init_sr=0.0, train_steps=2)
    config["gates"]["scene"]["reference_episodes"] = 2
    small = {"gpu": 0, "mem_mb": 4000, "runtime": 30, "cpus": 1}
    config["resources"] = {stage: dict(small) for stage in full["resources"]}
    return config


@dataclass
class HubStudy:
    root: Path  # the study's checkout
    endpoint: str  # the Hub server it was locked and fetched from (stopped once the hub stage ran)
    home: Path  # the HOME every command of the study ran with (empty before)
    snakemake_bin: str
    shas: dict[str, str] = field(default_factory=dict)  # artifact key → the replica's commit

    def env(self, online: bool) -> dict[str, str]:
        env = {**os.environ, "HOME": str(self.home), "HF_ENDPOINT": self.endpoint}
        env.pop("HF_HUB_OFFLINE", None)  # the Snakefile sets it for every job; the hub stage lifts it
        return {**env, "HF_HUB_OFFLINE": "0"} if online else env

    def run(self, *args: str, online: bool = False, timeout: int = 1800) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args), cwd=self.root, env=self.env(online), capture_output=True, text=True, timeout=timeout
        )

    def snakemake(self, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
        return self.run(self.snakemake_bin, *args, "--cores", "2", "--configfile", CONFIG, timeout=timeout)

    def wmvla(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(str(Path(sys.executable).parent / "wmvla"), *args, online=True, timeout=600)


def build(repo: Path, snakemake_bin: str, root: Path) -> None:
    """The whole Hub-sourced study: replicas published on a local server, a checkout of the workflow with the
    hub study's config, `wmvla hub lock` and the hub stage against the server; then, the server stopped,
    every other job and the report. Each step's outcome goes to `<root>/build.json`; a failed step ends it."""
    server = HubServer(root / "server")
    replicas = root / "replicas"
    keys = tuple(k for k in hub_replicas.FULL_STUDY if k != "encoder.cosmos-cv8x8x8")  # E2_cosmos not run
    shas = hub_replicas.publish_models(server, replicas, keys)
    shas["dataset"] = server.add(
        "dataset", hub_replicas.hub_id("dataset"), hub_replicas.dataset(replicas / "data")
    )
    study = HubStudy(copy_workflow(repo, root / "study"), server.endpoint, root / "home", snakemake_bin, shas)
    full = yaml.safe_load((repo / "config/config.yaml").read_text())
    (study.root / CONFIG).write_text(yaml.safe_dump(hub_study_config(full), sort_keys=False))
    study.home.mkdir()
    outcome = {"root": str(study.root), "endpoint": server.endpoint, "home": str(study.home), "shas": shas}
    steps = outcome["steps"] = []
    manifests = [f"results/hub/hub/manifests/{key}.json" for key in shas]
    server.start()
    try:
        for name, step in (
            ("lock", lambda: study.wmvla("hub", "lock", CONFIG)),
            ("hub stage", lambda: study.snakemake(*manifests)),  # the only jobs with network
            ("stop the server", lambda: server.stop()),  # from here on, nothing can reach a Hub
            ("study", lambda: study.snakemake()),
            ("report", lambda: study.run(snakemake_bin, "--configfile", CONFIG, "--report", REPORT)),
        ):
            started = time.monotonic()
            done = step()
            code = done.returncode if done is not None else 0
            steps.append({"step": name, "returncode": code, "seconds": round(time.monotonic() - started, 1),
                          "stderr": done.stderr[-6000:] if done is not None else ""})  # fmt: skip
            if code:
                break
    finally:
        server.stop()
        (root / "build.json").write_text(json.dumps(outcome, indent=2))


def load(root: Path, snakemake_bin: str) -> tuple[HubStudy, list[dict]]:
    """The built study and its steps' outcomes (tests/conftest.py builds it in the background)."""
    outcome = json.loads((root / "build.json").read_text())
    study = HubStudy(Path(outcome["root"]), outcome["endpoint"], Path(outcome["home"]), snakemake_bin)
    study.shas = outcome["shas"]
    return study, outcome["steps"]


if __name__ == "__main__":  # python -m tests.hub_study <root> <snakemake>: what the test session starts
    from wmvla.sim.setup import apply_environment_defaults

    apply_environment_defaults()
    build(Path(__file__).resolve().parents[1], sys.argv[2], Path(sys.argv[1]))
