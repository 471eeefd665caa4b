"""The init-policy gate: the checkpoint every arm fine-tunes from, evaluated unchanged, works in this
simulator.

Why: the seed notes' 0%-success bugs (empty instructions, processor mismatch, camera names, action
conventions) show up here on a few hundred episodes, before 192 trainings inherit them.
"""

from typing import Any

from wmvla.gates.record import Gate


def init_policy_gate(result: dict[str, Any], min_sr: float) -> Gate:
    """The init checkpoint, evaluated unchanged in this simulator, reaches `min_sr` on a suite."""
    suite, overall = result["suite"], result["overall"]
    low, high = overall["sr_ci95"]
    return Gate(
        f"init_policy_sr[{suite}]",
        f"Does the init policy, unchanged, succeed on {suite} in this simulator?",
        round(overall["sr"], 3),
        f">= {min_sr}",
        overall["sr"] >= min_sr,
        f"{overall['successes']}/{overall['n_episodes']} episodes, Wilson 95% [{low:.2f}, {high:.2f}]",
    )
