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
