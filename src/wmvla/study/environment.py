"""The environment every job of a study inherits, set once while the DAG is built.

Why: jobs must use the tools of the venv that runs Snakemake (also on cluster nodes, where the job re-runs
Snakemake with the same interpreter), find LIBERO's config without prompting, never reach the network (the
hub stage alone, which lifts HF_HUB_OFFLINE itself, fetches what the others load), and record their study
in every artifact's provenance.
"""

import os
import sys
from pathlib import Path

from wmvla.files import STUDY_ENV
from wmvla.hub.check import offline_environment
from wmvla.sim.setup import apply_environment_defaults
from wmvla.study.artifacts import hub_dir


def prepare_job_environment(config: dict) -> None:
    """The venv's tools first on PATH, LIBERO's config, offline mode, and the study's name."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    apply_environment_defaults()
    os.environ[STUDY_ENV] = config["study"]
    offline_environment(os.environ, hub_dir(config))
