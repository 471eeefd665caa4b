"""The instruction a policy is given for a LIBERO task: the plain task's, or a LIBERO-PRO variant's own.

Why not `task.language`: LIBERO names a task's language after its BDDL file, and LIBERO-PRO's variants keep
the plain task's file names, so for `lan` and `task` variants `task.language` — and with it LeRobot's
`task_description`, which both rollouts send the policy — is the *plain* instruction, not the reworded one
or the new task's. Their instruction is the BDDL's `(:language …)` line, as LIBERO's own parser reads it.
For plain, `object` and `swap` suites that line is LIBERO's raw text ("Pick the akita black bowl …"), not
what the policy was trained on, so there the instruction stays `task.language`
(`Perturbation.instruction_from_bddl`).
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wmvla.sim.perturbations import KINDS, split_suite


def bddl_instruction(bddl_file: Path | str) -> str:
    """The `(:language …)` of a BDDL problem, as LIBERO parses it (lower case, words joined by one space)."""
    from libero.libero.envs.bddl_utils import get_problem_info

    return get_problem_info(str(bddl_file))["language_instruction"]


def instruction_from_bddl(suite: str) -> bool:
    """Whether a suite's tasks are instructed by their BDDL's language line (LIBERO-PRO `lan`, `task`)."""
    kind = split_suite(suite)[1]
    return kind in KINDS and KINDS[kind].instruction_from_bddl


def policy_instructions(suite: str) -> list[str]:
    """Per task id of `suite` (in this process's LIBERO): the instruction the evaluation gives the policy."""
    from libero.libero import get_libero_path

    from wmvla.data.suites import libero_suite

    tasks = libero_suite(suite)
    if not instruction_from_bddl(suite):
        return [tasks.get_task(i).language for i in range(tasks.n_tasks)]
    root = Path(get_libero_path("bddl_files"))
    return [
        bddl_instruction(root / t.problem_folder / t.bddl_file)
        for t in map(tasks.get_task, range(tasks.n_tasks))
    ]


def _instructed(env: Any, instruction: str) -> Any:
    env.unwrapped.task_description = instruction  # what LeRobot's rollout and ours send as `task`
    return env


def instructed(factories: Sequence[Callable[[], Any]], instruction: str) -> list[Callable[[], Any]]:
    """Env factories (LeRobot's LiberoEnv ones) whose envs describe their task by `instruction`."""
    return [lambda factory=factory: _instructed(factory(), instruction) for factory in factories]
