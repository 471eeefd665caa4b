"""`wmvla status`: where a study stands — every run (arm × suite × seed) at its stage, what waits for what,
what failed and where its log is, the gates, who holds a lease, and when the study should end. Read off the
study's files and Slurm's queue (wmvla.watch.status); no torch, about a second on a full-size study."""

import argparse
import json
import logging
import time
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

from wmvla.cli.parsing import command

log = logging.getLogger("wmvla")
STAGES = ("failed", "training", "evaluating", "interrupted", "waiting", "trained", "done")


def _now(run) -> str:
    """What a run is doing now, in a few words."""
    train = run.train
    steps = f"step {train.done} of {train.total}" if train.total else ""
    if run.stage == "failed":
        job = next(j for j in (train, *run.evals) if j.state == "failed")
        return f"{job.name} failed: {job.detail} (log {job.log})"
    if run.stage == "training":
        return f"{steps or 'starting'} ({train.detail})"
    if run.stage == "evaluating":
        jobs = [j for j in run.evals if j.state == "running"]
        return "; ".join(f"{j.name}: {j.done or 0} of {j.total} episodes" for j in jobs)
    if run.stage == "interrupted":
        job = next(j for j in (train, *run.evals) if j.state == "interrupted")
        done = f" at {steps}" if job is train and steps else ""
        return f"{job.name}{done}: {job.detail}"
    if run.stage == "waiting":
        return train.detail
    if run.stage == "trained":
        return f"{sum(j.state == 'done' for j in run.evals)} of {len(run.evals)} evaluations done"
    return ""


def _hours(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 2 else f"{hours:,.1f} h"


def _report(config: dict, slots: int) -> dict:
    from wmvla.watch.eta import remaining
    from wmvla.watch.status import gate_states, slurm_queue, study_status

    queue = slurm_queue()
    gates = gate_states(config)
    runs, leases = study_status(config, queue, gates)
    left = remaining(config, runs, slots)
    end = datetime.now() + timedelta(hours=left.wall_hours)
    return {
        "study": config["study"],
        "time": datetime.now().isoformat(timespec="seconds"),
        "slurm": queue is not None,
        "stages": dict(Counter(r.stage for r in runs)),
        "runs": [{**r.row(), "now": _now(r)} for r in runs],
        "gates": {name: {"state": s, "detail": d} for name, (s, d) in gates.items()},
        "leases": [asdict(lease) for lease in leases],
        "remaining": {**asdict(left), "slots": slots, "end": end.isoformat(timespec="minutes")},
    }


def _text(found: dict) -> list[str]:
    counts = ", ".join(f"{found['stages'][s]} {s}" for s in STAGES if s in found["stages"])
    lines = [f"study {found['study']} at {found['time']}: {len(found['runs'])} runs — {counts}"]
    width = max(len(r["suite"]) for r in found["runs"]) + 2
    arm = max(len(r["exp"]) for r in found["runs"]) + 2
    lines.append(f"  {'suite':{width}s}{'arm':{arm}s}{'seed':6s}{'stage':13s}now")
    for run in found["runs"]:
        where = f"  {run['suite']:{width}s}{run['exp']:{arm}s}{run['seed']:<6d}"
        lines.append(f"{where}{run['stage']:13s}{run['now']}".rstrip())
    lines.append("gates:")
    for name, gate in found["gates"].items():
        lines.append(f"  {name}: {gate['state']}" + (f" — {gate['detail']}" if gate["detail"] else ""))
    held = [h for h in found["leases"] if h["alive"] is not False]
    ended = len(found["leases"]) - len(held)
    taken = f"; {ended} of holders that ended (the next job takes each over)" if ended else ""
    lines.append(f"leases: {len(held)} held{taken}")
    state = {True: "runs", None: "cannot be told from here"}
    lines += [f"  {h['path']}: {h['holder']} — {state[h['alive']]} ({h['why']})" for h in held]
    left = found["remaining"]
    sources = "; ".join(f"{rule} {src}" for rule, src in left["sources"].items())
    unknown = f"; no time per job yet for {', '.join(left['unknown'])}" if left["unknown"] else ""
    if not left["job_hours"] and not left["unknown"]:
        lines.append("left: nothing — every training and evaluation is done")
        return lines
    lines.append(
        f"left: {_hours(left['job_hours'])} of jobs → ends ~{left['end']} on {left['slots']} job slots "
        f"({_hours(left['wall_hours'])}; time per job: {sources or 'none'}{unknown}; queue waits not counted)"
    )
    return lines


def _status(args: argparse.Namespace) -> None:
    from wmvla.study.config import load_study_config

    beside = args.configfile.parent / "schema.yaml"
    config = load_study_config(args.configfile, beside if beside.is_file() else Path("config/schema.yaml"))
    try:
        while True:
            found = _report(config, args.slots)
            if args.json:
                print(json.dumps(found, indent=2))
            else:
                if args.watch:
                    print("\033[2J\033[H", end="")  # clear the terminal, cursor home
                print("\n".join(_text(found)), flush=True)
            if not args.watch:
                return
            time.sleep(args.watch)
    except KeyboardInterrupt:  # how a watch ends: quietly
        return


def register(groups: argparse._SubParsersAction) -> None:
    p = command(
        groups, "status", _status, "where a study stands: runs, failures, gates, leases, expected end"
    )
    p.add_argument("--configfile", type=Path, default=Path("config/smoke.yaml"), help="the study config")
    p.add_argument("--json", action="store_true", help="the whole status as JSON (for scripts)")
    p.add_argument("--watch", type=float, nargs="?", const=10.0, default=None, metavar="SECONDS",
                   help="refresh every SECONDS (10 if not given) until interrupted")  # fmt: skip
    p.add_argument("--slots", type=int, default=8, help="jobs the study runs at once (GPUs), for its end")
