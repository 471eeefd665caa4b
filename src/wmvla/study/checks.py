"""Checks of a study config that need no job: they run while Snakemake builds the DAG.

Why here and not in a job: a typo in one experiment's overrides (`world_prefix_tokenz`) would otherwise
pass `snakemake -n` and fail hours into the study, when that training starts on a GPU node; and an arm
that differs from the baseline in more than the world branch would make every comparison confounded.
"""

import contextlib
import difflib
import functools
from dataclasses import fields

from wmvla.design import DesignError, Settings
from wmvla.latents.registry import ENCODERS, FAMILIES
from wmvla.models.names import VLM_TINY_BUILDER
from wmvla.sim.perturbations import PerturbationError, perturbed_suite
from wmvla.study.config import StudyConfigError, perturbation_kinds
from wmvla.study.fields import cli_value, parse_error, parsed, policy_fields, world_only_fields
from wmvla.study.sources import top_level_names
from wmvla.world.settings import world_settings_problem

ENCODER_CLASSES, TINY_BUILDERS = "wmvla.latents.encoders", "wmvla.models.tiny"  # where the registry points


def check_overrides(where: str, policy_type: str, args: dict) -> None:
    """Every key is a field of `policy_type`'s config and every value parses as LeRobot's CLI would."""
    fields = policy_fields(policy_type)
    for key, value in args.items():
        field = fields.get(key)
        if field is None:
            close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise StudyConfigError(
                f"{where}: {key!r} is not a field of the {policy_type} policy config{hint}"
            )
        if error := parse_error(field, cli_value(value)):
            raise StudyConfigError(f"{where}: {key}={value!r} is not a valid {field.annotation}: {error}")


def check_parity(experiments: dict[str, dict], baseline: str) -> None:
    """World-branch arms may differ from the baseline only in the world branch, unless they declare it.

    The SmolVLA fields (everything but `smolvla_world`'s own fields) that an experiment overrides must
    equal the baseline's overrides; a deliberate difference is listed in `differs_from_baseline`.
    """
    world = world_only_fields()
    smolvla = set(policy_fields("smolvla"))
    base_args = {k: v for k, v in experiments[baseline].get("policy_args", {}).items() if k not in world}
    for exp, spec in experiments.items():
        declared = spec.get("differs_from_baseline", [])
        if unknown := [f for f in declared if f not in smolvla]:
            raise StudyConfigError(
                f"experiment {exp}: differs_from_baseline names {unknown}, which are no SmolVLA fields "
                "(world_* fields may differ anyway)"
            )
        if exp == baseline:
            continue
        args = {k: v for k, v in spec.get("policy_args", {}).items() if k not in world}
        for key in sorted((set(args) | set(base_args)) - set(declared)):
            if args.get(key) != base_args.get(key):
                ours = f"{key}={args[key]!r}" if key in args else f"no {key} override"
                theirs = f"has {key}={base_args[key]!r}" if key in base_args else "does not override it"
                raise StudyConfigError(
                    f"experiment {exp} sets {ours} but the baseline {baseline} {theirs}: arms may differ "
                    f"from {baseline} only in the world branch; declare `differs_from_baseline: [{key}]` "
                    "if the difference is deliberate"
                )


def check_protocol(config: dict) -> None:
    """The evaluation executes at most one predicted chunk per inference, where the config sets the chunk.

    (Where the chunk size comes from an init checkpoint, the gates check it against the resolved config.)
    """
    steps = config["eval"]["n_action_steps"]
    for exp, spec in config["experiments"].items():
        chunk = {**config["policy"]["args"], **spec.get("policy_args", {})}.get("chunk_size")
        if chunk is not None and steps > int(chunk):
            raise StudyConfigError(
                f"eval.n_action_steps={steps} exceeds experiment {exp}'s chunk_size={chunk}: a policy "
                "cannot execute more actions than it predicts"
            )


# smolvla_world fields the DAG sets from `world:` and the experiment's `encoder` (the cache, the encoder that
# runs online, its clip length and D must agree): an override would silently disagree with the cache.
DAG_WORLD_FIELDS = (
    "world_latents_path",
    "world_encoder",
    "world_encoder_path",
    "world_temporal_window",
    "world_camera",
    "world_dim",
)


def check_implementations() -> None:
    """Every encoder family the registry names has its class, and its tiny builder where it has one (read
    from the sources, not imported): a registry entry added alone fails here, not in a job."""
    classes, builders = top_level_names(ENCODER_CLASSES), top_level_names(TINY_BUILDERS)
    for family in FAMILIES.values():
        if family.encoder_class not in classes:
            raise StudyConfigError(
                f"encoder family {family.name!r} names class {family.encoder_class}, which {ENCODER_CLASSES} "
                "does not define (wmvla.latents.registry)"
            )
        if family.tiny_builder is not None and family.tiny_builder not in builders:
            raise StudyConfigError(
                f"encoder family {family.name!r} names tiny builder {family.tiny_builder}, which "
                f"{TINY_BUILDERS} does not define (wmvla.latents.registry)"
            )
    if VLM_TINY_BUILDER not in builders:
        raise StudyConfigError(f"{TINY_BUILDERS} defines no {VLM_TINY_BUILDER} (wmvla.models.names)")


def _named_encoders(config: dict) -> dict[str, str]:
    """Every encoder name the config writes → where it writes it."""
    named = {config["world"]["encoder"]: "world.encoder"}
    named |= {name: "world.encoder_revisions" for name in config["world"].get("encoder_revisions") or {}}
    for exp, spec in config["experiments"].items():
        if "encoder" in spec:
            named.setdefault(spec["encoder"], f"experiment {exp}'s encoder")
    return named


def check_encoders(config: dict) -> None:
    """Every encoder named is registered, only world-branch experiments name one, and no override sets what
    the DAG derives from it."""
    for name, where in _named_encoders(config).items():
        if name not in ENCODERS:
            raise StudyConfigError(
                f"{where} names encoder {name!r}, which wmvla.latents.registry does not register "
                f"(registered: {', '.join(ENCODERS)})"
            )
    overrides = {"policy.args": config["policy"]["args"]}
    for exp, spec in config["experiments"].items():
        overrides[f"experiment {exp}"] = spec.get("policy_args", {})
        if "encoder" in spec and spec["policy_type"] != "smolvla_world":
            raise StudyConfigError(
                f"experiment {exp} names encoder {spec['encoder']!r} but has no world branch"
            )
    for where, args in overrides.items():
        if derived := [f for f in DAG_WORLD_FIELDS if f in args]:
            raise StudyConfigError(
                f"{where} overrides {', '.join(derived)}, which the DAG sets from `world:` and the "
                "experiment's `encoder:`; name the encoder instead"
            )


@functools.cache
def _world_defaults() -> dict:
    """The world policy's defaults written as literals in its source (read once per DAG, not per arm)."""
    values = {}
    for name, field in policy_fields("smolvla_world").items():
        with contextlib.suppress(KeyError):  # not a literal in the source: only the job knows it
            values[name] = field.default_value()
    return values


def check_world_settings(exp: str, args: list[dict]) -> None:
    """A world-branch arm's settings — the policy's defaults, then each of `args` (shared, then the arm's) —
    obey the rules its config checks when a job builds it (`wmvla.world.settings`), named in one line."""
    fields = policy_fields("smolvla_world")
    values = dict(_world_defaults())
    for overrides in args:
        for key, value in overrides.items():
            parsed_value, error = parsed(fields[key], cli_value(value))
            if parsed_value is KeyError or error:  # a type the DAG does not parse (or checked elsewhere)
                values.pop(key, None)
            else:
                values[key] = parsed_value
    if problem := world_settings_problem(values):
        raise StudyConfigError(f"experiment {exp}: {problem}")


def check_analysis(config: dict) -> None:
    """The analysis settings obey their rules (`wmvla.design.Settings`, e.g. a claim of no difference must
    rule out the differences the study looks for) and weigh every suite of the study (DESIGN.md §6)."""
    analysis = config["analysis"]
    try:
        settings = Settings(**{f.name: analysis[f.name] for f in fields(Settings) if f.name in analysis})
    except DesignError as err:
        raise StudyConfigError(str(err)) from None
    if missing := settings.missing_weights(list(config["suites"])):
        raise StudyConfigError(
            f"analysis.suite_weights gives no weight to {', '.join(missing)}: weigh every suite of the study "
            "(or leave suite_weights out for equal weights)"
        )


def check_perturbations(config: dict) -> None:
    """The perturbation axis names kinds LIBERO-PRO has for every suite of the study, and arms of the study
    evaluated as trained, the baseline and the world arm among them (the perturbation verdicts compare
    them): a typo fails the dry run, not a GPU job hours in."""
    kinds, arms = perturbation_kinds(config), (config.get("perturbations") or {}).get("experiments", [])
    if not kinds:
        return
    for suite in config["suites"]:
        for kind in kinds:
            try:
                perturbed_suite(suite, kind)
            except PerturbationError as err:
                raise StudyConfigError(f"perturbations: {err}") from None
    for exp in arms:
        if exp not in config["experiments"]:
            raise StudyConfigError(
                f"perturbations.experiments names {exp!r}, which is not an experiment of the study "
                f"(it has: {', '.join(config['experiments'])})"
            )
        if "pred" not in config["experiments"][exp]["eval_modes"]:
            raise StudyConfigError(
                f"perturbations.experiments names {exp}, which is never evaluated as trained (its eval_modes "
                "have no `pred`): perturbed arms are evaluated as trained"
            )
    for role in ("baseline", "world"):
        exp = config["analysis"].get(role)
        if exp in config["experiments"] and exp not in arms:
            raise StudyConfigError(
                f"perturbations.experiments leaves out {exp} (analysis.{role}): the perturbation verdicts "
                "compare the world arm with the baseline under each perturbation; add it"
            )


def check_study_config(config: dict, baseline: str | None) -> None:
    """Override keys and values of the shared `policy.args` and of every experiment, the world-branch arms'
    settings, encoders and their implementations, arm parity, the evaluation protocol against the chunk
    size, the analysis's margin, and the perturbation axis."""
    check_protocol(config)
    check_analysis(config)
    check_perturbations(config)
    check_implementations()
    check_encoders(config)
    experiments = config["experiments"]
    for policy_type in sorted({spec["policy_type"] for spec in experiments.values()}):
        check_overrides(f"policy.args (for {policy_type})", policy_type, config["policy"]["args"])
    for exp, spec in experiments.items():
        check_overrides(f"experiment {exp}", spec["policy_type"], spec.get("policy_args", {}))
        if spec["policy_type"] == "smolvla_world":
            check_world_settings(exp, [config["policy"]["args"], spec.get("policy_args", {})])
    if baseline is not None:
        check_parity(experiments, baseline)
