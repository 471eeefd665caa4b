"""Scene checks in the real LIBERO simulator: relations by LIBERO's predicates, first frames vs training."""

import numpy as np
import pytest

from wmvla.gates.scene import scene_gate
from wmvla.sim.envs import reset_scene
from wmvla.sim.scene_check import (
    Tolerance,
    check_relations,
    check_suite,
    compare_stats,
    frame_stats,
    object_relations,
    reference_stats,
)

SUITE = "libero_spatial"
RAMEKIN_TASK = 5  # "pick up the black bowl on the ramekin …": the relation MuJoCo >= 3.4 unseats


@pytest.fixture(scope="module")
def ramekin_scene():
    scene = reset_scene(SUITE, RAMEKIN_TASK, 0, 64)
    yield scene
    scene.close()


def test_the_pinned_simulator_seats_the_task_5_bowl_in_the_ramekin(ramekin_scene):
    domain = ramekin_scene.libero_env._env.env
    assert [s[1:] for s in object_relations(domain)] == [
        ["akita_black_bowl_1", "glazed_rim_porcelain_ramekin_1"],
        ["akita_black_bowl_2", "cookies_1"],
    ]  # region relations (where LIBERO samples placements) are not object relations
    relations = check_relations(domain)
    assert [holds for _, holds, _ in relations] == [True, True], relations


def test_an_object_moved_off_its_support_is_reported_by_name(ramekin_scene):
    domain = ramekin_scene.libero_env._env.env
    joint = domain.get_object("akita_black_bowl_1").joints[-1]
    saved = domain.sim.data.get_joint_qpos(joint).copy()
    moved = saved.copy()
    moved[0] += 0.15  # 15 cm along x: off the ramekin, onto the table
    try:
        domain.sim.data.set_joint_qpos(joint, moved)
        domain.sim.forward()
        name, holds, pose = check_relations(domain)[0]
        assert name == "On(akita_black_bowl_1, glazed_rim_porcelain_ramekin_1)" and holds is False
        assert pose.startswith("centres 1") and "cm apart" in pose
    finally:
        domain.sim.data.set_joint_qpos(joint, saved)
        domain.sim.forward()


def test_frame_statistics_flag_a_darkened_render():
    rng = np.random.default_rng(0)
    frame = rng.integers(40, 220, size=(64, 64, 3), dtype=np.uint8)
    bright = frame_stats(frame)
    assert compare_stats(frame_stats(frame), bright, Tolerance()) == []
    darker = frame_stats(
        (frame * 0.77).astype(np.uint8)
    )  # the floor-darkening shift seen from MuJoCo 3.3.3 on
    flagged = [label for label, _, _ in compare_stats(darker, bright, Tolerance())]
    assert flagged[0] == "mean RGB" and "50% quantile RGB" in flagged


@pytest.fixture(scope="module")
def training_frames(tmp_path_factory):
    """Training frames recorded in this very simulator: task 0, init states 0 and 1, 64 px."""
    from wmvla.data.record_smoke import SmokeSpec, record_smoke_dataset

    spec = SmokeSpec(task_ids=(0,), episodes_per_task=2, steps_per_episode=2, image_size=64)
    return record_smoke_dataset(tmp_path_factory.mktemp("frames") / "ds", spec)


@pytest.mark.slow  # records and renders LIBERO scenes (~60 s); the smoke study's gate_scene checks the same
def test_a_faithful_scene_passes_and_a_render_off_the_training_frames_fails(training_frames):
    reference = reference_stats(training_frames, SUITE, [0], "observation.images.image", per_task=2)
    report = check_suite(SUITE, [0], 2, 64, reference)
    assert report.violations == [] and len(report.checked) == 2
    gate = scene_gate(report)
    assert gate.passed is True and gate.name == "scene[libero_spatial]" and "mujoco" in gate.question
    assert report.simulator["mujoco"] and report.simulator["gl_vendor"]

    brighter = {0: {k: [v + 35 for v in values] for k, values in reference[0].items()}}  # training ≠ render
    failed = check_suite(SUITE, [0], 1, 64, brighter)
    assert [v.check for v in failed.violations][:1] == ["first frame mean RGB"]
    assert scene_gate(failed).passed is False
    assert "libero_spatial task 0 init state 0: first frame mean RGB" in scene_gate(failed).detail
