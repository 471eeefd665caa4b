"""Gate records: what every sanity gate and preflight check writes, and how failures stop the study.

Each gate job writes a list of `Gate` records (`results/<study>/gates/…`); the summary jobs gather them
(`study.json` for the trainings to wait on, `gates.json` for the report) and stop the DAG with one line per
failed gate — unless the study config says `gates: {enforce: false}`, in which case the override is
recorded and the report prints it as a warning.
"""

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wmvla.errors import WmvlaError
from wmvla.files import write_json

log = logging.getLogger(__name__)


class GateFailure(WmvlaError, RuntimeError):
    """At least one enforced gate failed; the message has one line per failed gate."""


@dataclass(frozen=True)
class Gate:
    name: str  # e.g. "arms_match_baseline", "init_policy_sr[libero_spatial]"
    question: str  # what the gate checks, for the report
    value: Any  # what was measured (None when skipped)
    threshold: Any  # what it had to reach, as a number or a short phrase
    passed: bool | None  # None: skipped (e.g. no init checkpoint in the smoke study)
    detail: str = ""  # why it failed, or what was skipped and why

    @property
    def line(self) -> str:
        """One line for the log or the error: name, value, threshold, verdict and detail."""
        status = {True: "passed", False: "FAILED", None: "skipped"}[self.passed]
        detail = f" — {self.detail}" if self.detail else ""
        return f"{self.name}: {status} (value {self.value}, threshold {self.threshold}){detail}"


def write_gates(path: Path, gates: list[Gate], **extra: Any) -> Path:
    return write_json(path, {"gates": [asdict(g) for g in gates], **extra})


def read_gates(path: Path) -> list[Gate]:
    try:
        records = json.loads(Path(path).read_text())["gates"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as err:
        raise WmvlaError(f"{path} is not a gate record ({type(err).__name__}); rerun its gate job") from err
    return [Gate(**record) for record in records]


def failure_line(stderr: str) -> str:
    """The line of a failed command's stderr that says why: its exception or error line, else its last."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^([\w.]*(Error|Exception)\b|ERROR\b|error:)", line) or " ERROR " in line:
            return line
    return lines[-1] if lines else "no output"


def check(
    gates: list[Gate], enforce: bool, heading: str = "", footer: str = "", error: type = GateFailure
) -> list[Gate]:
    """Log every gate; when enforced, fail on the failed ones with one line each (between `heading`, where
    `{n}` is their count, and `footer`). Returns the failed gates (recorded as overridden if not enforced)."""
    for gate in gates:
        (log.info if gate.passed is not False else log.error)("%s", gate.line)
    failed = [g for g in gates if g.passed is False]
    if failed and enforce:
        lines = [heading.format(n=len(failed)), *(g.line for g in failed), footer]
        raise error("\n".join(line for line in lines if line))
    return failed


def record(gates: list[Gate], enforce: bool, out: Path, **extra: Any) -> None:
    """A gate job's end: check its gates, then write their record (not when an enforced gate failed), with
    what else the job measured (`extra`, e.g. the rates the cost forecast reads)."""
    check(gates, enforce)
    write_gates(out, gates, **extra)


def summarise(
    gate_files: list[Path],
    enforce: bool,
    out: Path,
    skipped: list[Gate] = (),
    stops: str = "no training starts",
    **extra: Any,
) -> list[Gate]:
    """Gather every gate (and those that do not apply, `skipped`) into `out`; fail with one line per
    failed gate when enforced, saying what does not start (`stops`).

    With the override, the summary records the failures for the report; when a failure is enforced
    nothing is written, so Snakemake never takes the summary as done.
    """
    gates = [gate for path in gate_files for gate in read_gates(path)] + list(skipped)
    heading = "{n} sanity gate(s) failed; " + stops + ":"
    footer = "Fix the cause, or override with --config gates='{enforce: false}' (recorded in the report)."
    failed = check(gates, enforce, heading, footer)
    write_gates(out, gates, enforced=enforce, overridden=[g.name for g in failed], **extra)
    return gates


def not_applicable(items: Iterable[str]) -> list[Gate]:
    """Records of the gates that do not apply to a study, from `NAME=REASON` items (recorded as skipped)."""
    pairs = (item.partition("=") for item in items)
    return [Gate(name, "not run", None, "—", None, f"skipped: {reason}") for name, _, reason in pairs]
