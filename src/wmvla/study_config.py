"""Read a study config outside Snakemake (e.g. `wmvla hub lock`), validated as the Snakefile validates it."""

from pathlib import Path

import yaml

from wmvla.errors import WmvlaError


class StudyConfigFileError(WmvlaError, ValueError):
    """The study config file cannot be read or does not follow `config/schema.yaml`."""


def load_study_config(path: Path, schema: Path | None = None) -> dict:
    """The config in `path`, with the schema's defaults filled in (schema: `schema.yaml` beside it)."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    path = Path(path)
    schema = Path(schema) if schema else path.parent / "schema.yaml"
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise StudyConfigFileError(f"cannot read the study config {path}: {err}") from err
    if not schema.is_file():
        raise StudyConfigFileError(f"no schema next to {path} (looked for {schema})")
    try:
        validate(config, schema=str(schema))
    except WorkflowError as err:
        raise StudyConfigFileError(f"{path}: {err}") from err
    return config


_TYPES = {"boolean": bool, "integer": int, "number": (int, float), "null": type(None)}


def _wanted(schema: dict) -> set[str]:
    kinds = schema.get("type", [])
    return {kinds} if isinstance(kinds, str) else set(kinds)


def coerce_cli_strings(value, schema: dict, root: dict | None = None):
    """`--config` values arrive as strings below the top level (`seeds=[0,1]`, `gates='{enforce: false}'`):
    where the schema wants a boolean, number or null, read the string as YAML. Strings stay strings
    where the schema wants one (a revision "2024" is not a number)."""
    root = root if root is not None else schema
    if "$ref" in schema:  # "#/$defs/<name>"
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            value[key] = coerce_cli_strings(item, sub, root)
        return value
    if isinstance(value, list):
        return [coerce_cli_strings(item, schema.get("items", {}), root) for item in value]
    wanted = _wanted(schema) & set(_TYPES)
    if isinstance(value, str) and wanted and "string" not in _wanted(schema):
        parsed = yaml.safe_load(value)
        is_bool = isinstance(parsed, bool)  # a bool is an int to isinstance; only where booleans belong
        if isinstance(parsed, tuple(_TYPES[k] for k in wanted)) and (not is_bool or "boolean" in wanted):
            return parsed
    return value
