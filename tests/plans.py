"""Run the checkout's workflow with Snakemake and read its dry-run plan (jobs per rule)."""

import re
import subprocess
from pathlib import Path


def snakemake(snakemake_bin: str, repo: Path, *args: str, cwd: Path | None = None, timeout: int = 120):
    """`snakemake --snakefile <repo>/Snakefile *args` (add `-n` for a plan), output captured as text."""
    cmd = [snakemake_bin, "--snakefile", str(repo / "Snakefile"), *args]
    return subprocess.run(cmd, cwd=cwd or repo, capture_output=True, text=True, timeout=timeout)


def job_counts(stdout: str) -> dict[str, int]:
    """Rule → number of planned jobs (the table's `total` row left out)."""
    if "Job stats:" not in stdout:
        return {}  # "Nothing to be done"
    table = stdout.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def planned_jobs(config: dict, figures: int) -> dict[str, int]:
    """Rule → jobs a study's dry run plans, counted from its config as the DAG is laid out (DESIGN.md §5), so
    that an arm added to a shipped config changes the expectation with the plan: per arm a gate and its
    clearance; per run (suite × seed × arm) a training, an offline check and an evaluation per rollout mode;
    per encoder a latent cache and its gate; per suite a scene check (and, fine-tuning an init, its gate);
    per perturbed suite (suite × kind) a scene check and its clearance, per perturbed run and kind an
    evaluation; the Hub artifacts (or the tiny models and the recorded dataset); one job of each study-wide
    step. Rules with no job are left out, as in the plan."""
    from wmvla.study.artifacts import study_artifacts
    from wmvla.study.config import study_encoders
    from wmvla.study.tiny_models import TINY_MODELS

    arms, suites, seeds = config["experiments"], config["suites"], config["seeds"]
    runs, encoders, init = len(suites) * len(seeds), study_encoders(config), bool(config["policy"]["init"])
    axis = config.get("perturbations") or {}
    variants = len(suites) * len(axis.get("kinds", []))
    models = dict.fromkeys([config["policy"]["vlm_model_name"], *encoders])
    counts = {
        "all": 1,
        "hub": len(study_artifacts(config)),
        "init_checkpoint": int(init),
        "tiny_model": sum(name in TINY_MODELS for name in models),
        "dataset": int(config["dataset"]["source"] == "record"),
        "latents": len(encoders),
        "preflight": 1,
        "gate_scene": len(suites) + variants,
        "gate_experiment": len(arms),
        "gate_latents": len(encoders),
        "gate_init_policy": len(suites) * init,
        "study_gates": 1,
        "experiment_cleared": len(arms),
        "perturbation_cleared": variants,
        "gates": 1,
        "train": runs * len(arms),
        "eval": runs * sum(len(spec["eval_modes"]) for spec in arms.values()),
        "eval_perturbed": variants * len(seeds) * len(axis.get("experiments", [])),
        "offline_check": runs * len(arms),
        "tables": 1,
        "verdicts": 1,
        "cost": 1,
        "figure": figures,
    }
    return {rule: n for rule, n in counts.items() if n}


WORKFLOW_FILES = ("Snakefile", "rules", "config", "report", "dvc.yaml", ".dvcignore", ".dvc/config")


def copy_workflow(repo: Path, root: Path) -> Path:
    """The workflow files of the checkout, copied to `root` (a study directory of its own)."""
    import shutil

    for name in WORKFLOW_FILES:
        source, target = repo / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return root
