"""`wmvla setup …`: machine set-up steps (LIBERO's offline config, LIBERO-PRO beside it, torch for ROCm)."""

import argparse
import logging
import shlex
import subprocess
import sys
from pathlib import Path

from wmvla.cli.parsing import command, subgroup
from wmvla.errors import WmvlaError

log = logging.getLogger("wmvla")


def _libero(args: argparse.Namespace) -> None:
    from wmvla.sim.setup import install_libero_config

    print(install_libero_config(args.config_dir))


def _libero_pro(args: argparse.Namespace) -> None:
    from wmvla.sim.pro_setup import install_libero_pro

    print(install_libero_pro())


def _rocm_torch(args: argparse.Namespace) -> None:
    from wmvla.cluster.rocm import check_installed, install_command

    pip = install_command(sys.executable, args.constraints, args.rocm)
    print(shlex.join(pip))
    if args.dry_run:
        return
    if subprocess.run(pip, check=False).returncode:
        raise WmvlaError("pip could not install torch's ROCm build (see above); nothing else was changed")
    log.info("%s", check_installed(sys.executable, args.constraints))


def register(groups: argparse._SubParsersAction) -> None:
    setup = subgroup(groups, "setup", "machine set-up steps")
    p = command(setup, "libero", _libero, "link LIBERO assets, write LIBERO's config")
    p.add_argument("--config-dir", type=Path, default=None, help="default: <venv>/libero")
    command(
        setup,
        "libero-pro",
        _libero_pro,
        "install LIBERO-PRO apart (<venv>/opt/libero-pro), convert its init states, write its config",
    )
    p = command(setup, "rocm-torch", _rocm_torch, "replace torch by its ROCm build of the pinned version")
    p.add_argument(
        "--rocm", default=None, help="ROCm version (default: the one the pinned torch is built for)"
    )
    p.add_argument("--constraints", type=Path, default=Path("constraints.txt"))
    p.add_argument("--dry-run", action="store_true", help="print the pip command, install nothing")
