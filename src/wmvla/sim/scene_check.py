"""Scene checks: LIBERO scenes, reset exactly as the evaluation resets them, are the benchmark's scenes.

Why: every success rate comes from the simulator, and a MuJoCo that is not the one LIBERO's init states
and training images were made with changes the task (from 3.4 the libero_spatial task-5 bowl rests on the
ramekin's rim instead of in it) and the pixels (from 3.3.3 floors render darker — a shift the world-branch
arms' online encoder sees and E0 does not). Two checks per task and init state the evaluation uses:

- relations: every `On`/`In` relation between two objects in the task's BDDL `:init` holds after the reset,
  evaluated by LIBERO's own predicates (`On`: contact, above, centres within 3 cm; `In`: contact and
  containment). Object-to-region relations are not checked: they describe where LIBERO *samples*
  placements, and the fixed init states settle slightly outside those regions in any MuJoCo.
- image: the first agentview frame's per-channel mean and 10/50/90% quantiles are within a tolerance of
  the same statistics over the training dataset's first frames of that task.

A LIBERO-PRO variant (`libero_spatial_lan`, …) is reset from its own BDDL and init states, so its relations
are always checked; its first frames are compared with the plain task's training frames only when its
scene looks like the plain one (`Perturbation.scene_as_plain`: `lan`). For the others the report and the
gate say the image comparison does not apply — it is never silently passed.
"""

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wmvla.errors import WmvlaError
from wmvla.sim.perturbations import KINDS, PLAIN, split_suite

log = logging.getLogger(__name__)

RELATIONS = ("on", "in")
QUANTILES = (10, 50, 90)
NOT_APPLICABLE = "does not apply"


def image_reference_suite(suite: str) -> tuple[str | None, str]:
    """(suite whose training frames a scene's first frames are compared with, or None; why): the suite
    itself, the plain suite of a variant whose scene looks like it, none for a variant that changes it."""
    base, kind = split_suite(suite)
    if kind == PLAIN:
        return suite, f"first frames vs the {suite} training frames"
    if KINDS[kind].scene_as_plain:
        return (
            base,
            f"first frames vs the plain {base} training frames (perturbation {kind!r} keeps the scene)",
        )
    change = KINDS[kind].changes
    return None, f"{NOT_APPLICABLE}: perturbation {kind!r} changes the scene ({change}); relations only"


class SceneCheckError(WmvlaError, ValueError):
    """The scene check cannot run as asked (unknown suite, no training frames for a task…)."""


@dataclass(frozen=True)
class Tolerance:
    mean: float = 10.0  # per channel, in 0..255 intensity levels
    quantile: float = 20.0


@dataclass(frozen=True)
class Violation:
    suite: str
    task_id: int
    init_state_id: int
    check: str  # e.g. "On(akita_black_bowl_1, glazed_rim_porcelain_ramekin_1)" or "mean RGB"
    measured: str
    expected: str

    @property
    def line(self) -> str:
        return (
            f"{self.suite} task {self.task_id} init state {self.init_state_id}: {self.check} — "
            f"measured {self.measured}, expected {self.expected}"
        )


@dataclass
class SceneReport:
    suite: str
    checked: list[dict[str, Any]] = field(default_factory=list)  # one entry per (task, init state)
    violations: list[Violation] = field(default_factory=list)
    simulator: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    image_check: str = ""  # what the first frames were compared with, or why they were not

    @property
    def image_not_applicable(self) -> bool:
        return self.image_check.startswith(NOT_APPLICABLE)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "violations": [asdict(v) | {"line": v.line} for v in self.violations]}


def frame_stats(frame: np.ndarray) -> dict[str, list[float]]:
    """Per-channel mean and quantiles of a uint8 (H, W, 3) frame."""
    pixels = frame.reshape(-1, 3).astype(np.float64)
    stats = {"mean": pixels.mean(axis=0)}
    stats |= {f"q{q}": np.percentile(pixels, q, axis=0) for q in QUANTILES}
    return {k: [round(float(x), 2) for x in v] for k, v in stats.items()}


def compare_stats(
    measured: dict[str, list[float]], reference: dict[str, list[float]], tolerance: Tolerance
) -> list[tuple[str, str, str]]:
    """(statistic, measured, expected) of every statistic outside its tolerance."""
    out = []
    for name, ref in reference.items():
        limit = tolerance.mean if name == "mean" else tolerance.quantile
        got = measured[name]
        if any(abs(a - b) > limit for a, b in zip(got, ref, strict=True)):
            label = "mean RGB" if name == "mean" else f"{name[1:]}% quantile RGB"
            out.append((label, str(got), f"{ref} ± {limit}"))
    return out


def object_relations(domain: Any) -> list[list[str]]:
    """The task's `:init` relations On/In whose both arguments are objects or fixtures (not regions)."""
    things = set(domain.objects_dict) | set(domain.fixtures_dict)
    return [
        state
        for state in domain.parsed_problem["initial_state"]
        if len(state) == 3 and state[0] in RELATIONS and state[1] in things and state[2] in things
    ]


def _pose_note(domain: Any, a: str, b: str) -> str:
    """Where `a` sits relative to `b` (the numbers the On predicate tests)."""
    pa = domain.sim.data.body_xpos[domain.obj_body_id[a]]
    pb = domain.sim.data.body_xpos[domain.obj_body_id[b]]
    return f"centres {100 * np.linalg.norm(pa[:2] - pb[:2]):.1f} cm apart, {100 * (pa[2] - pb[2]):+.1f} cm up"


def check_relations(domain: Any) -> list[tuple[str, bool, str]]:
    """(relation, holds, pose) of every object relation of the task's init, by LIBERO's predicates."""
    results = []
    for state in object_relations(domain):
        name = f"{state[0].capitalize()}({state[1]}, {state[2]})"
        results.append((name, bool(domain._eval_predicate(state)), _pose_note(domain, state[1], state[2])))
    return results


def reference_stats(
    dataset: Path, suite: str, task_ids: list[int], camera: str, per_task: int, size: int | None = None
) -> dict[int, dict[str, list[float]]]:
    """Per task: the mean statistics of the first frame of up to `per_task` training episodes of the task
    (for a LIBERO-PRO variant that keeps the scene, of the plain task: found by its instruction)."""
    from wmvla.data.checks import episode_tasks
    from wmvla.data.suites import select_episodes, suite_tasks
    from wmvla.latents.frames import EpisodeFrames

    source, why = image_reference_suite(suite)
    if source is None:
        raise SceneCheckError(f"{suite}: the first-frame comparison with training frames {why}")
    instructions = suite_tasks(source)
    episodes = episode_tasks(dataset)
    frames = EpisodeFrames(dataset, camera)
    position = {int(e): i for i, e in enumerate(frames.episodes.episode_index)}
    out = {}
    for task_id in task_ids:
        wanted = {instructions[task_id].strip().lower()}
        chosen = select_episodes(episodes, wanted)[:per_task]
        if not chosen:
            task = f"{suite} task {task_id} ({instructions[task_id]!r})"
            raise SceneCheckError(f"{dataset} has no episode of {task}")
        stats = [frame_stats(_resized(frames.episode(position[e])[0].numpy(), size)) for e in chosen]
        out[task_id] = {k: np.mean([s[k] for s in stats], axis=0).round(2).tolist() for k in stats[0]}
    return out


def _resized(frame: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or frame.shape[0] == size:
        return frame
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR))


def check_suite(
    suite: str,
    task_ids: list[int],
    init_states: int,
    image_size: int,
    reference: dict[int, dict[str, list[float]]] | None,
    tolerance: Tolerance = Tolerance(),
    reference_size: int | None = None,
) -> SceneReport:
    """Reset every (task, init state 0..init_states-1) as the evaluation does and check it."""
    import time

    from tqdm import tqdm

    from wmvla.sim.envs import reset_scene
    from wmvla.sim.versions import simulator_versions

    started = time.perf_counter()
    source, why = image_reference_suite(suite)
    if reference is not None and source is None:
        raise SceneCheckError(f"{suite}: the first-frame comparison with training frames {why}")
    image_check = why if reference is not None or source is None else "none: no training frames given"
    report = SceneReport(suite, image_check=image_check)
    with tqdm(total=len(task_ids) * init_states, desc=f"scene check {suite}", unit="scene") as progress:
        for task_id in task_ids:
            scene = reset_scene(suite, task_id, 0, image_size)
            try:
                for j in range(init_states):
                    if j:
                        scene.env.set_attr("init_state_id", [j])
                        scene.observation, _ = scene.env.reset(seed=[0])
                    where = (suite, task_id, j)
                    report.checked.append(
                        _check_one(report, scene, where, reference, tolerance, reference_size)
                    )
                    progress.update()
                report.simulator = report.simulator or simulator_versions()
            finally:
                scene.close()
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def _check_one(report, scene, where, reference, tolerance, reference_size) -> dict[str, Any]:
    suite, task_id, j = where
    domain = scene.libero_env._env.env  # LIBERO's BDDL problem inside LeRobot's env
    relations = check_relations(domain)
    for name, holds, pose in relations:
        if not holds:
            report.violations.append(Violation(suite, task_id, j, name, pose, "the relation holds"))
    stats = frame_stats(_resized(scene.frame(), reference_size))
    if reference is not None:
        for label, got, expected in compare_stats(stats, reference[task_id], tolerance):
            report.violations.append(Violation(suite, task_id, j, f"first frame {label}", got, expected))
    return {"task_id": task_id, "init_state_id": j, "relations": relations, "frame": stats}
