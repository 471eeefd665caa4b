"""Which study made an artifact, and the refusal to overwrite another study's.

Why: one checkout holds several studies (the CPU smoke study next to the full MI300X one). Each writes
under its own root, and every artifact's provenance names its study; before any job runs, a study
checks that none of the outputs it may (re)build belongs to another — Snakemake deletes a job's outputs
before running it, so the check must happen while the DAG is built, not inside the job.
"""

import json
from collections.abc import Iterable
from pathlib import Path

from wmvla.errors import WmvlaError
from wmvla.files import PROVENANCE_FILE


class ForeignArtifactError(WmvlaError, RuntimeError):
    """An output path holds an artifact another study produced."""


def artifact_study(path: Path) -> str | None:
    """The study named by an artifact's provenance (`<dir>/provenance.json` or a result file's
    `provenance`), or None if it has none (not made by a study job, or not there)."""
    path = Path(path)
    try:
        if path.is_dir():
            record = json.loads((path / PROVENANCE_FILE).read_text())
        elif path.is_file() and path.suffix == ".json":
            record = json.loads(path.read_text()).get("provenance") or {}
        else:
            return None
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        return None
    if not isinstance(record, dict):
        return None
    config = record.get("config")
    return record.get("study") or (config.get("study") if isinstance(config, dict) else None)


OUTPUT_HINT = (
    "nothing was run or deleted. Give this config its own `study:` name, or move that artifact away."
)


def check_report_inputs(
    evals: Iterable[Path | str], offline: Iterable[Path | str], metrics: Iterable[Path | str], study: str
) -> None:
    """Every input of a study's report was made by that study (a training's provenance sits beside its
    metrics)."""
    runs = [Path(m).parent for m in metrics]
    check_owned([*evals, *offline, *runs], study, "a report covers one study only")


def check_owned(paths: Iterable[Path | str], study: str, hint: str = OUTPUT_HINT) -> None:
    """Fail on the first existing artifact whose provenance names a study other than `study`."""
    for path in paths:
        owner = artifact_study(Path(path))
        if owner is not None and owner != study:
            raise ForeignArtifactError(f"{path} was produced by study {owner!r}, not {study!r}: {hint}")
