"""Installed Python sources read as text, never imported: what a module defines, found while the DAG is built.

Why not import: the modules the DAG asks about (policy configs, encoder classes, tiny-model builders) pull in
torch, transformers and LeRobot (~5 s), and the full dry run has a 5 s budget (DESIGN.md §3).
"""

import ast
import functools
import importlib.util
from pathlib import Path


def module_file(module: str) -> Path | None:
    """Source file of `module` without executing any package `__init__` (only the top-level lookup)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)), *rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def parse_module(module: str) -> ast.Module | None:
    path = module_file(module)
    return ast.parse(path.read_text(), str(path)) if path else None


def top_level_names(module: str) -> set[str]:
    """The classes and functions `module` defines at its top level (empty if it cannot be found)."""
    tree = parse_module(module)
    kinds = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    return {node.name for node in tree.body if isinstance(node, kinds)} if tree else set()
