"""`eval/<mode>.json` from a stock lerobot-eval run (hand-made eval_info.json, no simulator)."""

import json

import pytest

from wmvla.eval.lerobot_eval import EvalImportError, checkpoint_step, import_lerobot_eval


def _eval_info(successes_by_task, group="libero_spatial"):
    return {
        "per_task": [
            {"task_group": group, "task_id": tid, "metrics": {"successes": s, "sum_rewards": [0.0] * len(s)}}
            for tid, s in successes_by_task.items()
        ],
        "overall": {"eval_s": 12.5},
    }


@pytest.fixture
def checkpoint(tmp_path):
    step_dir = tmp_path / "train" / "checkpoints" / "000200"
    (step_dir / "pretrained_model").mkdir(parents=True)
    (step_dir / "training_state").mkdir()
    (step_dir / "training_state" / "training_step.json").write_text('{"step": 200}')
    (tmp_path / "train" / "checkpoints" / "last").symlink_to("000200")
    return tmp_path / "train" / "checkpoints" / "last" / "pretrained_model"


def _import(tmp_path, info, checkpoint, suite="libero_spatial"):
    info_file = tmp_path / "eval_info.json"
    info_file.write_text(json.dumps(info))
    out = tmp_path / "eval" / "pred.json"
    import_lerobot_eval(info_file, checkpoint, suite=suite, mode="pred", seed=3, out=out)
    return json.loads(out.read_text())


def test_result_has_episodes_tasks_and_wilson_cis(tmp_path, checkpoint):
    result = _import(tmp_path, _eval_info({2: [True, False, True], 0: [False, False]}), checkpoint)
    assert result["suite"] == "libero_spatial" and result["seed"] == 3 and result["checkpoint_step"] == 200
    assert [(e["task_id"], e["init_state_id"], e["success"]) for e in result["episodes"]] == [
        (0, 0, False),
        (0, 1, False),
        (2, 0, True),
        (2, 1, False),
        (2, 2, True),
    ]
    by_task = {t["task_id"]: t for t in result["tasks"]}
    assert by_task[2]["sr"] == pytest.approx(2 / 3) and by_task[0]["sr"] == 0.0
    assert by_task[0]["task"].startswith("pick up the black bowl")
    assert result["overall"]["n_episodes"] == 5 and result["overall"]["successes"] == 2
    low, high = result["overall"]["sr_ci95"]
    assert 0 < low < 0.4 < high < 1
    assert result["provenance"]["packages"]["lerobot"] == "0.6.1"


def test_checkpoint_step_follows_the_last_link(checkpoint):
    assert checkpoint_step(checkpoint) == 200


def test_wrong_suite_is_rejected(tmp_path, checkpoint):
    with pytest.raises(EvalImportError, match="expected 'libero_goal'"):
        _import(tmp_path, _eval_info({0: [True]}), checkpoint, suite="libero_goal")


def test_missing_eval_info_is_a_clear_error(tmp_path, checkpoint):
    with pytest.raises(EvalImportError, match="did lerobot-eval finish"):
        import_lerobot_eval(
            tmp_path / "nope.json", checkpoint, "libero_spatial", "pred", 0, tmp_path / "o.json"
        )


def test_eval_without_episodes_is_rejected(tmp_path, checkpoint):
    with pytest.raises(EvalImportError, match="no episodes"):
        _import(tmp_path, {"per_task": []}, checkpoint)
