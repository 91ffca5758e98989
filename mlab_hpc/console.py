"""What a person sees: progress lines while a run works, and its summary at the end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from .environment import ActionCall, StepRecord
from .grading import Grade
from .paths import RunPaths
from .runner import Progress
from .taskspec import Limits, TaskSpec
from .text import plural, seconds

# Progress and messages go to stderr; what a command produces (a run's summary, a status
# table) to stdout, so that `> file` and `| grep` see the data and nothing else.
console = Console(stderr=True, highlight=False)
if not console.is_terminal:  # logs and CI: do not wrap at 80 columns
    console = Console(stderr=True, highlight=False, width=160)
stdout = Console(highlight=False)
if not stdout.is_terminal:
    stdout = Console(highlight=False, width=160)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


class ConsoleProgress(Progress):
    """Progress on stderr: one line per step and per grade."""

    def notice(self, message: str) -> None:
        console.print(f"[yellow]note:[/] {message}")

    def started(self, run_id: str, task: TaskSpec, limits: Limits, paths: RunPaths) -> None:
        console.print(
            f"[bold]run {run_id}[/]  task {task.id} v{task.version}  "
            f"limits: {limits.max_steps} steps, {limits.max_time_s:.0f} s, "
            f"{limits.action_timeout_s:.0f} s per action"
        )

    def __init__(self) -> None:
        self._status: Status | None = None

    def action_started(self, step: int, call: ActionCall) -> None:
        if console.is_terminal:  # a spinner while a long action (training) runs
            self._status = console.status(f"step {step}: {call.name} running ...")
            self._status.start()

    def step(self, record: StepRecord, limits: Limits, elapsed_s: float) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        status = "[green]ok[/]" if not record.error_kind else f"[red]{record.error_kind}[/]"
        args = record.args if len(record.args) <= 60 else record.args[:57] + "..."
        console.print(
            f"  step {record.step:>3}/{limits.max_steps}  {record.action:<22} "
            f"{escape(args):<60} {record.duration_s:7.2f}s  {status}  "
            f"[dim]{elapsed_s:.0f}/{limits.max_time_s:.0f} s used[/]"
        )
        if record.error_kind:
            head = record.observation.strip().splitlines()[0][:150]
            console.print(f"           [dim]{escape(head)}[/]")

    def graded(self, step: int, grade: Grade) -> None:
        what = (
            ", ".join(f"{k}={_fmt(v)}" for k, v in grade.metrics.items())
            if grade.valid
            else f"invalid: {grade.reason}"
        )
        console.print(f"  graded snapshot of step {step}: {what}  ({grade.grade_s:.1f}s)")


def _baseline(row: dict[str, Any]) -> str:
    if row.get("baseline_score") is None:
        return f"unknown: no baseline runs of this kind ({row.get('kind')}) yet"
    runs = plural(row["n_baseline_runs"], "baseline run")
    return f"{_fmt(row['baseline_score'])}  (mean of {runs})"


def _success(success: bool | None) -> str:
    if success is None:
        return "  (success unknown)"
    return "  (success)" if success else "  (no success)"


def print_summary(row: dict[str, Any], run_dir: Path, results_root: Path) -> None:
    """What one graded run scored, with its anchors as they stand now (analysis views), on
    stdout."""
    table = Table(show_header=False, box=None, padding=(0, 2))
    metric = f"{row['metric']} ({row['direction']} is better)"
    for label, value in [
        ("task", f"{row['task']} v{row['task_version']}"),
        ("agent", row["agent"] + (f"  model {row['model']}" if row["model"] else "")),
        ("status", f"{row['status']} ({row['exit_reason']})"),
        ("steps", row["n_steps"]),
        ("wall time", seconds(row["wall_s"])),
        ("metric", metric),
        ("final score", _fmt(row["final_score"]) if row["final_valid"] else "invalid"),
        ("best score", _fmt(row["best_score"])),
        ("baseline score", _baseline(row)),
        ("improvement", _fmt(row["improvement"]) + _success(row["success"])),
        (
            "normalised (final/best)",
            f"{_fmt(row['final_normalized'])} / {_fmt(row['best_normalized'])}",
        ),
        ("human-relative", _fmt(row["human_relative"])),
        ("run folder", str(run_dir)),
        ("tables", f"{results_root}/tables/{{runs,steps,scores}}/"),
    ]:
        table.add_row(f"[bold]{label}[/]", str(value))
    stdout.print(table)
    if row.get("error"):
        console.print(f"[red]error:[/] {row['error'].splitlines()[-1]}")
