"""Runs of different kinds (smoke, generated data) never share an id within a campaign."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mlab_hpc.cli import main
from mlab_hpc.launch.campaign import relaunch, run_id_for


def _submit(*args: str) -> str:
    result = CliRunner().invoke(main, ["submit", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_run_ids_carry_data_mode_and_smoke() -> None:
    ids = {
        run_id_for("c", "cartpole", "baseline", None, 0, mode, smoke)
        for mode in (None, "generated")
        for smoke in (False, True)
    }
    assert len(ids) == 4
    assert run_id_for("c", "cartpole", "baseline", None, 0, "real") == "c.cartpole.baseline.s0"


def test_smoke_then_real_launches_the_real_run(results: Path, data_root: Path) -> None:
    common = ("--tasks", "cartpole", "--campaign", "kinds", "--executor", "debug")
    out = _submit(*common, "--smoke", "--max-steps", "2")
    assert "1 to launch" in out
    out = _submit(*common, "--max-steps", "2")
    assert "0 already done" in out and "1 to launch" in out
    runs = sorted(p.name for p in (results / "runs").iterdir())
    assert runs == ["kinds.cartpole.baseline.s0", "kinds.cartpole.baseline.s0.smoke"]


def test_resubmission_rule_reads_only_the_runs_own_record() -> None:
    from mlab_hpc.runrecord import Attempt, RunConfig, RunState

    def state(status: str, reason: str | None = None, attempts: int = 1) -> RunState:
        return RunState(
            config=RunConfig(task="cartpole"),
            status=status,  # type: ignore[arg-type]
            exit_reason=reason,  # type: ignore[arg-type]
            initial_snapshot="x",
            attempts=[Attempt(started_at=0.0) for _ in range(attempts)],
        )

    assert relaunch(None) == "new"
    assert relaunch(state("running")) == "resume"  # Slurm ended it, unreconciled
    for reason in ("cancelled", "node_fail", "out_of_memory", "max_attempts"):
        assert relaunch(state("graded", reason)) == "resume"
    assert relaunch(state("graded", "slurm_timeout"), max_attempts=2) == "resume"
    assert relaunch(state("graded", "slurm_timeout", attempts=2), max_attempts=2) is None
    failed = state("graded", "agent_error")
    assert relaunch(failed) is None and relaunch(failed, retry_failed=True) == "restart"
    assert relaunch(state("graded", "final_answer")) is None
    assert relaunch(state("graded", "crashed")) == "restart"


def test_tasks_without_data_are_real_runs_whatever_data_mode_says() -> None:
    from mlab_hpc.launch.campaign import plan
    from mlab_hpc.taskspec import get_task

    runs = plan(
        "k", [get_task("cartpole"), get_task("house-price")], [0], ["baseline"], [None], "generated"
    )
    assert [(r.run_id, r.data_mode) for r in runs] == [
        ("k.cartpole.baseline.s0", None),
        ("k.house-price.baseline.s0.gen", "generated"),
    ]


def test_a_preempted_run_never_graded_is_resumed_by_a_resubmission(
    results: Path, data_root: Path
) -> None:
    """The rule holds before grading too: a run its job's checkpoint ended as preempted
    (max_attempts), whose grading job never ran, is resumed as one more attempt, not graded."""
    import json

    common = ("--tasks", "cartpole", "--campaign", "pre", "--executor", "debug")
    _submit(*common)
    state_file = results / "runs" / "pre.cartpole.baseline.s0" / "run.json"
    state = json.loads(state_file.read_text())
    assert (state["status"], len(state["attempts"])) == ("graded", 1)
    state.update(status="ended", exit_reason="max_attempts", error="stopped by Slurm")
    state_file.write_text(json.dumps(state))  # what CampaignRun.checkpoint leaves behind
    out = _submit(*common)
    assert "1 to launch" in out and "completed (final_answer)" in out, out
    state = json.loads(state_file.read_text())
    assert (state["exit_reason"], len(state["attempts"])) == ("final_answer", 2)


def test_status_of_a_campaign_run_here_asks_slurm_nothing(results: Path, data_root: Path) -> None:
    """Local and debug jobs' ids are not Slurm's: status shows them as recorded, sends no
    grading job, and writes nothing."""
    _submit("--tasks", "cartpole", "--campaign", "here", "--executor", "debug")
    log = results / "campaigns" / "here" / "submissions.jsonl"
    before = log.read_text()
    result = CliRunner().invoke(main, ["status", "--campaign", "here", "--runs"])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "debug-0" in result.output, result.output
    assert log.read_text() == before
