"""`wmvla job`, `wmvla gpu-run`, `wmvla provenance`: how every DAG job is run and recorded.

`wmvla job` is the one prefix of every rule's command: it logs the attempt (in the job's log, and appended
to `<log>.attempts.log`, so a restarted job keeps the log of the attempt that failed), checks that the Hub
artifacts the job loads are in the offline cache, and runs the command with exactly the GPU it was given and
a scratch directory of its own for the caches that must not outlive it (`wmvla.cluster.scratch`).
"""

import argparse
import json
import logging
from pathlib import Path

from wmvla.cli.parsing import command
from wmvla.errors import WmvlaError

log = logging.getLogger("wmvla")


def _after_dashes(command_line: list[str]) -> list[str]:
    return command_line[1:] if command_line[:1] == ["--"] else command_line


def _job(args: argparse.Namespace) -> None:
    from wmvla.cluster.attempts import attempt_log
    from wmvla.cluster.gpu_run import gpu_environment, run_child, visible_devices
    from wmvla.cluster.scratch import job_scratch
    from wmvla.hub.check import check_manifests

    job = _after_dashes(args.command)
    with attempt_log(args.log, job) as (output, outcome):
        try:
            check_manifests(args.hub)
            with gpu_environment(args.gpus) as env, job_scratch(env):
                if args.gpus:
                    output.write(f"=== devices: {visible_devices(env) or 'no mask set'}\n")
                outcome["status"] = run_child(job, env, output.write)
        except WmvlaError as err:
            output.write(f"error: {err}\n")
            outcome["status"] = 2
            raise
    if outcome["status"]:
        raise SystemExit(outcome["status"])


def _gpu_run(args: argparse.Namespace) -> None:
    from wmvla.cluster.gpu_run import run

    raise SystemExit(run(args.gpus, _after_dashes(args.command)))


def _provenance(args: argparse.Namespace) -> None:
    from wmvla.provenance import write_provenance

    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as err:
        raise WmvlaError(f"--config is not JSON: {err}") from err
    write_provenance(args.dir, config, args.started_at)


def register(groups: argparse._SubParsersAction) -> None:
    p = command(
        groups, "job", _job, "run one DAG job: log the attempt, check its Hub inputs, give it its GPU"
    )
    p.add_argument(
        "--log", type=Path, required=True, help="the job's log (every attempt: <log>.attempts.log)"
    )
    p.add_argument("--hub", type=Path, nargs="*", default=[], help="hub-stage manifests of what it loads")
    p.add_argument("--gpus", type=int, default=0, help="GPUs the job asked for (0: run as is)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")

    p = command(groups, "gpu-run", _gpu_run, "run a job's command on exactly one visible GPU")
    p.add_argument("--gpus", type=int, required=True, help="GPUs the job asked for (0: run as is)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")

    p = command(groups, "provenance", _provenance, "write provenance.json for a finished artifact")
    p.add_argument("dir", type=Path)
    p.add_argument("--config", required=True, help="JSON describing what made the artifact")
    p.add_argument("--started-at", required=True, help="ISO time the job started")
