"""`wmvla` command line: thin argument parsing around the library; Snakemake rules call these.

One module per command group, each handler beside its flags; this module only assembles them.
"""

import argparse
import logging
import sys

from wmvla.cli import (
    cost,
    data,
    design,
    evaluation,
    gates,
    hub,
    jobs,
    latents,
    models,
    power,
    report,
    setup,
    sim,
    status,
    train,
)
from wmvla.errors import exit_status
from wmvla.sim.setup import apply_environment_defaults

log = logging.getLogger("wmvla")

GROUPS = (
    setup,
    models,
    data,
    sim,
    hub,
    latents,
    gates,
    train,
    evaluation,
    report,
    design,
    cost,
    power,
    status,
    jobs,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wmvla", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    groups = parser.add_subparsers(dest="group", required=True)
    for module in GROUPS:
        module.register(groups)
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
