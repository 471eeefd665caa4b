"""`lerobot-wm-train`: LeRobot's own `lerobot-train` with the project's defaults filled in.

Adds, unless given explicitly:
  --total_samples=N             fixed sample budget: --steps = N / batch_size, the same for every run
  --policy.world_log_freq       = --log_freq, so world metrics are computed exactly on logging steps
  --policy.world_metrics_file   = <output_dir>/metrics.jsonl (smolvla_world policies)
Everything else goes to `lerobot-train` unchanged.
"""

import sys

from wmvla.errors import WmvlaError

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
    args = [a for a in argv if not a.startswith("--total_samples=")]
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


def main() -> int:
    import logging

    from wmvla.libero_setup import apply_environment_defaults

    try:
        args = lerobot_train_args(sys.argv[1:])
    except TrainArgsError as err:
        logging.basicConfig()
        logging.getLogger("lerobot-wm-train").error("%s", err)
        return 2
    apply_environment_defaults()
    from lerobot.scripts import lerobot_train

    sys.argv = ["lerobot-train", *args]
    lerobot_train.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
