"""What the task test files share: their grader runs, answer/workspace builders, baseline runs.

`run_grader` runs a task's scripts/eval.py as the harness does and checks the invariants every
grader keeps; `csv_case` builds an answer key and a workspace for the CSV tasks; `baseline_run`
makes a whole baseline run on generated data and returns its row of the runs table;
`generated_twice` and `tree_bytes` check that --generated data is byte-identical across runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from mlab_hpc.cli import main
from mlab_hpc.taskspec import get_task

TASKS = Path(__file__).resolve().parents[1] / "tasks"
COMPLETED = ("completed", True, "generated")  # a baseline run's (status, final_valid, data_mode)


def checked(result: dict[str, Any]) -> dict[str, Any]:
    """`result`, after checking the shape of an invalid one (no metrics, a one-line reason)."""
    if not result["valid"]:
        assert result["metrics"] == {}
        assert result["reason"] and "\n" not in result["reason"]
    return result


def run_grader(
    task_id: str,
    workspace: Path,
    answers: Path,
    *,
    out_dir: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> dict[str, Any]:
    """Run `task_id`'s grader on `workspace` as the harness does; return its OUT.json.

    The out file goes in a folder of its own, outside the workspace, as in the harness (the
    graders of code tasks hide that folder from the agent's code). `env` is added to this
    process's environment. The grader must exit 0; an invalid result must have no metrics and
    a one-line reason.
    """
    out_dir = out_dir if out_dir is not None else workspace.parent / "grader-out"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "out.json"
    task = get_task(task_id)  # a form's scripts are its folder's, run with its [params]
    completed = subprocess.run(
        [
            sys.executable,
            str(task.eval_script),
            *("--workspace", str(workspace), "--answers", str(answers), "--out", str(out)),
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **task.script_env(), **(env or {})},
    )
    assert completed.returncode == 0, completed.stderr
    return checked(json.loads(out.read_text()))


def csv_case(
    tmp_path: Path, answer: str, submission: str | None, *, dedent: bool = True
) -> tuple[Path, Path]:
    """An answer key (answers/answer.csv) and a workspace holding `submission` as
    submission.csv (if given); with `dedent`, both texts are dedented and left-stripped."""

    def text(value: str) -> str:
        return textwrap.dedent(value).lstrip() if dedent else value

    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "answer.csv").write_text(text(answer))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    if submission is not None:
        (workspace / "submission.csv").write_text(text(submission))
    return workspace, answers


def baseline_run(task_id: str, results: Path, *extra_args: str) -> dict[str, Any]:
    """A whole baseline run of `task_id` on generated data (`extra_args` added, e.g.
    "--smoke"), as `mlab-hpc run` makes it; its one row of the runs view (anchors as of now),
    column -> value."""
    result = CliRunner().invoke(
        main,
        ["run", "--task", task_id, "--agent", "baseline", "--data", "generated", *extra_args],
    )
    assert result.exit_code == 0, result.output
    from mlab_hpc.analysis.db import connect

    cursor = connect(results, cache=False).execute("SELECT * FROM runs")
    columns = [column[0] for column in cursor.description]
    (row,) = cursor.fetchall()
    return dict(zip(columns, row, strict=True))


def tree_bytes(folder: Path) -> dict[Path, bytes]:
    """Relative path -> content of every file under `folder`."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def generated_twice(task_id: str, tmp_path: Path) -> Path:
    """Run `task_id`'s prepare.py --generated under two PYTHONHASHSEEDs, into tmp_path/first
    and tmp_path/second; assert the same entries and byte-identical files; return first."""
    task = get_task(task_id)
    for name, hash_seed in (("first", "1"), ("second", "4242")):
        done = subprocess.run(
            [
                sys.executable,
                str(task.prepare_script),
                "--generated",
                "--out",
                str(tmp_path / name),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **task.script_env(), "PYTHONHASHSEED": hash_seed},
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    first, second = tmp_path / "first", tmp_path / "second"
    assert sorted(p.relative_to(first) for p in first.rglob("*")) == sorted(
        p.relative_to(second) for p in second.rglob("*")
    )
    assert tree_bytes(first) == tree_bytes(second)
    return first
