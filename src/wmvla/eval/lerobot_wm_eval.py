"""`lerobot-wm-eval`: `lerobot-eval`'s command line, evaluated episode by episode and resumably.

Same options as `lerobot-eval` (`--policy.path`, `--policy.<key>=...` overrides, `--env.*`, `--eval.*`,
`--seed`) plus `--result=<dir>/eval/<mode>.json` and `--videos_per_task=k`. See `wmvla.eval.runner`.
`--env.task` may name a LIBERO-PRO variant (`libero_spatial_lan`): this process then simulates with
LIBERO-PRO (`wmvla.sim.pro`), chosen from the command line before anything imports LIBERO.
"""

import logging
import sys

from wmvla.errors import exit_status

log = logging.getLogger("lerobot-wm-eval")


def env_task(argv: list[str]) -> str | None:
    """The last `--env.task` of a command line (`--env.task=x` or `--env.task x`), as LeRobot reads it."""
    found = None
    for i, arg in enumerate(argv):
        if arg.startswith("--env.task="):
            found = arg.split("=", 1)[1]
        elif arg == "--env.task" and i + 1 < len(argv):
            found = argv[i + 1]
    return found


def main() -> int:
    from wmvla.sim.pro import use_simulator_for
    from wmvla.sim.setup import apply_environment_defaults

    status = exit_status(lambda: use_simulator_for(env_task(sys.argv[1:]) or ""), log)
    if status:
        return status
    apply_environment_defaults()  # before anything imports LIBERO
    from lerobot.utils.import_utils import register_third_party_plugins
    from lerobot.utils.utils import init_logging

    from wmvla.eval.config import check_checkpoint_argument, parse_eval_config, validate
    from wmvla.eval.runner import Evaluation
    from wmvla.lease import lease, lease_path

    init_logging()
    register_third_party_plugins()

    def evaluate() -> None:
        check_checkpoint_argument(sys.argv[1:])
        cfg = parse_eval_config()
        validate(cfg)
        with lease(lease_path(cfg.result), f"evaluation {cfg.result}"):  # before its episode log is read
            Evaluation(cfg).run()

    return exit_status(evaluate, log)


if __name__ == "__main__":
    sys.exit(main())
