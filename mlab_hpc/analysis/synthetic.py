"""Synthetic runs with planted scores, written as real runs are: for tests and benchmarks.

A planted run is a list of snapshot grades (step 0 is the starting workspace, the last is the
final submission); :func:`write_planted_run` scores it with the harness's own rules
(mlab_hpc/scoring.py) with the fixed anchors given (the baseline of success comes from planted
runs of agent ``baseline``, as from real ones), and writes its rows to the runs, steps, scores and
llm_calls tables with the harness's own writer (mlab_hpc/tables.py), at the paths a real run
uses. So the analysis reads exactly what a campaign would have produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import tables
from ..grading import Grade
from ..paths import ResultsRoot
from ..scoring import Anchors, summarize
from ..taskspec import get_task


@dataclass
class PlantedStep:
    """One step of a planted run (defaults: a successful Execute Script of 1 s)."""

    action: str = "Execute Script"
    args: dict[str, Any] = field(default_factory=lambda: {"script_name": "train.py"})
    observation: str = "ok"
    thought: str = ""
    duration_s: float = 1.0
    exit_code: int | None = 0
    error_kind: str | None = None
    llm_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PlantedRun:
    """A run to write: its identity, how it ended, and a grade for every snapshot.

    ``grades[i]`` is the snapshot after step i (``grades[0]``: the starting workspace): a dict
    of metric values, or None for an invalid snapshot. ``steps`` has one entry per step
    (default: plain steps).
    """

    task: str
    agent: str
    seed: int
    grades: list[dict[str, float] | None]
    anchors: Anchors
    model: str = ""
    campaign: str = "synthetic"
    status: str = "completed"
    exit_reason: str = "final_answer"
    error: str | None = None
    steps: list[PlantedStep] | None = None
    wall_s: float | None = None
    data_mode: str = "real"
    smoke: bool = False

    @property
    def run_id(self) -> str:
        model = f".{self.model}" if self.model else ""
        return f"{self.task}.{self.agent}{model}.s{self.seed}.{self.campaign}"


def write_planted_run(results: Path, run: PlantedRun) -> dict[str, Any]:
    """Score a planted run with mlab_hpc.scoring and write its table rows; returns its runs row."""
    task = get_task(run.task)
    root = ResultsRoot(results)
    n_steps = len(run.grades) - 1
    steps = run.steps if run.steps is not None else [PlantedStep() for _ in range(n_steps)]
    if len(steps) != n_steps:
        raise ValueError(f"{run.run_id}: {n_steps} steps graded, {len(steps)} steps planted")
    grades: dict[int, tuple[str, Grade]] = {}
    for i, metrics in enumerate(run.grades):
        grade = (
            Grade(True, "", dict(metrics))
            if metrics is not None
            else Grade(False, "planted invalid submission", {})
        )
        grades[i] = (f"snap{i}", grade)
    summary, score_rows = summarize(task, grades, run.anchors)
    constants = {"run_id": run.run_id, "campaign": run.campaign, "task": task.id}
    step_rows, call_rows = [], []
    t0 = 1_700_000_000.0
    for i, step in enumerate(steps, start=1):
        step_rows.append(
            {
                "step": i,
                "action": step.action,
                "args": json.dumps(step.args),
                "thought": step.thought,
                "observation": step.observation,
                "started_at": t0 + i,
                "duration_s": step.duration_s,
                "exit_code": step.exit_code,
                "error_kind": step.error_kind,
                "snapshot_id": f"snap{i}",
            }
        )
        call_rows += [{"step": i, **call} for call in step.llm_calls]
    tables.write_table(
        root.table_file("steps", run.campaign, task.id, run.run_id), "steps", step_rows, constants
    )
    tables.write_table(
        root.table_file("scores", run.campaign, task.id, run.run_id),
        "scores",
        score_rows,
        constants,
    )
    if call_rows:
        tables.write_table(
            root.table_file("llm_calls", run.campaign, task.id, run.run_id),
            "llm_calls",
            call_rows,
            constants,
        )
    row = {
        **constants,
        "task_version": task.version,
        "agent": run.agent,
        "model": run.model,
        "seed": run.seed,
        "status": run.status,
        "exit_reason": run.exit_reason,
        "error": run.error,
        "started_at": t0,
        "ended_at": t0 + n_steps + 1,
        "wall_s": run.wall_s if run.wall_s is not None else sum(s.duration_s for s in steps),
        "n_steps": n_steps,
        "prompt_tokens": sum(c.get("prompt_tokens") or 0 for c in call_rows),
        "completion_tokens": sum(c.get("completion_tokens") or 0 for c in call_rows),
        "cost_usd": sum(c.get("cost_usd") or 0.0 for c in call_rows),
        "sandbox": "none",
        "trusted": True,
        "data_mode": run.data_mode,
        "smoke": run.smoke,
        "harness_version": "synthetic",
        **summary,
    }
    tables.write_table(
        root.table_file("runs", run.campaign, task.id, run.run_id), "runs", [row], constants
    )
    return row
