"""What the Slurm executor, as the project configures it, makes of each way a Slurm job can end.

The executor plugin decides a job's end from one status line per job; these tests feed it the lines Slurm
22.05 prints (`squeue --format=%i|%T`, `sacct --format=JobIdRaw,State`) and check which jobs it reports as
ended — so a plugin upgrade that changes this fails here, not in a hung study. Then the start-up check that
refuses a cluster on which the executor would wait forever.
"""

import asyncio
import logging
from types import SimpleNamespace

import pytest
import snakemake_executor_plugin_slurm as plugin
import yaml

from wmvla.cluster import slurm_check


class _Limiter:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def _outcome(monkeypatch, status_command: str, state: str) -> str:
    """'ended (error)', 'ended (success)' or 'active': what check_active_jobs does with one job in `state`."""

    async def query(command, logger):
        return {"101": state}, 0.01

    monkeypatch.setattr(plugin, "query_job_status", query)
    monkeypatch.setattr(plugin, "get_min_job_age", lambda: 300)
    monkeypatch.setattr(plugin, "is_query_tool_available", lambda tool: True)
    monkeypatch.setattr(plugin.subprocess, "check_output", lambda *a, **k: "")  # sacct reason lookups
    settings = SimpleNamespace(
        status_command=status_command, status_attempts=1, init_seconds_before_status_checks=5,
        requeue=False, keep_successful_logs=True,
    )  # fmt: skip
    seen: list[str] = []
    executor = SimpleNamespace(
        workflow=SimpleNamespace(executor_settings=settings), logger=logging.getLogger("slurm-test"),
        status_rate_limiter=_Limiter(), run_uuid="run", get_status_command=lambda: status_command,
        report_job_success=lambda job: seen.append("ended (success)"),
        report_job_error=lambda job, **kw: seen.append("ended (error)"),
        _failed_nodes=set(), _preemption_warning=False, _status_query_calls=0, _status_query_failures=0,
        _status_query_total_seconds=0.0, _status_query_min_seconds=None, _status_query_max_seconds=0.0,
        _status_query_cycle_rows=[], next_seconds_between_status_checks=5,
    )  # fmt: skip
    job = SimpleNamespace(external_jobid="101", aux={"slurm_logfile": None})

    async def collect():
        return [j async for j in plugin.Executor.check_active_jobs(executor, [job])]

    still_active = asyncio.run(collect())
    return "active" if still_active else seen[0]


def test_the_project_polls_with_squeue(repo):
    profile = yaml.safe_load((repo / "profiles/mi300x/config.v8+.yaml").read_text())
    assert profile["slurm-status-command"] == "squeue" and profile["slurm-keep-successful-logs"] is True


@pytest.mark.parametrize(
    "state", ["CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "FAILED", "BOOT_FAIL"]
)
def test_with_squeue_every_failed_end_is_seen_and_snakemake_resubmits(monkeypatch, state):
    assert _outcome(monkeypatch, "squeue", state) == "ended (error)"  # → Snakemake's restart-times


def test_with_sacct_a_cancelled_job_is_never_seen_to_end(monkeypatch):
    """Why not sacct: it prints 'CANCELLED by <uid>', which the executor does not match (the hang)."""
    assert _outcome(monkeypatch, "sacct", "CANCELLED by 0") == "active"
    assert _outcome(monkeypatch, "squeue", "COMPLETED") == "ended (success)"


def test_a_job_preempted_for_good_would_be_waited_on_forever(monkeypatch):
    """PREEMPTED is left to Slurm to requeue: fine with PreemptMode=REQUEUE, a hang with CANCEL (refused)."""
    assert _outcome(monkeypatch, "squeue", "PREEMPTED") == "active"
    assert _outcome(monkeypatch, "squeue", "PENDING") == "active"  # a requeued job comes back


SHOW_CONFIG = (
    "MinJobAge               = {age}\nPreemptMode             = {mode}\nPreemptType = preempt/none\n"
)


def test_the_start_check_names_what_to_set(monkeypatch):
    good = SHOW_CONFIG.format(age="300 sec", mode="OFF")
    assert slurm_check.check_status_command("squeue", good) == []
    low = slurm_check.check_status_command("squeue", SHOW_CONFIG.format(age="60 sec", mode="OFF"))
    assert any("MinJobAge=60 sec" in line and "MinJobAge >= 300" in line for line in low)
    monkeypatch.setattr(slurm_check, "_run", lambda argv: slurm_check.subprocess.CompletedProcess(
        argv, 1, "", "sacct: error: Slurm accounting storage is disabled"))  # fmt: skip
    sacct = slurm_check.check_status_command("sacct", good)
    assert any("'CANCELLED by <uid>'" in line and "slurm-status-command: squeue" in line for line in sacct)
    assert any(
        "cannot read (sacct: sacct: error: Slurm accounting storage is disabled)" in line for line in sacct
    )
    cancel = slurm_check.check_preemption([None], SHOW_CONFIG.format(age="300", mode="CANCEL"))
    assert len(cancel) == 1 and "PreemptMode=CANCEL" in cancel[0] and "REQUEUE" in cancel[0]
    assert slurm_check.check_preemption([None], SHOW_CONFIG.format(age="300", mode="REQUEUE")) == []
    assert slurm_check.seconds("5 min") == 300 and slurm_check.seconds("1h") == 3600


def test_jobs_an_earlier_snakemake_left_on_slurm_stop_the_start_and_name_the_cancel_command(
    monkeypatch, tmp_path
):
    listing = "\n".join([
        f"41|RUNNING|rule_train_wildcards_smoke_libero_spatial_E1_0|{tmp_path}",
        f"42|PENDING|rule_eval_wildcards_smoke_libero_spatial_E0_0_pred|{tmp_path}/.",
        f"43|RUNNING|rule_train_wildcards_smoke_libero_spatial_E2_0|{tmp_path}",  # not planned again
        "44|RUNNING|rule_train_wildcards_smoke_libero_spatial_E1_0|/elsewhere",  # another checkout's
        f"45|RUNNING|my interactive job|{tmp_path}",  # not the executor's
    ])  # fmt: skip
    asked = []

    def squeue(argv):
        asked.append(argv)
        return slurm_check.subprocess.CompletedProcess(argv, 0, listing + "\n", "")

    monkeypatch.setattr(slurm_check, "_run", squeue)
    planned = {
        "rule_train_wildcards_smoke_libero_spatial_E1_0": "train smoke/libero_spatial/E1/0",
        "rule_eval_wildcards_smoke_libero_spatial_E0_0_pred": "eval smoke/libero_spatial/E0/0/pred",
        "rule_tables_wildcards_smoke": "tables smoke",
    }
    [line] = slurm_check.orphaned_jobs(tmp_path, planned)
    assert asked[0][:2] == ["squeue", "--me"]
    assert "train smoke/libero_spatial/E1/0 (Slurm job 41, RUNNING)" in line
    assert "eval smoke/libero_spatial/E0/0/pred (Slurm job 42, PENDING)" in line
    assert "43" not in line and "44" not in line and "45" not in line
    assert line.endswith("scancel 41 42") and "squeue --jobs=41,42" in line
    assert slurm_check.orphaned_jobs(tmp_path, {"rule_tables_wildcards_smoke": "tables smoke"}) == []
    monkeypatch.setattr(slurm_check, "_run", lambda argv: slurm_check.subprocess.CompletedProcess(
        argv, 1, "", "squeue: error: Unable to contact slurm controller"))  # fmt: skip
    assert slurm_check.orphaned_jobs(tmp_path, planned) == [
        "cannot list this study's Slurm jobs (squeue: squeue: error: Unable to contact slurm controller)"
    ]
