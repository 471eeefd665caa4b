"""A training run that survives preemption and time limits, through LeRobot's own `--resume`.

Why: each full-study training is hours on a GPU under a Slurm time limit; a preempted or killed job that
restarts from step 0 throws that away, and Snakemake deletes a failed job's declared output. So a run
works in `<output>.partial/` — which Snakemake does not know and never deletes — with LeRobot writing
checkpoints every `save_freq` steps into `<output>.partial/run/`; a rerun with the same settings resumes
from the newest complete checkpoint (`lerobot-train --resume=true --config_path=<checkpoint>`: weights,
optimizer, scheduler, step and data order as LeRobot saved them), and only a finished run is moved to
`<output>` (atomically, one rename), so Snakemake and DVC never see a half-trained run. A rerun with other
settings is refused instead of mixing two runs. Only the newest `keep` checkpoints stay on disk while
training, and a finished run keeps its final one, with the record of what run it is (`wmvla_run.json`).
Two jobs never write one run at once: the training holds a lease on it (wmvla.lease).
"""

import hashlib
import importlib.metadata
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wmvla.errors import WmvlaError
from wmvla.files import checkpoint_step, write_text
from wmvla.lease import lease_path

log = logging.getLogger(__name__)

RUN_RECORD = "wmvla_run.json"
PROGRESS_FILE = "progress.json"  # in `.partial/` while training (wmvla.train.progress; read by wmvla status)
IGNORED_FOR_IDENTITY = ("--output_dir=", "--config_path=")  # where, not what


class TrainRunError(WmvlaError, RuntimeError):
    """The run cannot be started or resumed as asked (another run's state, an incomplete finish…)."""


def identity(lerobot_args: list[str], base_config: dict | None) -> dict:
    """What makes two attempts the same run: the arguments (not where they write), the init's config,
    and the versions of the code that interprets them."""
    args = [a for a in lerobot_args if not a.startswith(IGNORED_FOR_IDENTITY)]
    versions = {name: importlib.metadata.version(name) for name in ("lerobot", "wmvla")}
    blob = json.dumps({"args": args, "base": base_config, "versions": versions}, sort_keys=True)
    return {"fingerprint": hashlib.sha256(blob.encode()).hexdigest()[:16], "args": args, "versions": versions}


@dataclass
class TrainRun:
    output: Path  # what the DAG declares; exists only once the run is complete
    keep: int = 1  # checkpoints kept on disk while training (the newest ones)

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        if self.keep < 1:
            raise TrainRunError(f"keep_checkpoints must be >= 1, got {self.keep}")

    @property
    def partial(self) -> Path:
        return self.output.with_name(self.output.name + ".partial")

    @property
    def run_dir(self) -> Path:
        """LeRobot's --output_dir while the run is unfinished."""
        return self.partial / "run"

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    def complete_checkpoints(self) -> dict[int, Path]:
        """Step → directory of every complete checkpoint (LeRobot's `last` link left aside)."""
        if not self.checkpoints.is_dir():
            return {}
        found = {}
        for path in self.checkpoints.iterdir():
            if path.is_dir() and not path.is_symlink() and (step := checkpoint_step(path)) is not None:
                found[step] = path
        return found

    def last_checkpoint(self) -> tuple[int, Path] | None:
        """The checkpoint LeRobot's `last` link names, if it is complete (the one a resume starts from)."""
        last = self.checkpoints / "last"
        if not last.is_symlink():
            return None
        target = last.resolve()
        step = checkpoint_step(target)
        return (step, target) if step is not None else None

    def prune(self) -> list[int]:
        """Delete complete checkpoints older than the newest `keep` (never `last`'s, never one in writing)."""
        last = self.last_checkpoint()
        if last is None:
            return []
        complete = self.complete_checkpoints()
        older = sorted(step for step in complete if step < last[0])
        doomed = older[: max(0, len(older) - (self.keep - 1))]
        for step in doomed:
            shutil.rmtree(complete[step], ignore_errors=True)
        return doomed

    @contextmanager
    def pruning(self, every_s: float = 10.0) -> Iterator[None]:
        """Prune in the background while LeRobot trains (it has no hook for it)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every_s):
                self.prune()

        worker = threading.Thread(target=loop, name="wmvla-prune", daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join()
            self.prune()

    @property
    def lease(self) -> Path:
        return lease_path(self.output)

    def finished_as(self, run_identity: dict) -> bool:
        """Whether `output` is already this very run, finished (by an earlier job that held the lease)."""
        record = self.output / RUN_RECORD
        return (
            record.is_file() and json.loads(record.read_text())["fingerprint"] == run_identity["fingerprint"]
        )

    def plan(self, run_identity: dict, start_over: bool) -> tuple[str, int]:
        """How this attempt goes: ("start", 0) or ("resume", step). Clears what must be cleared."""
        if self.output.exists():
            raise TrainRunError(f"{self.output} is already a finished run; remove it to train again")
        if start_over and self.partial.exists():
            log.warning("starting over: discarding %s", self.partial)
            shutil.rmtree(self.partial)
        record = self.partial / RUN_RECORD
        previous = json.loads(record.read_text()) if record.is_file() else None
        last = self.last_checkpoint()
        other = previous is not None and previous["fingerprint"] != run_identity["fingerprint"]
        if other and last is not None:
            changed = _differences(previous, run_identity)
            raise TrainRunError(
                f"{self.partial} holds {last[0]} steps of a run with other settings ({changed}); "
                f"resuming would mix two runs. To discard it and start over: rm -rf {self.partial} "
                "(or pass --start_over=true)"
            )
        if last is None:  # nothing worth keeping: fewer steps than one checkpoint
            if self.partial.exists():
                log.info("no complete checkpoint in %s: starting from step 0", self.partial)
                shutil.rmtree(self.partial)
            self.partial.mkdir(parents=True)
            record.write_text(json.dumps(run_identity, indent=2) + "\n")
            return "start", 0
        self._truncate_metrics(last[0])
        return "resume", last[0]

    def resume_args(self) -> list[str]:
        """LeRobot's own resume: everything else comes from the checkpoint's saved train config."""
        _, path = self.last_checkpoint()
        return ["--resume=true", f"--config_path={path / 'pretrained_model' / 'train_config.json'}"]

    def _truncate_metrics(self, step: int) -> None:
        """Drop the metric records logged after the checkpoint: those steps run again. A last line cut off by
        the kill (preemption, a time limit) is dropped too; a damaged line before it is an error."""
        metrics = self.run_dir / "metrics.jsonl"
        if not metrics.is_file():
            return
        lines = [line for line in metrics.read_text().splitlines() if line.strip()]
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append((line, json.loads(line)))
            except json.JSONDecodeError:
                if number < len(lines):
                    raise TrainRunError(
                        f"{metrics}:{number} is not a JSON record (nor the last line, which a kill may cut "
                        f"off): the run's log is damaged; remove {self.partial} to start over"
                    ) from None
                log.warning("metrics.jsonl: dropped its last line, cut off when the run was killed: %r", line)
        kept = [line for line, record in records if record["step"] <= step]
        write_text(metrics, "".join(f"{line}\n" for line in kept))  # atomic: a kill now loses no record
        if len(kept) != len(records):
            log.info("metrics.jsonl: dropped %d record(s) after step %d", len(records) - len(kept), step)

    def finish(self, steps: int) -> Path:
        """The run reached `steps`: keep its final checkpoint only, then declare it (one rename)."""
        complete = self.complete_checkpoints()
        if steps not in complete:
            raise TrainRunError(f"{self.run_dir} has no complete checkpoint at step {steps}: not declared")
        for step, path in complete.items():
            if step != steps:
                shutil.rmtree(path)
        shutil.copy2(self.partial / RUN_RECORD, self.run_dir / RUN_RECORD)
        self.run_dir.rename(self.output)
        shutil.rmtree(self.partial)
        return self.output


def _differences(previous: dict, current: dict) -> str:
    old, new = set(previous.get("args", [])), set(current.get("args", []))
    changed = sorted(old ^ new)
    if previous.get("versions") != current.get("versions"):
        changed.append(f"versions {previous.get('versions')} -> {current.get('versions')}")
    shown = ", ".join(changed[:6]) + (" …" if len(changed) > 6 else "")
    return f"differs in {shown}" if changed else "a different init config"
