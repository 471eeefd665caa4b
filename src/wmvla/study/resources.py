"""What the study asks of the cluster: each job's resources (config section `resources`) and its disk.

Why from the config: the same study runs as Slurm jobs with GPUs (mi300x profile) and on a laptop CPU
(smoke); the executor reads `gpu`, `cpus_per_gpu`/`cpus_per_task`, `mem_mb` and `runtime` from here.
"""

from wmvla.latents.registry import encoder_spec
from wmvla.study.config import experiment, runs, study_encoders

# Tasks per LIBERO suite (LIBERO's benchmark definition), known without importing LIBERO.
LIBERO_TASKS = {
    "libero_spatial": 10,
    "libero_object": 10,
    "libero_goal": 10,
    "libero_10": 10,
    "libero_90": 90,
}
# LIBERO's episode limit per suite (LeRobot's TASK_SUITE_MAX_STEPS), for episodes that never succeed.
LIBERO_MAX_STEPS = {
    "libero_spatial": 280,
    "libero_object": 280,
    "libero_goal": 300,
    "libero_10": 520,
    "libero_90": 400,
}


def eval_tasks(config: dict, suite: str) -> int:
    """Tasks one evaluation of `suite` runs: the config's `eval.task_ids` for it, else all of the suite's."""
    return len(config["eval"]["task_ids"].get(suite, [])) or LIBERO_TASKS[suite]


def job_resources(config: dict, stage: str) -> dict[str, int]:
    """Snakemake resources of one stage's jobs: a GPU job's CPUs are per GPU, a CPU job's per task."""
    res = config["resources"][stage]
    cpus = {"cpus_per_gpu": res["cpus"]} if res["gpu"] else {"cpus_per_task": res["cpus"]}
    return {"gpu": res["gpu"], "mem_mb": res["mem_mb"], "runtime": res["runtime"], **cpus}


def footprint(config: dict) -> dict:
    """What the study will write besides the Hub cache (the fields of `wmvla.gates.preflight.Footprint`):
    checkpoints, latent caches (sized by the dataset's frames, known on the node), evaluations.

    Evaluations under perturbation are left out: this footprint is on the preflight's command line, so
    counting them would rerun the preflight when the axis is added to a built study, and after it the
    study-wide gates and every experiment's clearance; they are ~0.3% of it (the full study: 144 results and
    2,880 videos, ~3 GB, beside 1,150 GB of checkpoints)."""
    ev = config["eval"]
    evaluations = [(s, m) for s, e, _ in runs(config) for m in experiment(config, e)["eval_modes"]]
    tasks = {s: eval_tasks(config, s) for s in config["suites"]}
    videos = sum(tasks[suite] for suite, _ in evaluations) * min(ev["videos_per_task"], ev["n_episodes"])
    return {
        "runs": len(runs(config)),
        "checkpoints_per_run": config["train"]["keep_checkpoints"] + 1,  # + the one being written
        "checkpoint_gb": config["preflight"]["checkpoint_gb"],
        "latent_dims": [encoder_spec(name).dim for name in study_encoders(config)],
        "evaluations": len(evaluations),
        "videos": videos,
        "video_mb": config["preflight"]["video_mb"],
    }
