"""The study config: read and validated (as the Snakefile does), coerced, and the questions every stage
asks of it (which experiment, with a world branch or not, on which encoder, how many steps)."""

from pathlib import Path

import yaml

from wmvla.errors import WmvlaError
from wmvla.sim.perturbations import perturbed_suite


class StudyConfigError(WmvlaError, ValueError):
    """The study config is valid by schema but inconsistent (e.g. budget not divisible)."""


class StudyConfigFileError(WmvlaError, ValueError):
    """The study config file cannot be read or does not follow `config/schema.yaml`."""


def read_yaml(text: str):
    """YAML with libyaml's parser where PyYAML has it (the config and its schema: ~0.25 s → ~0.03 s)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def validate_study_config(config: dict, schema: dict, where: str = "") -> None:
    """Check `config` against the schema and fill in the schema's defaults: the default-setting validator of
    jsonschema's FAQ, as Snakemake's `validate` builds it, without its second reading of the schema (~1 s of
    a dry run). The Snakefile and every command that reads a config call this one."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import best_match

    properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, subschema):
        for name, sub in props.items():
            if "default" in sub and isinstance(instance, dict):
                instance.setdefault(name, sub["default"])
        yield from properties(validator, props, instance, subschema)

    with_defaults = validators.extend(Draft202012Validator, {"properties": set_defaults})
    error = best_match(with_defaults(schema).iter_errors(config))
    if error is not None:
        at = "/".join(map(str, error.absolute_path)) or "the top level"
        raise StudyConfigFileError(
            f"Error validating config{' ' + where if where else ''}: {error.message} (at {at})"
        )


# Config keys that were renamed (issue 47, one word per idea): an old key is refused in one line naming the
# new one, before the schema would list every key it allows.
RENAMED_KEYS = {
    ("analysis", "world_arm"): "analysis.world",
    ("analysis", "capacity_control"): "analysis.capacity",
}


def refuse_renamed_keys(config: object, where: str = "") -> None:
    """Refuse, in one line naming the new key, a config that still uses a renamed one (`where`: its file).
    Every reader of a study config calls this first: `load_study_config` and the Snakefile."""
    for (section, key), new in RENAMED_KEYS.items():
        part = config.get(section) if isinstance(config, dict) else None
        if isinstance(part, dict) and key in part:
            raise StudyConfigFileError(f"config {section}.{key} was renamed {new}{where and f' ({where})'}")


def load_study_config(path: Path, schema: Path | None = None) -> dict:
    """The config in `path`, with the schema's defaults filled in (schema: `schema.yaml` beside it)."""
    path = Path(path)
    schema = Path(schema) if schema else path.parent / "schema.yaml"
    try:
        config = read_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise StudyConfigFileError(f"cannot read the study config {path}: {err}") from err
    refuse_renamed_keys(config, str(path))
    if not schema.is_file():
        raise StudyConfigFileError(f"no schema next to {path} (looked for {schema})")
    validate_study_config(config, read_yaml(schema.read_text()), str(path))
    return config


STUDY_CONFIG_SUFFIXES = (".yaml", ".yml")


def check_configfiles(paths) -> None:
    """Refuse, in one line, a `--configfile` that is no study config: Snakemake's `--configfile` takes every
    word after it as a file, so `snakemake --configfile config/smoke.yaml <target>` reads an existing target
    as a config (a missing one fails in Snakemake's own command line, before any workflow code runs). No
    output of the DAG is a YAML file."""
    for path in map(Path, paths):
        if path.suffix not in STUDY_CONFIG_SUFFIXES:
            raise StudyConfigFileError(
                f"--configfile took {path} as a config file (it takes every word after it), and a study "
                "config is a YAML file: put targets before --configfile, or end its files with -- "
                "(snakemake --configfile config/smoke.yaml -- <target>)"
            )


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


def experiment(config: dict, exp: str) -> dict:
    try:
        return config["experiments"][exp]
    except KeyError:
        known = ", ".join(sorted(config["experiments"]))
        raise StudyConfigError(f"unknown experiment {exp!r}; the config defines: {known}") from None


def uses_world(config: dict, exp: str) -> bool:
    return experiment(config, exp)["policy_type"] == "smolvla_world"


def baseline(config: dict) -> str | None:
    """The experiment every other one is paired against (`analysis.baseline`, E0), if the study has it."""
    name = config.get("analysis", {}).get("baseline")
    return name if name in config["experiments"] else None


def experiment_encoder(config: dict, exp: str) -> str:
    """The encoder whose latents a world-branch experiment reads: its own `encoder`, else the study's."""
    return config["experiments"][exp].get("encoder", config["world"]["encoder"])


def study_encoders(config: dict) -> list[str]:
    """Every encoder some world-branch experiment reads, in experiment order (a cache each)."""
    names = [experiment_encoder(config, exp) for exp in config["experiments"] if uses_world(config, exp)]
    return list(dict.fromkeys(names))


def train_steps(config: dict) -> int:
    """Fixed sample budget → optimiser steps, identical across experiments of one study."""
    total, batch = config["train"]["total_samples"], config["train"]["batch_size"]
    if total % batch:
        raise StudyConfigError(
            f"train.total_samples={total} is not a multiple of train.batch_size={batch}; "
            "the sample budget must map to a whole number of steps"
        )
    return total // batch


def runs(config: dict) -> list[tuple[str, str, int]]:
    """Every training run of the study: (suite, experiment, seed)."""
    return [(s, e, seed) for s in config["suites"] for e in config["experiments"] for seed in config["seeds"]]


def perturbation_kinds(config: dict) -> list[str]:
    """The LIBERO-PRO perturbations every suite of the study meets (`perturbations.kinds`; none: no axis)."""
    return list((config.get("perturbations") or {}).get("kinds", []))


def perturbed_arms(config: dict) -> list[str]:
    """The experiments evaluated again under perturbation (none if the study has no perturbation axis)."""
    return list(config["perturbations"].get("experiments", [])) if perturbation_kinds(config) else []


def perturbed_runs(config: dict) -> list[tuple[str, str, int, str]]:
    """Every run evaluated again under perturbation, as trained: (suite, experiment, seed, kind). No
    training is added: these are runs of `runs(config)`."""
    arms, kinds = perturbed_arms(config), perturbation_kinds(config)
    return [(s, e, seed, kind) for s, e, seed in runs(config) if e in arms for kind in kinds]


def perturbed_suites(config: dict) -> list[str]:
    """LIBERO-PRO's suite of each (suite, kind) of the study: each has its own scene check."""
    return [perturbed_suite(s, kind) for s in config["suites"] for kind in perturbation_kinds(config)]
