"""How every artifact is written and read back: atomically, checksummed, named as the pipeline names it.

Why one module: an artifact half-written by a killed or preempted job must never look complete — to
Snakemake, to DVC or to a resuming job — so every file that marks something as done is written to a
temporary sibling and renamed into place (one `rename`, atomic on POSIX filesystems). The same goes for
the few facts every stage reads off another's files: a checkpoint's step, a file's checksum, the name
of the provenance record and of the environment variable that says which study a job belongs to.
"""

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PROVENANCE_FILE = "provenance.json"  # next to every artifact (wmvla.provenance writes it)
STUDY_ENV = "WMVLA_STUDY"  # set for every job by the DAG: the study whose artifacts it makes


@contextmanager
def atomic_write(path: Path | str, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> Path:
    with atomic_write(path) as f:
        f.write(text)
    return Path(path)


def write_json(path: Path | str, data: Any, **dumps: Any) -> Path:
    """`data` as JSON (indented, one trailing newline), atomically."""
    return write_text(path, json.dumps(data, indent=2, default=str, **dumps) + "\n")


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_step(step_dir: Path | str) -> int | None:
    """The training step a LeRobot checkpoint directory (`checkpoints/<step>/`) holds, or None if it is
    incomplete or no training checkpoint (e.g. a Hub snapshot of a policy).

    Complete means what a resume needs: `training_state/training_step.json` and the saved train config.
    Given `<step>/pretrained_model`, the step directory above it is read.
    """
    step_dir = Path(step_dir)
    if step_dir.name == "pretrained_model":
        step_dir = step_dir.resolve().parent
    step_file = step_dir / "training_state" / "training_step.json"
    config = step_dir / "pretrained_model" / "train_config.json"
    if not (step_file.is_file() and config.is_file()):
        return None
    try:
        return int(json.loads(step_file.read_text())["step"])
    except (json.JSONDecodeError, KeyError, ValueError):
        return None
