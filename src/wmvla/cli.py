"""`wmvla` command line: thin argument parsing around the library; Snakemake rules call these."""

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from wmvla.errors import WmvlaError, exit_status
from wmvla.libero_setup import apply_environment_defaults

log = logging.getLogger("wmvla")


def _cmd_setup_libero(args: argparse.Namespace) -> None:
    from wmvla.libero_setup import install_libero_config

    print(install_libero_config(args.config_dir))


def _cmd_setup_rocm(args: argparse.Namespace) -> None:
    import shlex
    import subprocess

    from wmvla.rocm import check_installed, install_command

    command = install_command(sys.executable, args.constraints, args.rocm)
    print(shlex.join(command))
    if args.dry_run:
        return
    if subprocess.run(command, check=False).returncode:
        raise WmvlaError("pip could not install torch's ROCm build (see above); nothing else was changed")
    log.info("%s", check_installed(sys.executable, args.constraints))


def _cmd_tiny_model(args: argparse.Namespace) -> None:
    from wmvla import tiny_models
    from wmvla.provenance import provenance

    build = {
        "smolvlm": tiny_models.build_tiny_smolvlm,
        "vjepa2": tiny_models.build_tiny_vjepa2,
        "cosmos": tiny_models.build_tiny_cosmos,
    }[args.kind]
    with provenance(args.out, {"kind": args.kind}):
        build(args.out)


def _cmd_record_smoke(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from wmvla.data.checks import check_libero_dataset
    from wmvla.data.record_smoke import SmokeSpec, record_smoke_dataset
    from wmvla.provenance import provenance

    spec = SmokeSpec(
        repo_id=args.repo_id,
        suite=args.suite,
        task_ids=tuple(args.task_ids),
        episodes_per_task=args.episodes_per_task,
        steps_per_episode=args.steps,
        image_size=args.image_size,
        seed=args.seed,
    )
    with provenance(args.out, asdict(spec)):
        record_smoke_dataset(args.out, spec)
        summary = check_libero_dataset(args.out)
    log.info("recorded %d episodes, %d frames", summary.num_episodes, summary.num_frames)


def _cmd_check(args: argparse.Namespace) -> None:
    from wmvla.data.checks import check_libero_dataset

    print(json.dumps(check_libero_dataset(args.root).to_json(), indent=2))


def _cmd_episodes(args: argparse.Namespace) -> None:
    from wmvla.data.suites import split_episodes, suite_episodes

    episodes = split_episodes(suite_episodes(args.root, args.suite), args.split, args.holdout_every)
    print("[" + ",".join(map(str, episodes)) + "]")


def _cmd_latents_build(args: argparse.Namespace) -> None:
    from wmvla.latents.cache import CacheRequest, build_cache
    from wmvla.latents.encoders import load_encoder
    from wmvla.provenance import provenance

    request = CacheRequest(args.repo_id, args.encoder, args.window, args.camera)
    config = {**request.__dict__, "batch_size": args.batch_size, "shard_size": args.shard_size}
    with provenance(args.out, config) as facts:
        report = build_cache(
            args.dataset,
            request,
            load_encoder(args.encoder, args.encoder_path),
            args.out,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            allow_nonfinite=args.allow_nonfinite,
        )
        facts.update(clips_encoded=report.clips_encoded, frames_decoded=report.frames_decoded)


def _cmd_offline(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from wmvla.data.suites import split_episodes, suite_episodes
    from wmvla.eval.offline import OfflineRequest, run_offline_check
    from wmvla.eval.results import write_result
    from wmvla.provenance import now, provenance_record

    started = now()
    request = OfflineRequest(
        checkpoint=args.checkpoint,
        dataset=args.dataset,
        repo_id=args.repo_id,
        episodes=split_episodes(suite_episodes(args.dataset, args.suite), "holdout", args.holdout_every),
        batch_size=args.batch_size,
        max_batches=args.max_batches,
        seed=args.seed,
        device=args.device,
    )
    check = run_offline_check(request)
    config = {**asdict(request), "suite": args.suite, "holdout_every": args.holdout_every}
    write_result({**check, "provenance": provenance_record(config, started)}, args.out)
    for row in check["modes"]:
        log.info("%-8s action loss %.4f over %d frames", row["mode"], row["action_loss"], row["n_frames"])


def _cmd_report_tables(args: argparse.Namespace) -> None:
    from wmvla.analysis.design import Design
    from wmvla.analysis.report import build_tables, write_tables

    design = Design.from_json(args.design)
    frames = build_tables(args.evals, args.offline, args.metrics, design, args.study, args.gates)
    for path in write_tables(frames, args.out):
        log.info("wrote %s", path)


def _cmd_report_verdicts(args: argparse.Namespace) -> None:
    from wmvla.analysis.design import Design
    from wmvla.analysis.report import read_tables
    from wmvla.analysis.verdicts import verdicts

    frame = verdicts(read_tables(args.tables), Design.from_json(args.design))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    for row in frame.itertuples():
        log.info("%s %s — %s", row.id, row.verdict.upper(), row.reason)


def _cmd_report_figures(args: argparse.Namespace) -> None:
    from wmvla.analysis.figures import draw
    from wmvla.analysis.report import read_tables

    for path in draw(args.figures, read_tables(args.tables), args.experiments, args.out):
        log.info("wrote %s", path)


def _cmd_hub_lock(args: argparse.Namespace) -> None:
    from wmvla.hub import resolve_lock, study_artifacts, write_lock
    from wmvla.study_config import load_study_config

    config = load_study_config(args.configfile)
    artifacts = study_artifacts(config)
    if not artifacts:
        log.info("study %s names no Hub artifact; nothing to lock", config["study"])
        return
    write_lock(args.lock, config["study"], resolve_lock(artifacts))
    log.info("pinned %d artifact(s) of study %s in %s; commit it", len(artifacts), config["study"], args.lock)


def _cmd_hub_fetch(args: argparse.Namespace) -> None:
    from wmvla.data.checks import check_libero_dataset
    from wmvla.hub import Artifact, fetch, write_manifest
    from wmvla.provenance import now, provenance_record

    started = now()
    entry = json.loads(args.entry)
    sha = entry.pop("sha")
    artifact = Artifact(**{**entry, "files": tuple(entry["files"])})
    manifest = fetch(artifact, sha, args.cache)
    if artifact.repo_type == "dataset":
        check_libero_dataset(manifest["snapshot"])  # fail here, not in 180 trainings
    size = sum(f["bytes"] for f in manifest["files"])
    log.info(
        "%s: %d files, %.2f GB in %s", artifact.key, len(manifest["files"]), size / 1e9, manifest["snapshot"]
    )
    write_manifest({**manifest, "provenance": provenance_record({"entry": args.entry}, started)}, args.out)


def _cmd_hub_check(args: argparse.Namespace) -> None:
    from wmvla.hub import check_manifests

    check_manifests(args.manifests)


def _cmd_preflight(args: argparse.Namespace) -> None:
    from wmvla.gates import write_gates
    from wmvla.preflight import Footprint, PreflightRequest, failure, run_preflight

    info = json.loads((args.dataset / "meta" / "info.json").read_text())
    footprint = json.loads(args.footprint)
    request = PreflightRequest(
        device=args.device,
        suite=args.suite,
        image_size=args.image_size,
        manifests=tuple(args.manifests),
        results=args.results,
        dataset_frames=int(info["total_frames"]),
        footprint=Footprint(**{**footprint, "latent_dims": tuple(footprint["latent_dims"])}),
        min_bf16_tflops=args.min_bf16_tflops,
    )
    checks = run_preflight(request)
    for check in checks:
        (log.info if check.passed is not False else log.error)("%s", check.line)
    if error := failure(checks):
        raise error
    write_gates(args.out, checks)


def _cmd_sim_check(args: argparse.Namespace) -> None:
    from wmvla.data.suites import libero_suite
    from wmvla.eval.results import write_result
    from wmvla.scene_check import SceneCheckError, Tolerance, check_suite, reference_stats, scene_gate

    task_ids = args.task_ids or list(range(libero_suite(args.suite).n_tasks))
    reference, size = None, None
    if args.dataset:
        size = _dataset_image_size(args.dataset, args.camera)
        episodes = args.reference_episodes
        reference = reference_stats(args.dataset, args.suite, task_ids, args.camera, episodes, size)
    tolerance = Tolerance(args.tolerance_mean, args.tolerance_quantile)
    report = check_suite(args.suite, task_ids, args.init_states, args.image_size, reference, tolerance, size)
    write_result({**report.to_json(), "reference": reference, "tolerance": tolerance.__dict__}, args.report)
    gate = scene_gate(report)
    for violation in report.violations:
        log.error("%s", violation.line)
    n, seconds = len(report.checked), report.seconds
    log.info("%d scenes in %.0f s: %d violation(s)", n, seconds, len(report.violations))
    if args.gate_out:
        _record_gates([gate], args.enforce == "true", args.gate_out)
    elif report.violations:
        raise SceneCheckError(f"{len(report.violations)} scene violation(s) in {args.suite}; see above")


def _dataset_image_size(root: Path, camera: str) -> int:
    info = json.loads((root / "meta" / "info.json").read_text())
    return int(info["features"][camera]["shape"][0])


def _record_gates(gates: list, enforce: bool, out: Path) -> None:
    """Log every gate; fail with one line per failed gate when enforced, else write the record."""
    from wmvla.gates import GateFailure, write_gates

    for gate in gates:
        (log.info if gate.passed is not False else log.error)("%s", gate.line)
    failed = [g for g in gates if g.passed is False]
    if failed and enforce:
        raise GateFailure("\n".join(g.line for g in failed))
    write_gates(out, gates)


def _cmd_gates_experiment(args: argparse.Namespace) -> None:
    import tempfile

    from wmvla.gates import parity_gate, protocol_gate, train_steps_gate

    plan = json.loads(args.plan)
    gates = [parity_gate(plan, args.configs_dir)]
    resolved = json.loads((args.configs_dir / f"{plan['experiment']}.json").read_text())
    gates.append(protocol_gate(plan["experiment"], resolved, plan["n_action_steps"]))
    if args.train_steps:
        with tempfile.TemporaryDirectory(prefix="wmvla-gate-") as scratch:
            gates.append(train_steps_gate(plan, args.train_steps, Path(scratch)))
    _record_gates(gates, args.enforce == "true", args.out)


def _cmd_gates_latents(args: argparse.Namespace) -> None:
    from wmvla.gates import latent_gates

    gates = latent_gates(args.cache, args.max_consecutive_cos, args.min_relative_std)
    _record_gates(gates, args.enforce == "true", args.out)


def _cmd_gates_init_policy(args: argparse.Namespace) -> None:
    from wmvla.gates import init_policy_gate

    gate = init_policy_gate(json.loads(args.result.read_text()), args.min_sr)
    _record_gates([gate], args.enforce == "true", args.out)


def _cmd_gates_summary(args: argparse.Namespace) -> None:
    from wmvla.gates import Gate, summarise

    pairs = (item.partition("=") for item in args.skipped)
    skipped = [Gate(name, "not run", None, "—", None, f"skipped: {reason}") for name, _, reason in pairs]
    for gate in summarise(args.records, args.enforce == "true", args.out, skipped):
        (log.info if gate.passed is not False else log.warning)("%s", gate.line)


def _cmd_gpu_run(args: argparse.Namespace) -> None:
    from wmvla.gpu_run import run

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    raise SystemExit(run(args.gpus, command))


def _cmd_provenance(args: argparse.Namespace) -> None:
    from wmvla.provenance import write_provenance

    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as err:
        raise WmvlaError(f"--config is not JSON: {err}") from err
    write_provenance(args.dir, config, args.started_at)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wmvla", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    groups = parser.add_subparsers(dest="group", required=True)

    def command(group: argparse._SubParsersAction, name: str, func: Callable, help: str):
        sub = group.add_parser(name, help=help, description=help)
        sub.set_defaults(func=func)
        return sub

    setup = groups.add_parser("setup", help="machine set-up steps").add_subparsers(required=True)
    p = command(setup, "libero", _cmd_setup_libero, "link LIBERO assets, write LIBERO's config")
    p.add_argument("--config-dir", type=Path, default=None, help="default: <venv>/libero")
    p = command(setup, "rocm-torch", _cmd_setup_rocm, "replace torch by its ROCm build of the pinned version")
    p.add_argument(
        "--rocm", default=None, help="ROCm version (default: the one the pinned torch is built for)"
    )
    p.add_argument("--constraints", type=Path, default=Path("constraints.txt"))
    p.add_argument("--dry-run", action="store_true", help="print the pip command, install nothing")

    models = groups.add_parser("models", help="model files").add_subparsers(required=True)
    p = command(models, "tiny", _cmd_tiny_model, "write a tiny random-weight model directory")
    p.add_argument("--kind", choices=["smolvlm", "vjepa2", "cosmos"], required=True)
    p.add_argument("--out", type=Path, required=True)

    data = groups.add_parser("data", help="datasets").add_subparsers(required=True)
    p = command(data, "record-smoke", _cmd_record_smoke, "record the smoke dataset in LIBERO")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--repo-id", default="wmvla/libero_smoke")
    p.add_argument("--suite", default="libero_spatial")
    p.add_argument("--task-ids", type=int, nargs="+", default=[0, 1])
    p.add_argument("--episodes-per-task", type=int, default=2)
    p.add_argument("--steps", type=int, default=40, help="env steps per episode")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p = command(data, "check", _cmd_check, "check a dataset against the LIBERO contract")
    p.add_argument("root", type=Path)

    p = command(data, "episodes", _cmd_episodes, "print the episode indices of one LIBERO suite")
    p.add_argument("root", type=Path)
    p.add_argument("--suite", required=True)
    p.add_argument("--split", choices=("all", "train", "holdout"), default="all")
    p.add_argument("--holdout-every", type=int, help="every n-th episode is held out (train/holdout splits)")

    sim = groups.add_parser("sim", help="the LIBERO simulator").add_subparsers(required=True)
    p = command(sim, "check", _cmd_sim_check, "scenes reset as the evaluation resets them are LIBERO's")
    p.add_argument("--suite", required=True)
    p.add_argument("--task-ids", type=int, nargs="*", default=None, help="default: every task of the suite")
    p.add_argument("--init-states", type=int, default=50, help="init states 0..n-1 of every task")
    p.add_argument("--image-size", type=int, default=256, help="as the evaluation renders")
    p.add_argument("--dataset", type=Path, default=None, help="training frames to compare first frames with")
    p.add_argument("--camera", default="observation.images.image")
    p.add_argument("--reference-episodes", type=int, default=5, help="training episodes per task")
    p.add_argument("--tolerance-mean", type=float, default=10.0, help="per channel, 0..255 levels")
    p.add_argument("--tolerance-quantile", type=float, default=20.0)
    p.add_argument("--report", type=Path, required=True, help="every scene's relations and frame statistics")
    p.add_argument("--gate-out", type=Path, default=None, help="write a gate record (the gates stage)")
    p.add_argument("--enforce", choices=("true", "false"), default="true")

    hub = groups.add_parser("hub", help="Hub artifacts: lock, fetch, check").add_subparsers(required=True)
    p = command(hub, "lock", _cmd_hub_lock, "pin every Hub artifact of a study to a commit (network)")
    p.add_argument("configfile", type=Path, help="the study config, e.g. config/config.yaml")
    p.add_argument("--lock", type=Path, default=Path("config/hub.lock.yaml"))
    p = command(hub, "fetch", _cmd_hub_fetch, "download one locked artifact into the study's cache (network)")
    p.add_argument("--entry", required=True, help="JSON: the artifact and its locked sha")
    p.add_argument("--cache", type=Path, required=True, help="the study's Hugging Face cache")
    p.add_argument("--out", type=Path, required=True, help="the manifest the jobs check")
    p = command(hub, "check", _cmd_hub_check, "every fetched file of these artifacts is in the offline cache")
    p.add_argument("manifests", type=Path, nargs="*", help="manifests written by the hub stage")

    p = command(
        groups, "preflight", _cmd_preflight, "check a node before any GPU job: GPUs, render, cache, disk"
    )
    p.add_argument(
        "manifests", type=Path, nargs="*", help="the hub stage's manifests (none: nothing from the Hub)"
    )
    p.add_argument("--device", choices=("cuda", "cpu"), required=True)
    p.add_argument("--suite", required=True, help="the LIBERO suite whose first scene is rendered")
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument(
        "--dataset", type=Path, required=True, help="the dataset (its frame count sizes the caches)"
    )
    p.add_argument("--results", type=Path, required=True, help="the study's results root")
    p.add_argument("--footprint", required=True, help="JSON of wmvla.preflight.Footprint")
    p.add_argument("--min-bf16-tflops", type=float, required=True)
    p.add_argument("--out", type=Path, required=True)

    gates = groups.add_parser("gates", help="sanity gates before training").add_subparsers(required=True)
    enforce = {"choices": ("true", "false"), "required": True, "help": "false: record a failure, go on"}
    p = command(gates, "experiment", _cmd_gates_experiment, "one experiment: parity, a few training steps")
    p.add_argument("--plan", required=True, help="JSON of workflow.experiment_gate_plan")
    p.add_argument("--train-steps", type=int, default=0, help="steps of lerobot-wm-train (0: none)")
    p.add_argument("--configs-dir", type=Path, required=True, help="the resolved config is saved here")
    p.add_argument("--enforce", **enforce)
    p.add_argument("--out", type=Path, required=True)
    p = command(gates, "latents", _cmd_gates_latents, "the latent cache is finite and informative")
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--max-consecutive-cos", type=float, required=True)
    p.add_argument("--min-relative-std", type=float, required=True)
    p.add_argument("--enforce", **enforce)
    p.add_argument("--out", type=Path, required=True)
    p = command(gates, "init-policy", _cmd_gates_init_policy, "the init policy's success rate, unchanged")
    p.add_argument("--result", type=Path, required=True, help="its lerobot-wm-eval result (pred.json)")
    p.add_argument("--min-sr", type=float, required=True)
    p.add_argument("--enforce", **enforce)
    p.add_argument("--out", type=Path, required=True)
    p = command(gates, "summary", _cmd_gates_summary, "gather gate records; fail on failed enforced gates")
    p.add_argument("records", type=Path, nargs="*", help="gate record files")
    p.add_argument("--skipped", nargs="*", default=[], help="NAME=REASON of gates that do not apply")
    p.add_argument("--enforce", **enforce)
    p.add_argument("--out", type=Path, required=True)

    p = command(groups, "gpu-run", _cmd_gpu_run, "run a job's command on exactly one visible GPU")
    p.add_argument("--gpus", type=int, required=True, help="GPUs the job asked for (0: run as is)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")

    p = command(groups, "provenance", _cmd_provenance, "write provenance.json for a finished artifact")
    p.add_argument("dir", type=Path)
    p.add_argument("--config", required=True, help="JSON describing what made the artifact")
    p.add_argument("--started-at", required=True, help="ISO time the job started")

    evaluation = groups.add_parser("eval", help="offline evaluation").add_subparsers(required=True)
    p = command(evaluation, "offline", _cmd_offline, "held-out action loss under every memory mode")
    p.add_argument("--checkpoint", type=Path, required=True, help="…/checkpoints/<step>/pretrained_model")
    p.add_argument("--dataset", type=Path, required=True, help="LeRobot dataset directory")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--suite", required=True)
    p.add_argument("--holdout-every", type=int, required=True, help="as in training's split")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-batches", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--out", type=Path, required=True, help="results/<study>/<suite>/<exp>/seed<s>/offline.json"
    )

    report = groups.add_parser("report", help="tables and figures").add_subparsers(required=True)
    p = command(report, "tables", _cmd_report_tables, "aggregate results into results/<study>/tables/*.csv")
    p.add_argument("--study", default=None, help="refuse inputs whose provenance names another study")
    p.add_argument("--gates", type=Path, default=None, help="the gates summary (gates.json)")
    p.add_argument("--evals", type=Path, nargs="+", required=True, help="eval/<mode>.json files")
    p.add_argument("--offline", type=Path, nargs="*", default=[], help="offline.json files")
    p.add_argument("--metrics", type=Path, nargs="*", default=[], help="train/metrics.jsonl files")
    p.add_argument("--design", default="{}", help="JSON of wmvla.analysis.design.Design (roles, thresholds)")
    p.add_argument("--out", type=Path, required=True)
    p = command(report, "verdicts", _cmd_report_verdicts, "one verdict per criterion of the seed notes")
    p.add_argument("--tables", type=Path, required=True)
    p.add_argument("--design", required=True, help="JSON of wmvla.analysis.design.Design")
    p.add_argument("--out", type=Path, required=True, help="results/<study>/tables/verdicts.csv")
    p = command(
        report, "figures", _cmd_report_figures, "draw results/<study>/figures/*.png|svg from the tables"
    )
    p.add_argument("--tables", type=Path, required=True)
    p.add_argument("--figures", nargs="+", required=True, help="names of the figures to draw")
    p.add_argument("--experiments", nargs="+", required=True, help="experiments in colour order")
    p.add_argument("--out", type=Path, required=True)

    latents = groups.add_parser("latents", help="world latent caches").add_subparsers(required=True)
    p = command(latents, "build", _cmd_latents_build, "encode every frame's clip into a latent cache")
    p.add_argument("--dataset", type=Path, required=True, help="LeRobot dataset directory")
    p.add_argument("--repo-id", required=True, help="the dataset's repo id (recorded and checked)")
    p.add_argument("--encoder", required=True, help="registered encoder name, e.g. vjepa2-vitg")
    p.add_argument("--encoder-path", type=Path, default=None, help="the encoder's model directory")
    p.add_argument("--window", type=int, default=4, help="frames per clip (temporal_window m)")
    p.add_argument("--camera", default="observation.images.image")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=4096, help="rows per shard (resume granularity)")
    p.add_argument("--allow-nonfinite", action="store_true", help="keep a cache with NaN/inf rows")
    p.add_argument("--out", type=Path, required=True)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    apply_environment_defaults()
    return exit_status(lambda: args.func(args), log)


if __name__ == "__main__":
    sys.exit(main())
