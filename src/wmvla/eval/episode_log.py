"""Per-episode records of one evaluation, appended as episodes finish, so an interrupted run resumes.

Why a log of our own: a LIBERO evaluation is hours of rollouts; `lerobot-eval` keeps its results in
memory until the end, so a preempted job loses them all. The first line identifies the evaluation
(checkpoint weights, overrides, episodes, seed); a log made by another evaluation is set aside, never
mixed in. A line cut short by a kill is ignored (that episode is simply run again).
"""

import json
import logging
import os
from pathlib import Path
from typing import Any

from wmvla.files import write_text

log = logging.getLogger(__name__)


class EpisodeLog:
    """Append-only JSONL: a header `{"evaluation": identity}`, then one episode record per line."""

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path, self.identity = Path(path), identity
        self.episodes: list[dict[str, Any]] = self._resume()

    def _resume(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            self._start()
            return []
        lines = self.path.read_text().splitlines()
        header = _parse(lines[0]) if lines else None
        if header is None or header.get("evaluation") != json.loads(json.dumps(self.identity)):
            stale = self.path.with_name(self.path.name + ".stale")
            log.warning("%s belongs to another evaluation; moved to %s, starting afresh", self.path, stale)
            self.path.replace(stale)
            self._start()
            return []
        episodes = [record for line in lines[1:] if (record := _parse(line)) is not None]
        if len(episodes) < len(lines) - 1:
            log.warning("%s: ignored %d unreadable line(s)", self.path, len(lines) - 1 - len(episodes))
            self._rewrite(episodes)  # drop the cut line so later appends start on a fresh line
        log.info("%s: resuming after %d finished episode(s)", self.path, len(episodes))
        return episodes

    def finished(self) -> set[tuple[int, int]]:
        """(task_id, init_state_id) of every recorded episode."""
        return {(e["task_id"], e["init_state_id"]) for e in self.episodes}

    def append(self, records: list[dict[str, Any]]) -> None:
        """Add finished episodes and make them durable before returning."""
        with self.path.open("a") as f:
            for record in records:
                f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.episodes.extend(records)

    def _start(self) -> None:
        self._rewrite([])

    def _rewrite(self, episodes: list[dict[str, Any]]) -> None:
        lines = [json.dumps({"evaluation": self.identity}, sort_keys=True)]
        lines += [json.dumps(e, sort_keys=True) for e in episodes]
        write_text(self.path, "\n".join(lines) + "\n")


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None
