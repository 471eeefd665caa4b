"""The scene gate: every scene an evaluation starts from is LIBERO's (`wmvla.sim.scene_check`), per suite."""

from wmvla.gates.record import Gate
from wmvla.sim.scene_check import SceneReport


def scene_gate(report: SceneReport) -> Gate:
    """The scene check as a sanity gate: no violation on any checked (task, init state)."""
    n, shown = len(report.violations), [v.line for v in report.violations[:5]]
    more = f"; … {n - 5} more" if n > 5 else ""
    versions = ", ".join(f"{k} {report.simulator.get(k)}" for k in ("mujoco", "robosuite", "hf-libero"))
    return Gate(
        f"scene[{report.suite}]",
        f"Do the {report.suite} scenes reset as LIBERO made them ({versions})?",
        n,
        f"0 violations in {len(report.checked)} scenes",
        n == 0,
        "; ".join(shown) + more,
    )
