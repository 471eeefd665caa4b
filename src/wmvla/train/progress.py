"""A training's progress while it runs: where it is (`progress.json`, read by `wmvla status`) and its curves
(TensorBoard event files, read by `tensorboard --logdir logs/<study>/curves`).

Why a logging filter: on every log step LeRobot's train loop logs its `MetricsTracker` object itself
(`logging.info(train_tracker)`, on the root logger); a filter on that logger — which LeRobot's
`init_logging` leaves in place, where it replaces the handlers — sees the record and reads the
tracker's values through LeRobot's public `to_dict()`: loss, gradient norm, learning rate, step and
data times, and the scalars the policy's `forward` returns — a `smolvla_world` policy's world metrics
among them (the values it appends to `metrics.jsonl`). No change to LeRobot's code, whatever the policy
type (E0's SmolVLA too).

Why TensorBoard event files, one directory per run: each run appends to files of its own (no database
shared by ~200 jobs over NFS), nothing runs beside the training, a cluster node needs no network, and
TensorBoard reads the tree live from any machine that mounts it; the directory names the suite, arm and seed,
so its run filter groups by each. A resumed run starts a new event file from its checkpoint's step
(`purge_step`): TensorBoard drops the steps the killed attempt logged after it.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wmvla.files import write_json

log = logging.getLogger(__name__)

FLUSH_S = 10  # seconds between the event writer's flushes: how far the curves may lag the training
TRACKER_COUNTS = ("steps", "samples", "episodes", "epochs")
WORLD_PREFIXES = ("world_", "grad_world", "grad_prophet")  # the world branch's metrics (world_gate…)


def curve_tags(values: dict[str, float]) -> dict[str, float]:
    """Curve name → value: `world/<name>` for the world branch's metrics (`world_*`, `grad_*`), `train/<name>`
    for the rest (loss, grad_norm, lr…); the tracker's counters are the x axis, not curves."""
    return {
        f"{'world' if name.startswith(WORLD_PREFIXES) else 'train'}/{name}": float(value)
        for name, value in values.items()
        if name not in TRACKER_COUNTS and isinstance(value, int | float) and not isinstance(value, bool)
    }


class TrainingProgress(logging.Filter):
    """Writes `progress.json` and the curves on each of LeRobot's log steps (see the module's docstring);
    lets every record through."""

    def __init__(self, progress: Path, steps: int, curves: Path | None, start_step: int) -> None:
        super().__init__()
        from lerobot.utils.logging_utils import MetricsTracker

        self._tracker_type = MetricsTracker
        self.progress, self.steps = Path(progress), steps
        self.writer = None
        if curves is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(curves), purge_step=start_step or None, flush_secs=FLUSH_S)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, self._tracker_type):
            try:
                values = record.msg.to_dict()
                step = int(values["steps"])
                write_json(self.progress, {"step": step, "steps": self.steps, "time": time.time()})
                if self.writer is not None:
                    for tag, value in curve_tags(values).items():
                        self.writer.add_scalar(tag, value, step)
            except Exception as err:  # never fail the training for its progress report
                log.warning("progress of step %s not reported: %r", getattr(record.msg, "steps", "?"), err)
        return True

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@contextmanager
def reporting(progress: Path, steps: int, curves: Path | None, start_step: int) -> Iterator[TrainingProgress]:
    """LeRobot's log steps reported by a `TrainingProgress` while the block runs."""
    observer = TrainingProgress(progress, steps, curves, start_step)
    root = logging.getLogger()
    root.addFilter(observer)
    try:
        yield observer
    finally:
        root.removeFilter(observer)
        observer.close()
