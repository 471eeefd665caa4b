"""`lerobot-wm-train`: LeRobot's own `lerobot-train` with the project's defaults filled in.

Adds, unless given explicitly:
  --total_samples=N             fixed sample budget: --steps = N / batch_size, the same for every run
  --policy.world_log_freq       = --log_freq, so world metrics are computed exactly on logging steps
  --policy.world_metrics_file   = <output_dir>/metrics.jsonl (smolvla_world policies)
  --config_path=<base>          for a smolvla_world policy with --policy.init_from_policy_path=<smolvla
                                checkpoint>: that checkpoint's own policy config, retyped smolvla_world, as
                                the base the --policy.* overrides apply to — exactly what E0 gets from
                                --policy.path, so the arms differ only in the world branch
With --output_dir (and checkpoints saved), the run is resumable (wmvla.train.run): it works in
<output_dir>.partial/, a rerun resumes from its newest checkpoint through LeRobot's --resume, and the
finished run is moved to <output_dir>. Own options: --keep_checkpoints=K (newest kept while training,
default 1), --start_over=true (discard an unfinished run) and --curves_dir=DIR (the run's TensorBoard curves;
its progress is written either way: wmvla.train.progress).
Everything else goes to `lerobot-train` unchanged.
"""

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wmvla.errors import WmvlaError

OWN_OPTIONS = ("--keep_checkpoints=", "--start_over=", "--curves_dir=")  # the wrapper's, never LeRobot's
LEROBOT_DEFAULT_LOG_FREQ = 200
LEROBOT_DEFAULT_BATCH_SIZE = 8


class TrainArgsError(WmvlaError, ValueError):
    """The wrapper's own arguments are inconsistent."""


def _value(args: list[str], key: str) -> str | None:
    prefix = f"--{key}="
    found = [a[len(prefix) :] for a in args if a.startswith(prefix)]
    return found[-1] if found else None


def lerobot_train_args(argv: list[str]) -> list[str]:
    """Translate wrapper arguments into `lerobot-train` arguments (pure; tested)."""
    bad = [a for a in argv if a.startswith("--") and "=" not in a and a not in ("--help", "-h")]
    if bad:
        raise TrainArgsError(f"write options as --key=value (LeRobot's syntax); got {bad}")
    args = [a for a in argv if not a.startswith(("--total_samples=", *OWN_OPTIONS))]
    total = _value(argv, "total_samples")
    if total is not None:
        if _value(args, "steps") is not None:
            raise TrainArgsError("give either --total_samples or --steps, not both")
        batch = int(_value(args, "batch_size") or LEROBOT_DEFAULT_BATCH_SIZE)
        if int(total) % batch:
            raise TrainArgsError(f"--total_samples={total} is not a multiple of --batch_size={batch}")
        args.append(f"--steps={int(total) // batch}")
    if _value(args, "policy.type") == "smolvla_world":
        if _value(args, "policy.world_log_freq") is None:
            args.append(f"--policy.world_log_freq={_value(args, 'log_freq') or LEROBOT_DEFAULT_LOG_FREQ}")
        output_dir = _value(args, "output_dir")
        if _value(args, "policy.world_metrics_file") is None and output_dir:
            args.append(f"--policy.world_metrics_file={output_dir.rstrip('/')}/metrics.jsonl")
    return args


def init_base_config(init_path: str) -> dict:
    """The train-config base of a world-branch arm: the init's policy config, retyped smolvla_world.

    Loaded by LeRobot's own `PreTrainedConfig.from_pretrained` — what `--policy.path` does for E0 — so
    every SmolVLA field (chunk size, n_action_steps, denoising steps, image size, optimizer and scheduler
    presets, features…) is the checkpoint's; no list of fields to copy.
    """
    import draccus
    import lerobot.policies  # noqa: F401  (registers LeRobot's own policy types, smolvla among them)
    from lerobot.configs.policies import PreTrainedConfig

    init = PreTrainedConfig.from_pretrained(init_path)
    if init.type != "smolvla":
        raise TrainArgsError(f"init_from_policy_path={init_path} is a {init.type!r} checkpoint, not smolvla")
    policy = draccus.encode(init)
    policy.pop("pretrained_path", None)  # else LeRobot loads the policy from it; the plugin loads the weights
    return {"policy": {"type": "smolvla_world", **policy}}


def needs_init_base(args: list[str]) -> str | None:
    """The init checkpoint whose config a world-branch arm starts from, or None (no init, or resuming)."""
    if _value(args, "policy.type") != "smolvla_world" or _value(args, "config_path") is not None:
        return None
    return _value(args, "policy.init_from_policy_path")


@contextmanager
def lerobot_argv(argv: list[str]) -> Iterator[list[str]]:
    """The complete `lerobot-train` arguments, with the init base config written while they are in use."""
    args = lerobot_train_args(argv)
    init = needs_init_base(args)
    if init is None:
        yield args
        return
    with tempfile.TemporaryDirectory(prefix="wmvla-train-") as tmp:
        base = Path(tmp) / "init_policy_config.json"
        base.write_text(json.dumps(init_base_config(init), indent=2))
        yield [*args, f"--config_path={base}"]


def own_options(argv: list[str]) -> tuple[list[str], int, bool, Path | None]:
    """The wrapper's own options (--keep_checkpoints, --start_over, --curves_dir) and the rest."""
    keep = int(_value(argv, "keep_checkpoints") or 1)
    start_over = (_value(argv, "start_over") or "false").lower() == "true"
    curves = _value(argv, "curves_dir")
    rest = [a for a in argv if not a.startswith(OWN_OPTIONS)]
    return rest, keep, start_over, Path(curves) if curves else None


def _lerobot_train(args: list[str]) -> None:
    from lerobot.scripts import lerobot_train

    sys.argv = ["lerobot-train", *args]
    lerobot_train.main()


def train(argv: list[str]) -> bool:
    """Run lerobot-train; resumably when it writes checkpoints into an --output_dir (wmvla.train.run).
    False if an earlier job that held the run's lease already finished this very run (a job that finds the
    lease held stops at once, in a LeaseError, and never waits)."""
    import logging

    from wmvla.lease import lease
    from wmvla.train.progress import reporting
    from wmvla.train.run import PROGRESS_FILE, TrainRun, identity

    argv, keep, start_over, curves = own_options(argv)
    output = _value(argv, "output_dir")
    if output is None or (_value(argv, "save_checkpoint") or "true").lower() == "false":
        with lerobot_argv(argv) as args:
            _lerobot_train(args)
        return True
    run = TrainRun(Path(output), keep)
    argv = [a for a in argv if not a.startswith("--output_dir=")] + [f"--output_dir={run.run_dir}"]
    logger = logging.getLogger("lerobot-wm-train")
    with lerobot_argv(argv) as args, lease(run.lease, f"training {output}"):
        if _value(args, "steps") is None:
            raise TrainArgsError("a resumable run needs its length: give --steps or --total_samples")
        steps = int(_value(args, "steps"))
        base = _value(args, "config_path")
        run_identity = identity(args, json.loads(Path(base).read_text()) if base else None)
        if run.finished_as(run_identity):
            logger.warning("%s is this run, already finished by another job: nothing to do", output)
            return False
        how, step = run.plan(run_identity, start_over)
        if how == "resume":
            logger.warning("resuming %s at step %d of %d", output, step, steps)
            args = run.resume_args()
        with run.pruning(), reporting(run.partial / PROGRESS_FILE, steps, curves, step):
            _lerobot_train(args)
        run.finish(steps)
    return True


def main() -> int:
    import logging

    from wmvla.errors import exit_status
    from wmvla.sim.setup import apply_environment_defaults

    logging.basicConfig()
    apply_environment_defaults()
    return exit_status(lambda: train(sys.argv[1:]), logging.getLogger("lerobot-wm-train"))


if __name__ == "__main__":
    sys.exit(main())
