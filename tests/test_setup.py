"""Set-up: LIBERO imports offline without prompting; the plugin distribution is discoverable; the Snakemake
profiles are this checkout's."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import yaml

from wmvla.sim.setup import install_libero_config, libero_paths


def test_libero_config_is_written_idempotently(tmp_path):
    config_file = install_libero_config(tmp_path)
    first = config_file.read_text()
    stamp = config_file.stat().st_mtime_ns
    assert install_libero_config(tmp_path).read_text() == first
    assert config_file.stat().st_mtime_ns == stamp  # unchanged content is not rewritten
    paths = yaml.safe_load(first)
    assert set(paths) == {"benchmark_root", "bddl_files", "init_states", "datasets", "assets"}
    assert (paths["assets"] + "/scenes").endswith("assets/scenes")


def test_libero_imports_with_no_stdin_and_finds_assets(tmp_path):
    """`import libero.libero` would call input() without a config; CI has no stdin."""
    install_libero_config(tmp_path)
    env = {**os.environ, "LIBERO_CONFIG_PATH": str(tmp_path)}
    code = (
        "from libero.libero import get_assets_path, benchmark;"
        "import os; assert os.path.isdir(os.path.join(get_assets_path(), 'scenes'));"
        "print(benchmark.get_benchmark_dict()['libero_spatial']().n_tasks)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("10")


def test_config_keys_point_inside_the_installed_package(tmp_path):
    import importlib.util
    from pathlib import Path

    libero_dir = Path(next(iter(importlib.util.find_spec("libero.libero").submodule_search_locations)))
    assert yaml.safe_load(install_libero_config(tmp_path).read_text()) == libero_paths(libero_dir)


def test_plugin_distribution_is_seen_by_lerobot_discovery():
    """LeRobot imports distributions whose metadata Name starts with `lerobot_policy_`."""
    names = {d.metadata.get("Name") for d in importlib.metadata.distributions()}
    assert "lerobot_policy_smolvla_world" in names
    from lerobot.utils.import_utils import register_third_party_plugins

    register_third_party_plugins()
    assert "lerobot_policy_smolvla_world" in sys.modules


def test_make_setup_points_the_profile_links_back_at_this_checkout(tmp_path):
    """Snakemake finds `--profile mi300x` in ~/.config/snakemake; another checkout's set-up repoints those
    links, so every `make setup` checks them again (a user's own profile directory is left alone)."""
    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "snakemake").mkdir()
    (tmp_path / "snakemake/mi300x").symlink_to("/elsewhere/profiles/mi300x")  # another clone's
    (tmp_path / "snakemake/local").mkdir()  # the user's own
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}

    def link_profiles() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "-s", "profiles"], cwd=repo, env=env, capture_output=True, text=True, check=True
        )

    first = link_profiles()
    assert (tmp_path / "snakemake/mi300x").readlink() == repo / "profiles/mi300x"
    assert (tmp_path / "snakemake/local").is_dir() and not (tmp_path / "snakemake/local").is_symlink()
    assert "exists and is not a link" in first.stderr
    assert "mi300x" not in link_profiles().stdout  # already pointing here: nothing to say
