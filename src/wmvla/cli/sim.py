"""`wmvla sim check`: scenes reset as the evaluation resets them are LIBERO's (and, in the DAG, a gate).

`--suite` may name a LIBERO-PRO variant (`libero_spatial_lan`): the process then simulates with LIBERO-PRO
(`wmvla.sim.pro`), and its first frames are compared with training frames only if its scene is the plain
one's (`wmvla.sim.scene_check.image_reference_suite`)."""

import argparse
import json
import logging
from pathlib import Path

from wmvla.cli.parsing import command, is_true, subgroup

log = logging.getLogger("wmvla")


def _dataset_image_size(root: Path, camera: str) -> int:
    info = json.loads((root / "meta" / "info.json").read_text())
    return int(info["features"][camera]["shape"][0])


def _check(args: argparse.Namespace) -> None:
    from wmvla.sim.pro import use_simulator_for

    use_simulator_for(args.suite)  # before anything below imports LIBERO
    from wmvla.data.suites import libero_suite
    from wmvla.eval.results import write_result
    from wmvla.gates.record import record
    from wmvla.gates.scene import scene_gate
    from wmvla.sim.scene_check import (
        SceneCheckError,
        Tolerance,
        check_suite,
        image_reference_suite,
        reference_stats,
    )

    task_ids = args.task_ids or list(range(libero_suite(args.suite).n_tasks))
    reference, size = None, None
    compared, why = image_reference_suite(args.suite)
    if args.dataset and compared is None:
        log.info("%s: the image comparison %s", args.suite, why)
    elif args.dataset:
        size = _dataset_image_size(args.dataset, args.camera)
        episodes = args.reference_episodes
        reference = reference_stats(args.dataset, args.suite, task_ids, args.camera, episodes, size)
    tolerance = Tolerance(args.tolerance_mean, args.tolerance_quantile)
    report = check_suite(args.suite, task_ids, args.init_states, args.image_size, reference, tolerance, size)
    write_result({**report.to_json(), "reference": reference, "tolerance": tolerance.__dict__}, args.report)
    for violation in report.violations:
        log.error("%s", violation.line)
    log.info(
        "%d scenes in %.0f s: %d violation(s); image check: %s",
        len(report.checked),
        report.seconds,
        len(report.violations),
        report.image_check,
    )
    if args.gate_out:
        record([scene_gate(report)], is_true(args.enforce), args.gate_out)
    elif report.violations:
        raise SceneCheckError(f"{len(report.violations)} scene violation(s) in {args.suite}; see above")


def register(groups: argparse._SubParsersAction) -> None:
    sim = subgroup(groups, "sim", "the LIBERO simulator")
    p = command(sim, "check", _check, "scenes reset as the evaluation resets them are LIBERO's")
    p.add_argument("--suite", required=True)
    p.add_argument("--task-ids", type=int, nargs="*", default=None, help="default: every task of the suite")
    p.add_argument("--init-states", type=int, default=50, help="init states 0..n-1 of every task")
    p.add_argument("--image-size", type=int, default=256, help="as the evaluation renders")
    p.add_argument("--dataset", type=Path, default=None, help="training frames to compare first frames with")
    p.add_argument("--camera", default="observation.images.image")
    p.add_argument("--reference-episodes", type=int, default=5, help="training episodes per task")
    p.add_argument("--tolerance-mean", type=float, default=10.0, help="per channel, 0..255 levels")
    p.add_argument("--tolerance-quantile", type=float, default=20.0)
    p.add_argument("--report", type=Path, required=True, help="every scene's relations and frame statistics")
    p.add_argument("--gate-out", type=Path, default=None, help="write a gate record (the gates stage)")
    p.add_argument("--enforce", choices=("true", "false"), default="true")
