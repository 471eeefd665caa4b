"""The library's layout is a contract the tools check: layers and cycles (import-linter), module and
function sizes, and a DAG-time package that loads nothing heavy."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 60


def _lint_imports(repo: Path, src: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the contracts of pyproject.toml, on the packages under `src`."""
    env = {"PYTHONPATH": str(src), "PATH": str(Path(sys.executable).parent)}
    cmd = [str(Path(sys.executable).parent / "lint-imports"), "--config", str(repo / "pyproject.toml")]
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold(repo):
    out = _lint_imports(repo, repo / "src")
    assert out.returncode == 0, out.stdout[-3000:]
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("study/paths.py", "import torch  # noqa", "The DAG-time study package"),
        ("sim/envs.py", "from wmvla.eval import runner  # noqa", "wmvla is layered"),
        ("analysis/names.py", "from wmvla.study import paths  # noqa", "wmvla is layered"),
        ("data/checks.py", "from wmvla.latents import windows  # noqa", "wmvla is layered"),
    ],
)
def test_an_import_against_the_layers_breaks_a_contract(repo, tmp_path, module, line, broken):
    """Not vacuous: one upward, sideways or heavy import in a copy of the tree breaks a contract."""
    src = tmp_path / "src"
    shutil.copytree(repo / "src", src, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    target = src / "wmvla" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    out = _lint_imports(repo, src)
    assert out.returncode != 0
    assert broken in out.stdout and "BROKEN" in out.stdout


def test_modules_and_functions_stay_small(repo):
    """Measured on the syntax tree: lines per module file, and first to last line of every function."""
    too_long = []
    for path in sorted((repo / "src").rglob("*.py")):
        text = path.read_text()
        if (n := len(text.splitlines())) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(repo)}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if is_function and (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                too_long.append(f"{path.relative_to(repo)}:{node.lineno} {node.name}: {n} lines")
    assert not too_long


def test_what_the_snakefile_imports_loads_neither_torch_pandas_nor_lerobot(repo):
    """At run time too (import-linter sees import statements; this sees what is loaded)."""
    probe = (
        "import sys\n"
        "from wmvla.study import artifacts, checks, commands, design, environment, paths, resources\n"
        "from wmvla.study import targets\n"
        "import wmvla.analysis.names, wmvla.design, wmvla.study.tiny_models, wmvla.hub.lock\n"
        "print(sorted(m for m in ('torch', 'pandas', 'lerobot', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_list_of_tiny_models_names_every_builder_and_registry_entry():
    from wmvla.latents.registry import ENCODERS
    from wmvla.models import tiny
    from wmvla.study.tiny_models import MODELS_WITH_TINY, TINY_MODELS, tiny_builder

    assert all(callable(getattr(tiny, tiny_builder(model))) for model in MODELS_WITH_TINY)
    assert {name for name, spec in ENCODERS.items() if spec.is_tiny} == set(TINY_MODELS) - {"smolvlm-tiny"}


def _lint_workflow(repo: Path, snakemake_bin: str, snakefile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(repo / "scripts/lint-workflow"), "--snakefile", str(snakefile)], cwd=snakefile.parent,
        env={**os.environ, "SNAKEMAKE": snakemake_bin}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


RULE = (
    'rule a:\n    output:\n        "a.txt",\n    log:\n        "a.log",\n'
    '    shell:\n        "echo {params.x} > {output}"\n'
)


@pytest.mark.parametrize(
    ("snakefile", "passes", "said"),
    [
        (RULE.replace("    shell", '    params:\n        x="1",\n    shell'), True, "no findings but"),
        ('X = "1"\n\n\n' + RULE.replace("params.x", "X"), False, "directly uses variable X"),
        ('OUT = "b"\n\n\n' + RULE.replace('"a.txt"', 'OUT + "x/a.txt"'), False, "Path composition with '+'"),
        ("rule a\n", False, "did not lint the workflow"),
    ],
)
def test_workflow_lint_leaves_out_the_conda_advice_alone(
    repo, snakemake_bin, tmp_path, snakefile, passes, said
):
    """`make lint`'s Snakemake lint: every rule of these gets the conda/container advice; that alone passes,
    any other finding (or a Snakefile it cannot read) fails, named."""
    (tmp_path / "Snakefile").write_text(snakefile)
    out = _lint_workflow(repo, snakemake_bin, tmp_path / "Snakefile")
    assert (out.returncode == 0) is passes and said in out.stdout + out.stderr, out.stdout + out.stderr


def test_the_workflow_has_no_lint_finding_but_the_conda_advice(repo, snakemake_bin):
    out = _lint_workflow(repo, snakemake_bin, repo / "Snakefile")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
