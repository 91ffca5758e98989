"""Whole runs through the CLI, with real sandboxes, real gymnasium, real Parquet read by DuckDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from mlab_hpc.cli import main
from mlab_hpc.schema import SCHEMA_VERSION, SCHEMAS

from .conftest import REPO, cli, query

pytestmark = pytest.mark.usefixtures("data_root")


def test_cartpole_baseline_random_policy(results: Path) -> None:
    out = cli("run", "--task", "cartpole", "--agent", "baseline")
    assert "human-relative" in out and "completed (final_answer)" in out
    (run,) = query(
        results,
        "SELECT task, agent, status, n_steps, final_score, final_valid, "
        "baseline_score, human_relative, success, schema_version, campaign, "
        "sandbox FROM runs",
    )
    task, agent, status, n_steps, score, valid, baseline, hr, success, version, campaign, sb = run
    assert (task, agent, status, n_steps, valid, version, campaign) == (
        "cartpole",
        "baseline",
        "completed",
        2,
        True,
        SCHEMA_VERSION,
        "main",  # the default campaign of run and submit alike
    )
    assert 10 < score < 60, "a random CartPole policy averages about 20, never 500"
    assert baseline == pytest.approx(score)  # the first baseline run is its own baseline
    assert hr == pytest.approx(0.0) and success is False
    assert sb == "bwrap"
    steps = query(results, "SELECT step, action, error_kind FROM steps ORDER BY step")
    assert steps == [(1, "Execute Script", None), (2, "Final Answer", None)]
    scores = query(results, "SELECT step, valid FROM scores ORDER BY step")
    assert scores == [(0, True), (1, True), (2, True)]


def test_tables_have_the_documented_columns(results: Path) -> None:
    cli("run", "--task", "cartpole", "--agent", "baseline", "--sandbox", "process")
    for table in ("runs", "steps", "scores"):
        cols = [
            r[0]
            for r in duckdb.sql(
                f"DESCRIBE SELECT * FROM read_parquet('{results}/tables/{table}/**/*.parquet', "
                "hive_partitioning = true)"
            ).fetchall()
        ]
        assert set(SCHEMAS[table].names) <= set(cols), table


def test_good_policy_beats_baseline_and_reaches_human(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    cli("run", "--task", "cartpole", "--agent", "baseline")
    out = cli("run", "--task", "cartpole", "--agent", "tests.agents_for_tests:GoodCartpoleAgent")
    assert "(mean of 1 baseline run)" in out and "(success)" in out  # the summary's anchors
    rows = dict(query(results, "SELECT agent, human_relative FROM runs"))
    assert rows["baseline"] == pytest.approx(0.0)
    assert rows["tests.agents_for_tests:GoodCartpoleAgent"] == pytest.approx(1.0, abs=0.02)
    (success,) = query(results, "SELECT success FROM runs WHERE agent != 'baseline'")[0]
    assert success is True


def test_vectorization_baseline_is_timed_by_the_grader(results: Path) -> None:
    cli("run", "--task", "vectorization", "--agent", "baseline")
    (row,) = query(
        results,
        "SELECT final_score, final_valid, naive_score, human_score, "
        "human_relative, agent_reported FROM runs",
    )
    final, valid, naive, human, hr, reported = row
    assert valid and final > 0
    assert human is not None and human < naive, "the vectorised reference is faster"
    assert hr == 0.0  # unchanged code is timed once: noise cannot lift the best snapshot
    assert reported is None  # graded at step 0, before the starter appended its own time
    # the unchanged starter, timed against the starter over 8 waves of fresh processes: no
    # success (its improvement's lower end stays under 10%)
    (success,) = query(results, "SELECT success FROM runs")[0]
    assert success is False
    grades = query(results, "SELECT DISTINCT raw_score, grade_s FROM scores")
    assert len(grades) == 1
    cache = json.loads(next((results / "baselines").glob("vectorization@*.json")).read_text())
    assert cache["reference"]["valid"] is True


def test_house_price_on_generated_data(results: Path) -> None:
    cli("run", "--task", "house-price", "--agent", "baseline", "--data", "generated")
    (row,) = query(
        results,
        "SELECT final_score, final_valid, naive_score, human_score, "
        "final_normalized, data_mode FROM runs",
    )
    mae, valid, naive, human, norm, mode = row
    assert valid and mae > 0 and mode == "generated"
    assert 0 < naive < 1 and human == 0.0  # naive: the starter's own rmse_log (docs/anchors.md)
    assert 0 < norm < 1
    # step 0 (before the starter ran) had no submission: invalid, with the reason
    (reason,) = query(results, "SELECT reason FROM scores WHERE step = 0")[0]
    assert "submission.csv" in reason


def test_real_data_missing_stops_before_the_agent(results: Path, data_root: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--task", "house-price"])
    assert result.exit_code == 1
    assert "mlab-hpc prepare --tasks house-price" in result.output
    assert not (results / "runs").exists() or not any((results / "runs").iterdir())


def test_agent_crash_is_recorded_and_graded(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    out = cli("run", "--task", "cartpole", "--agent", "tests.agents_for_tests:BrokenAgent")
    assert "the agent's own bug" in out
    (row,) = query(results, "SELECT status, exit_reason, n_steps, final_valid, error FROM runs")
    assert row[:4] == ("failed", "agent_error", 1, True)
    assert "ValueError" in row[4]


def test_step_limit_from_the_command_line(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    cli(
        "run",
        "--task",
        "cartpole",
        "--agent",
        "tests.agents_for_tests:SlowAgent",
        "--max-steps",
        "2",
    )
    (row,) = query(results, "SELECT status, exit_reason, n_steps FROM runs")
    assert row == ("completed", "max_steps", 2)


def _spawn_slow_run(results: Path, data_root: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MLAB_RESULTS": str(results),
        "MLAB_DATA": str(data_root),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlab_hpc",
            "run",
            "--task",
            "cartpole",
            "--agent",
            "tests.agents_for_tests:SlowAgent",
            "--sandbox",
            "process",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for_steps(results: Path, n: int, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in results.glob("runs/*/trace/steps.jsonl"):
            if len(log.read_text().splitlines()) >= n:
                return log.parent.parent
        time.sleep(0.1)
    raise AssertionError(f"the run did not reach {n} steps")


def test_kill_9_mid_step_then_recover(results: Path, data_root: Path) -> None:
    proc = _spawn_slow_run(results, data_root)
    run_dir = _wait_for_steps(results, 3)
    time.sleep(1.0)  # step 4 (the sleeping script) is in flight
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    out = cli("recover", "--all")
    assert "crashed" in out
    (row,) = query(results, "SELECT status, exit_reason, n_steps FROM runs")
    assert row == ("failed", "crashed", 3)
    steps = query(results, "SELECT step, action FROM steps ORDER BY step")
    assert steps == [(1, "Write File"), (2, "Append File"), (3, "Write File")]
    # the step-2 snapshot holds what the agent had written by then
    assert (run_dir / "workspace" / "notes.txt").read_text() == "one two"
    assert query(results, "SELECT count(*) FROM scores") == [(4,)]


def test_next_run_recovers_a_killed_one(results: Path, data_root: Path) -> None:
    proc = _spawn_slow_run(results, data_root)
    _wait_for_steps(results, 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    out = cli("run", "--task", "cartpole", "--agent", "baseline")
    assert "recovering run" in out
    rows = sorted(query(results, "SELECT agent, status FROM runs"))
    assert rows == [("baseline", "completed"), ("tests.agents_for_tests:SlowAgent", "failed")]
