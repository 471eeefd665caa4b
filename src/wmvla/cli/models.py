"""`wmvla models tiny`: write a tiny random-weight model directory (what the smoke study runs on)."""

import argparse
from pathlib import Path

from wmvla.cli.parsing import command, subgroup
from wmvla.study.tiny_models import MODELS_WITH_TINY, tiny_builder


def _tiny(args: argparse.Namespace) -> None:
    from wmvla.models import tiny
    from wmvla.provenance import provenance

    with provenance(args.out, {"model": args.model}):
        getattr(tiny, tiny_builder(args.model))(args.out)


def register(groups: argparse._SubParsersAction) -> None:
    models = subgroup(groups, "models", "model files")
    p = command(models, "tiny", _tiny, "write a tiny random-weight model directory")
    p.add_argument("--model", choices=MODELS_WITH_TINY, required=True, help="the model to stand in for")
    p.add_argument("--out", type=Path, required=True)
