"""--smoke, the task's own starter script, and tasks without published human anchors.

One small task written here: its starter (not train.py) records what MLAB_SMOKE it saw, its
grader reports what it saw itself. A whole run through the CLI then shows that the agent's
commands get MLAB_SMOKE=1 and the grader never does, that the baseline agent runs the task's
starter, and that a task without [human_relative] is scored with an empty human-relative score.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import duckdb
import pytest

from mlab_hpc.paths import ResultsRoot
from mlab_hpc.runrecord import RunState
from tests.conftest import cli
from tests.conftest import query as query_views

STARTER = """
import os
open("submission.txt", "w").write(os.environ.get("MLAB_SMOKE", "unset"))
"""

GRADER = """
import argparse, json, os, pathlib
p = argparse.ArgumentParser()
p.add_argument("--workspace", type=pathlib.Path)
p.add_argument("--answers", type=pathlib.Path)
p.add_argument("--out", type=pathlib.Path)
a = p.parse_args()
seen = (a.workspace / "submission.txt").read_text()
result = {
    "valid": True, "reason": "", "agent_reported": None,
    "metrics": {"loss": 1.0 if seen == "1" else 2.0,
                "grader_smoke": 1.0 if "MLAB_SMOKE" in os.environ else 0.0},
}
a.out.write_text(json.dumps(result))
"""

TOML = """
id = "smoky"
version = "1"
deliverable = "submission"
environment = "base"
starter = "go.py"
research_problem = "Lower the loss."
[metric]
name = "loss"
direction = "lower"
[limits]
max_steps = 3
max_time_s = 120
action_timeout_s = 60
[grader]
inputs = ["submission.txt"]
"""


@pytest.fixture
def smoky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tasks"
    folder = root / "smoky"
    (folder / "env").mkdir(parents=True)
    (folder / "scripts").mkdir()
    (folder / "env" / "go.py").write_text(textwrap.dedent(STARTER))
    (folder / "scripts" / "eval.py").write_text(textwrap.dedent(GRADER))
    (folder / "task.toml").write_text(textwrap.dedent(TOML))
    monkeypatch.setenv("MLAB_TASKS", str(root))
    return folder


def runs_row(results: Path) -> dict[str, object]:
    glob = results / "tables" / "runs" / "**" / "*.parquet"
    con = duckdb.connect()
    cursor = con.execute(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true)")
    names = [d[0] for d in cursor.description]
    (row,) = cursor.fetchall()
    return dict(zip(names, row, strict=True))


@pytest.mark.parametrize("smoke", [True, False])
def test_smoke_reaches_the_starter_and_never_the_grader(
    smoky: Path, results: Path, data_root: Path, smoke: bool
) -> None:
    cli("run", "--task", "smoky", "--agent", "baseline", *(["--smoke"] if smoke else []))
    row = runs_row(results)
    assert row["status"] == "completed" and row["final_valid"]
    assert row["final_score"] == (1.0 if smoke else 2.0)  # the starter saw MLAB_SMOKE=1
    (run_dir,) = (results / "runs").iterdir()
    state = RunState.load(ResultsRoot(results).run(run_dir.name))
    assert state.config.options.smoke is smoke and row["smoke"] is smoke
    # the grader's own environment never had it (its metrics are in the scores table)
    glob = results / "tables" / "scores" / "**" / "*.parquet"
    query = f"SELECT metrics FROM read_parquet('{glob}') WHERE valid"
    graded = duckdb.connect().execute(query).fetchall()
    assert graded and {json.loads(m)["grader_smoke"] for (m,) in graded} == {0.0}
    # no published human anchors: the human-relative score is empty, not made up
    assert row["human_score"] is None
    # a smoke run is a kind of its own: it is never the baseline of real runs
    kinds = query_views(results, "SELECT kind, n_baseline_runs FROM runs")
    assert kinds == [("real+smoke" if smoke else "real", 1)]
