"""The environment every job of a study inherits, set once while the DAG is built.

Why: jobs must use the tools of the venv that runs Snakemake (also on cluster nodes, where the job re-runs
Snakemake with the same interpreter), find LIBERO's config without prompting, never reach the network (the
hub stage alone, which lifts HF_HUB_OFFLINE itself, fetches what the others load), record their study in
every artifact's provenance — and write nothing outside the study: every library cache a job would put in
the home directory (kernels, fonts, shaders, LeRobot's and the Hub client's) goes to the study's tool cache,
`results/<study>/.cache/` (not versioned), and what belongs to one job alone (the datasets library's Arrow
copies, ROCm's kernel database) to the job's scratch (`wmvla.cluster.scratch`). Whether a failed gate stops
the study reaches the gate commands here too (GATES_ENFORCE_ENV), not as a rule's param: a param is a rerun
trigger, and overriding one failed gate must rerun no gate that passed.
"""

import os
import sys
from pathlib import Path

from wmvla.files import STUDY_ENV
from wmvla.hub.check import offline_environment
from wmvla.sim.setup import apply_environment_defaults
from wmvla.study.artifacts import hub_dir
from wmvla.study.paths import TOOL_CACHE, fill

GATES_ENFORCE_ENV = "WMVLA_GATES_ENFORCE"  # `true`/`false`: gates.enforce, read by `wmvla gates … --enforce`
TOOL_CACHES = {  # variable → folder of the study's tool cache
    "HF_LEROBOT_HOME": "lerobot",
    "HF_XET_CACHE": "xet",  # the Hub client's chunk cache while the hub stage downloads
    "MPLCONFIGDIR": "matplotlib",
    "MESA_SHADER_CACHE_DIR": "mesa",  # MuJoCo's EGL/OSMesa rendering
    "TORCH_HOME": "torch",
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
    "TRITON_CACHE_DIR": "triton",
}


def tool_cache_environment(env: dict[str, str] | os._Environ, config: dict) -> None:
    """Point every library cache a job writes into the study's tool cache (absolute: jobs may change dir)."""
    root = Path(fill(TOOL_CACHE, config)).resolve()
    for name, folder in TOOL_CACHES.items():
        env[name] = str(root / folder)


def prepare_job_environment(config: dict) -> None:
    """The venv's tools first on PATH, LIBERO's config, offline mode, the study's caches and name, and
    whether failed gates stop it."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    apply_environment_defaults()
    os.environ[STUDY_ENV] = config["study"]
    offline_environment(os.environ, hub_dir(config))
    tool_cache_environment(os.environ, config)
    os.environ[GATES_ENFORCE_ENV] = "true" if config["gates"]["enforce"] else "false"
