"""The fields of the policy configs a study may override, read from their source files, not imported.

Why not import the config classes: importing them pulls in torch, transformers and LeRobot (~5 s),
and these checks run while Snakemake builds the DAG, whose full dry run has a 5 s budget. The class
hierarchy (`SmolVLAWorldConfig` → `SmolVLAConfig` → `PreTrainedConfig`) is followed through the
`from … import …` statements of the installed sources, so the fields are always those of the
installed versions. Values are parsed with draccus, the parser LeRobot's CLI uses.
"""

import ast
import contextlib
import dataclasses
import functools
import io
from pathlib import Path
from typing import Any

from wmvla.study.sources import module_file, parse_module

POLICY_CONFIGS = {  # policy type → (module, class)
    "smolvla": ("lerobot.policies.smolvla.configuration_smolvla", "SmolVLAConfig"),
    "smolvla_world": ("lerobot_policy_smolvla_world.configuration_smolvla_world", "SmolVLAWorldConfig"),
}
FOLLOWED_PACKAGES = ("lerobot", "lerobot_policy_smolvla_world")  # base classes outside carry no fields


@dataclasses.dataclass(frozen=True)
class PolicyField:
    name: str
    annotation: str  # as written in the source, e.g. "tuple[int, int]"
    owner: str  # the class that declares it
    default: str | None = None  # its default as written in the source (None: no default)

    def default_value(self) -> Any:
        """The default, where the source writes it as a literal (`8`, `"pred"`, `None`); KeyError otherwise
        (`field(default_factory=…)`, an expression): then only the job that builds the config knows it."""
        try:
            return ast.literal_eval(self.default)
        except (ValueError, SyntaxError, TypeError):
            raise KeyError(self.name) from None


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    return ".".join(parts[:keep] + ([node.module] if node.module else []))


def _find_class(module: str, name: str) -> tuple[str, ast.ClassDef] | None:
    """The class `name` as seen from `module`: defined there, or imported (re-exports followed)."""
    if not module.startswith(FOLLOWED_PACKAGES):
        return None
    tree = parse_module(module)
    if tree is None:
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return module, node
    is_package = module_file(module).name == "__init__.py"
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _find_class(_absolute(module, node, is_package), alias.name)
    return None


def _class_fields(module: str, node: ast.ClassDef) -> dict[str, PolicyField]:
    """Dataclass fields of a class and its bases (a subclass redeclaring a field wins)."""
    fields: dict[str, PolicyField] = {}
    for base in node.bases:
        if isinstance(base, ast.Name) and (found := _find_class(module, base.id)):
            fields.update(_class_fields(*found))
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            annotation = ast.unparse(item.annotation)
            if not item.target.id.startswith("_") and "ClassVar" not in annotation:
                default = ast.unparse(item.value) if item.value is not None else None
                fields[item.target.id] = PolicyField(item.target.id, annotation, node.name, default)
    return fields


@functools.cache
def policy_fields(policy_type: str) -> dict[str, PolicyField]:
    """Every field `--policy.<name>` of a policy type, as the installed sources declare them."""
    module, name = POLICY_CONFIGS[policy_type]
    found = _find_class(module, name)
    if found is None:
        raise RuntimeError(f"cannot find {name} in the installed {module}; is the package installed?")
    return _class_fields(*found)


def world_only_fields() -> set[str]:
    """Fields `smolvla_world` adds to SmolVLA's: the only ones a world-branch arm may change from E0."""
    return set(policy_fields("smolvla_world")) - set(policy_fields("smolvla"))


# What a field annotation may name to be parsed here; anything else (project enums, nested configs) is
# left to the job that builds the config.
_TYPE_NAMES = {"__builtins__": {}, "None": None, "Path": Path, "Any": Any, "int": int, "float": float}
_TYPE_NAMES |= {"str": str, "bool": bool, "tuple": tuple, "list": list, "dict": dict}


def _annotation_type(annotation: str) -> Any | None:
    """The annotation as a type draccus can parse into, or None where it names project types."""
    try:
        return eval(
            annotation,
            {"__builtins__": {}, "tuple": tuple, "list": list, "dict": dict, "None": None, **_TYPE_NAMES},
        )
    except (NameError, SyntaxError, TypeError):
        return None


def cli_value(value) -> str:
    """Format a value the way LeRobot's draccus parser reads it on the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ",".join(cli_value(v) for v in value) + "]"
    return str(value)


@functools.lru_cache(maxsize=1024)
def parsed(field: PolicyField, text: str) -> tuple[Any, str | None]:
    """`--policy.<field>=<text>` as LeRobot's CLI parser reads it: (value, None), or (None, why it is
    rejected); (KeyError, None) where the annotation names project types the parse is left to the job for.
    Cached: the experiments of a study share most of their overrides."""
    kind = _annotation_type(field.annotation)
    if kind is None:
        return KeyError, None  # e.g. dict[str, NormalizationMode]: checked when the job builds its config
    import draccus

    probe = dataclasses.make_dataclass("Probe", [(field.name, kind, dataclasses.field(default=None))])
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            value = getattr(draccus.parse(probe, args=[f"--{field.name}={text}"]), field.name)
    except (Exception, SystemExit) as err:  # draccus exits on some malformed values
        return None, str(err) or f"cannot parse {text!r} as {field.annotation}"
    return value, None


def parse_error(field: PolicyField, text: str) -> str | None:
    """Why LeRobot's CLI parser would reject `--policy.<field>=<text>`, or None if it parses."""
    return parsed(field, text)[1]
