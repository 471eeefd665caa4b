"""Arms that are one arm: what each experiment trains with once the policy's defaults and the shared
`policy.args` are filled in, compared while the DAG is built (read from the sources, never imported).

Why: two entries with the same settings train the same runs twice (38 jobs of the full study each), and a
"variant" that sets a field to its default is the world arm again, compared with itself. Eval modes are left
out of the comparison on purpose: they are rollouts of the same checkpoints, so two arms that differ only in
them still train the same runs — evaluate the modes on one of them.
"""

import contextlib
import functools

from wmvla.study.config import experiment_encoder, perturbation_kinds, perturbed_arms
from wmvla.study.fields import cli_value, parsed, policy_fields


@functools.cache
def policy_defaults(policy_type: str) -> dict:
    """A policy type's defaults written as literals in its source (others only the job knows)."""
    values = {}
    for name, field in policy_fields(policy_type).items():
        with contextlib.suppress(KeyError):
            values[name] = field.default_value()
    return values


def effective_settings(config: dict, exp: str) -> tuple[str, str | None, dict]:
    """(policy type, encoder, every setting) an arm trains with: defaults, then `policy.args`, then its own
    overrides, each value as LeRobot's parser reads it (`4`, `"4"` and `4.0` alike where the field is a
    number)."""
    spec = config["experiments"][exp]
    policy_type, fields = spec["policy_type"], policy_fields(spec["policy_type"])
    values = dict(policy_defaults(policy_type))
    for overrides in (config["policy"]["args"], spec.get("policy_args", {})):
        for key, value in overrides.items():
            found, error = parsed(fields[key], cli_value(value)) if key in fields else (KeyError, None)
            values[key] = value if found is KeyError or error else found
    encoder = experiment_encoder(config, exp) if policy_type == "smolvla_world" else None
    return policy_type, encoder, values


def same_arms(config: dict) -> list[list[str]]:
    """Groups of experiments with identical effective settings (each group in config order)."""
    groups: dict[str, list[str]] = {}
    for exp in config["experiments"]:
        policy_type, encoder, values = effective_settings(config, exp)
        key = repr((policy_type, encoder, sorted(values.items())))
        groups.setdefault(key, []).append(exp)
    return [group for group in groups.values() if len(group) > 1]


def arm_jobs(config: dict, exp: str) -> int:
    """The jobs an arm adds to the study: per run its training, evaluations (perturbed ones too) and offline
    check; its gate and its clearance."""
    runs = len(config["suites"]) * len(config["seeds"])
    perturbed = len(perturbation_kinds(config)) if exp in perturbed_arms(config) else 0
    return runs * (2 + len(config["experiments"][exp]["eval_modes"]) + perturbed) + 2


def duplicate_warnings(config: dict) -> list[str]:
    """One line per arm that repeats another: a variant that changes nothing of the world arm, or a copy."""
    world = config["analysis"].get("world")
    lines = []
    for first, *others in same_arms(config):
        for exp in others:
            if world in (first, exp):
                other = exp if first == world else first
                sets = config["experiments"][other].get("policy_args", {})
                unchanged = ", ".join(f"{k}: {v}" for k, v in sets.items()) or "nothing"
                lines.append(
                    f"experiment {other} differs from the world arm {world} in nothing (it sets {unchanged}: "
                    f"{world}'s values or the policy's defaults): a comparison of an arm with itself, "
                    f"{arm_jobs(config, other)} jobs; change what it sets or drop it"
                )
            else:
                lines.append(
                    f"experiment {exp} is the same arm as {first} (policy type, encoder and every setting "
                    f"after defaults; eval modes aside): its {arm_jobs(config, exp)} jobs train and evaluate "
                    f"{first}'s runs again; drop one (the one kept can carry both eval_modes)"
                )
    return lines
