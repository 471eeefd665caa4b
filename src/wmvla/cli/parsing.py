"""The one way a command is declared: handler, name, help and flags side by side in its group's module."""

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], None]
ENFORCE = {"choices": ("true", "false"), "required": True, "help": "false: record a failure, go on"}


def command(
    group: argparse._SubParsersAction, name: str, handler: Handler, help: str
) -> argparse.ArgumentParser:
    sub = group.add_parser(name, help=help, description=help)
    sub.set_defaults(func=handler)
    return sub


def subgroup(groups: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    return groups.add_parser(name, help=help).add_subparsers(required=True)


def is_true(value: str) -> bool:
    return value == "true"
