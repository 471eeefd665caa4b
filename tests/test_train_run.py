"""A resumable training run: start, resume, refuse another run's state, prune, declare when complete."""

import json
from pathlib import Path

import pytest

from wmvla.train.run import TrainRun, TrainRunError, identity


def _checkpoint(run: TrainRun, step: int, complete: bool = True) -> Path:
    path = run.checkpoints / f"{step:06d}"
    (path / "pretrained_model").mkdir(parents=True)
    (path / "pretrained_model" / "model.safetensors").write_bytes(b"w" * step)
    if complete:
        (path / "pretrained_model" / "train_config.json").write_text("{}")
        (path / "training_state").mkdir()
        (path / "training_state" / "training_step.json").write_text(json.dumps({"step": step}))
    return path


def _last(run: TrainRun, step: int) -> None:
    link = run.checkpoints / "last"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(f"{step:06d}")


ARGS = ["--policy.type=smolvla_world", "--steps=200", "--output_dir=x/train.partial/run"]


def test_a_fresh_run_starts_in_its_partial_directory(tmp_path):
    run = TrainRun(tmp_path / "train")
    assert run.plan(identity(ARGS, None), start_over=False) == ("start", 0)
    assert run.partial == tmp_path / "train.partial" and not run.run_dir.exists()  # LeRobot creates it
    assert json.loads((run.partial / "wmvla_run.json").read_text())["args"] == ARGS[:2]


def test_a_rerun_resumes_from_the_newest_checkpoint_and_forgets_later_metrics(tmp_path):
    run = TrainRun(tmp_path / "train")
    run.plan(identity(ARGS, None), start_over=False)
    for step in (50, 100):
        _checkpoint(run, step)
    _checkpoint(run, 150, complete=False)  # killed while writing it
    _last(run, 100)
    metrics = run.run_dir / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "world_loss": 1.0}) + "\n" for s in range(10, 140, 10)))
    assert run.plan(identity(ARGS, None), start_over=False) == ("resume", 100)
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == list(range(10, 110, 10))
    assert run.resume_args() == [
        "--resume=true",
        f"--config_path={run.checkpoints.resolve() / '000100' / 'pretrained_model' / 'train_config.json'}",
    ]


def test_a_kill_while_the_metrics_are_cut_back_loses_no_record(tmp_path, monkeypatch):
    """The cut-back is written beside the log and renamed over it: killed before the rename (here: the rename
    itself interrupted), the log is whole, and the next attempt cuts it back again."""
    import wmvla.files

    run = TrainRun(tmp_path / "train")
    run.plan(identity(ARGS, None), start_over=False)
    _checkpoint(run, 50)
    _last(run, 50)
    metrics = run.run_dir / "metrics.jsonl"
    logged = "".join(json.dumps({"step": s}) + "\n" for s in range(10, 90, 10))
    metrics.write_text(logged)

    def killed(*args):
        raise KeyboardInterrupt  # SIGINT/SIGTERM arriving mid-rewrite

    with monkeypatch.context() as patch:
        patch.setattr(wmvla.files.Path, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            run.plan(identity(ARGS, None), start_over=False)
    assert metrics.read_text() == logged  # nothing lost
    assert run.plan(identity(ARGS, None), start_over=False) == ("resume", 50)
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [10, 20, 30, 40, 50]


def test_a_last_metrics_line_cut_off_by_the_kill_is_dropped_a_damaged_one_before_it_refused(tmp_path, caplog):
    run = TrainRun(tmp_path / "train")
    run.plan(identity(ARGS, None), start_over=False)
    _checkpoint(run, 50)
    _last(run, 50)
    metrics = run.run_dir / "metrics.jsonl"
    records = "".join(json.dumps({"step": s, "world_loss": 1.0}) + "\n" for s in range(10, 70, 10))
    metrics.write_text(records + '{"step": 70, "world_lo')  # killed mid-write (preemption)
    assert run.plan(identity(ARGS, None), start_over=False) == ("resume", 50)
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [10, 20, 30, 40, 50]
    assert "dropped its last line, cut off when the run was killed" in caplog.text
    metrics.write_text('{"step": 10}\n{"st\n{"step": 30}\n')
    with pytest.raises(
        TrainRunError, match=r"metrics.jsonl:2 is not a JSON record .* remove .*train.partial"
    ):
        run.plan(identity(ARGS, None), start_over=False)


def test_a_rerun_with_other_settings_is_refused_until_started_over(tmp_path):
    run = TrainRun(tmp_path / "train")
    run.plan(identity(ARGS, None), start_over=False)
    _checkpoint(run, 50)
    _last(run, 50)
    changed = identity([*ARGS, "--policy.world_k=4"], None)
    with pytest.raises(
        TrainRunError, match=r"holds 50 steps of a run with other settings \(differs in --policy.world_k=4\)"
    ):
        run.plan(changed, start_over=False)
    with pytest.raises(TrainRunError, match=rf"rm -rf {run.partial}"):
        run.plan(changed, start_over=False)
    assert (run.checkpoints / "000050").is_dir()  # nothing deleted
    assert run.plan(changed, start_over=True) == ("start", 0) and not run.checkpoints.exists()


def test_an_unfinished_run_without_a_checkpoint_starts_over_whatever_its_settings(tmp_path):
    run = TrainRun(tmp_path / "train")
    run.plan(identity(ARGS, None), start_over=False)
    _checkpoint(run, 50, complete=False)
    assert run.plan(identity([*ARGS, "--seed=3"], None), start_over=False) == ("start", 0)
    assert not run.checkpoints.exists()


def test_only_the_newest_checkpoints_stay_and_one_in_writing_is_never_touched(tmp_path):
    run = TrainRun(tmp_path / "train", keep=2)
    for step in (50, 100, 150):
        _checkpoint(run, step)
    _checkpoint(run, 200, complete=False)
    _last(run, 150)
    assert run.prune() == [50]
    run.keep = 1
    assert run.prune() == [100]
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["000150", "000200", "last"]


def test_a_finished_run_keeps_its_final_checkpoint_and_is_declared_at_once(tmp_path):
    run = TrainRun(tmp_path / "train")
    run.plan(identity(ARGS, None), start_over=False)
    with pytest.raises(TrainRunError, match="no complete checkpoint at step 200"):
        run.finish(200)
    for step in (150, 200):
        _checkpoint(run, step)
    _last(run, 200)
    out = run.finish(200)
    assert out == tmp_path / "train" and not run.partial.exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["000200", "last"]
    # what run it is stays with it: a job taking the lease after its holder ended finds it done, another not
    again = TrainRun(tmp_path / "train")
    assert again.finished_as(identity(ARGS, None))
    assert not again.finished_as(identity([*ARGS, "--batch_size=4"], None))
    with pytest.raises(TrainRunError, match="already a finished run"):
        again.plan(identity(ARGS, None), start_over=False)
    assert again.lease == tmp_path / "train.lease"


def test_keep_must_be_positive(tmp_path):
    with pytest.raises(TrainRunError, match="keep_checkpoints must be >= 1"):
        TrainRun(tmp_path / "t", keep=0)
