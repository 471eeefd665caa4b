"""The test session builds a study in the background only if a selected test reads it: the default selection
(`-m 'not slow'`, make test-fast) builds none (a build there tripled its time)."""

import os
import subprocess
import sys

import pytest

SHOW_SELECTED = """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    from tests.conftest import SELECTED
    print("SELECTED", ",".join(sorted(session.config.stash.get(SELECTED, set()))))
"""


def _studies_built(repo, tmp_path, *args: str) -> set[str]:
    (tmp_path / "show_selected.py").write_text(SHOW_SELECTED)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "show_selected", "--collect-only", "-q", *args],
        cwd=repo, env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("SELECTED"))
    return set(filter(None, line.split(" ", 1)[1].split(",")))


@pytest.mark.parametrize(
    "args, built",
    [
        (["-m", "not slow"], set()),
        (
            ["-m", "slow or not slow", "tests/test_hub_study.py", "tests/test_gates_dag.py"],
            {"hub_study", "smoke_study"},
        ),
        (["-m", "slow or not slow", "tests/test_gates_dag.py"], {"smoke_study"}),
        (["-m", "slow", "tests/test_hub_study.py", "-k", "home"], {"hub_study"}),
    ],
)
def test_only_the_studies_a_selected_test_reads_are_built(repo, tmp_path, args, built):
    assert _studies_built(repo, tmp_path, *args) == built
