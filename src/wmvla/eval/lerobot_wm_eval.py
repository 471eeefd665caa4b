"""`lerobot-wm-eval`: `lerobot-eval`'s command line, evaluated episode by episode and resumably.

Same options as `lerobot-eval` (`--policy.path`, `--policy.<key>=...` overrides, `--env.*`, `--eval.*`,
`--seed`) plus `--result=<dir>/eval/<mode>.json` and `--videos_per_task=k`. See `wmvla.eval.runner`.
"""

import logging
import sys

from wmvla.errors import exit_status

log = logging.getLogger("lerobot-wm-eval")


def main() -> int:
    from wmvla.sim.setup import apply_environment_defaults

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
