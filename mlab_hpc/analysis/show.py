"""``mlab-hpc show RUN_ID``: one run in the terminal, step by step, as researchers read them."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import PrerequisiteError, UnknownNameError
from ..paths import ResultsRoot
from .db import connect
from .render import fmt_number


def known_run_ids(results: Path) -> list[str]:
    """Every run id with a row file in the runs table (from the file names: no reading)."""
    base = glob.escape(str(ResultsRoot(results).table_dir("runs")))
    return sorted({Path(p).stem for p in glob.glob(f"{base}/*/*/*.parquet")})


def resolve_run_id(results: Path, run_id: str) -> str:
    """The run id itself, or the one run id it is a prefix of; PrerequisiteError otherwise."""
    known = known_run_ids(results)
    if run_id in known:
        return run_id
    matches = [r for r in known if r.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listing = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise PrerequisiteError(f"'{run_id}' is the start of {len(matches)} runs: {listing}")
    where = f"in {ResultsRoot(results).table_dir('runs')}"
    raise UnknownNameError("run", run_id, known, where=where)


@dataclass
class RunRecord:
    """One run with its steps, grades and LLM calls, as the pages and `show` render it."""

    run: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[int, dict[str, Any]] = field(default_factory=dict)  # step -> grade row
    best: dict[int, float | None] = field(default_factory=dict)  # step -> best raw so far
    llm_calls: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # step -> calls


def _dicts(result: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def load_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunRecord:
    """A run's rows from the views of ``con`` (KeyError when the run has no runs row)."""
    runs = _dicts(con.execute("SELECT * FROM run_outcomes WHERE run_id = ?", [run_id]))
    if not runs:
        raise KeyError(run_id)
    record = RunRecord(runs[0])
    record.steps = _dicts(
        con.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY step", [run_id])
    )
    for row in _dicts(
        con.execute(
            "SELECT s.*, b.best_raw FROM scores s JOIN best_so_far b USING (run_id, step) "
            "WHERE run_id = ? ORDER BY step",
            [run_id],
        )
    ):
        record.scores[row["step"]] = row
        record.best[row["step"]] = row["best_raw"]
    for row in _dicts(
        con.execute("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY step NULLS FIRST", [run_id])
    ):
        record.llm_calls.setdefault(row["step"] or 0, []).append(row)
    return record


def head(text: str | None, lines: int = 2, width: int = 160) -> str:
    """The first lines of a text, cut to a width, with a mark where something was left out."""
    if not text:
        return ""
    all_lines = text.strip().splitlines()
    kept = [ln if len(ln) <= width else ln[: width - 3] + "..." for ln in all_lines[:lines]]
    more = len(all_lines) - lines
    return "\n".join(kept) + (f"\n... ({more} more lines)" if more > 0 else "")


def summary_lines(run: dict[str, Any]) -> list[str]:
    """The run's header: who, what, how it ended, its scores."""
    valid = "valid" if run.get("valid_final") else "invalid"
    success = "yes" if run.get("success_10") else "no"
    lines = [
        f"run {run['run_id']}",
        f"task {run['task']} v{run.get('task_version') or '?'}  agent {run['agent']}"
        + (f"  model {run['model']}" if run.get("model") else "")
        + f"  seed {run.get('seed')}  campaign {run['campaign']}",
        f"status {run.get('status')} ({run.get('exit_reason')})  steps {run.get('n_steps')}  "
        f"wall {fmt_number(run.get('wall_s'))} s  tokens "
        f"{fmt_number(run.get('prompt_tokens'))}+{fmt_number(run.get('completion_tokens'))}  "
        f"cost ${fmt_number(run.get('cost_usd'), 'cost')}",
        f"{run.get('metric')} ({run.get('direction')} is better): final "
        f"{fmt_number(run.get('final_score'))} ({valid}), "
        f"best {fmt_number(run.get('best_score'))}, "
        f"baseline {fmt_number(run.get('baseline_score'))}, improvement "
        f"{fmt_number(run.get('improvement_final'))} (success: {success}); human-relative "
        f"{fmt_number(run.get('human_relative'))}",
    ]
    if run.get("error"):
        lines.append(f"error: {str(run['error']).strip().splitlines()[-1]}")
    return lines


def _score_cell(record: RunRecord, step: int) -> tuple[str, str]:
    grade = record.scores.get(step)
    if grade is None:
        return "", ""
    now = fmt_number(grade["raw_score"]) if grade["valid"] else "invalid"
    return now, fmt_number(record.best.get(step))


def _llm_cell(calls: list[dict[str, Any]]) -> str:
    if not calls:
        return ""
    tokens = sum((c.get("prompt_tokens") or 0) + (c.get("completion_tokens") or 0) for c in calls)
    return f"{len(calls)} ({tokens:,} tok)"


def show_run(results: Path, run_id: str, console: Console, full: bool = False) -> None:
    """Print a run: its summary, then one row (or, with ``full``, one block) per step."""
    run_id = resolve_run_id(results, run_id)
    con = connect(results, run_ids=[run_id])
    try:
        record = load_run(con, run_id)
    except KeyError:
        raise PrerequisiteError(f"run {run_id} has no row in the runs table") from None
    for line in summary_lines(record.run):
        console.print(escape(line))
    console.print()
    if full:
        _show_full(record, console)
        return
    table = Table(
        "step",
        "action",
        "arguments",
        "observation",
        "s",
        "score",
        "best",
        "llm",
        show_edge=False,
        pad_edge=False,
    )
    if 0 in record.scores:
        table.add_row("0", "[dim](start)[/]", "", "", "", *_score_cell(record, 0), "")
    for step in record.steps:
        n = step["step"]
        obs = escape(head(step["observation"]))
        if step.get("error_kind"):
            obs = f"[red]{escape(step['error_kind'])}[/] {obs}"
        if step.get("thought"):
            obs = f"[dim]thought: {escape(head(step['thought'], 1))}[/]\n{obs}"
        table.add_row(
            str(n),
            escape(step["action"] or ""),
            escape(head(step["args"], 1, 60)),
            obs,
            fmt_number(step.get("duration_s")),
            *_score_cell(record, n),
            _llm_cell(record.llm_calls.get(n, [])),
        )
    console.print(table)


def _show_full(record: RunRecord, console: Console) -> None:
    for step in record.steps:
        n = step["step"]
        score, best = _score_cell(record, n)
        console.rule(
            f"step {n}  {escape(step['action'] or '')}  {fmt_number(step.get('duration_s'))} s"
            + (f"  score {score} (best {best})" if score else "")
            + (f"  [red]{escape(step['error_kind'])}[/]" if step.get("error_kind") else "")
        )
        if step.get("thought"):
            console.print(f"[bold]thought[/]\n{escape(step['thought'])}")
        console.print(f"[bold]arguments[/] {escape(step['args'] or '')}")
        console.print(f"[bold]observation[/]\n{escape(step['observation'] or '')}")
        for call in record.llm_calls.get(n, []):
            console.print(
                f"[dim]llm {escape(str(call.get('purpose')))} {escape(str(call.get('model')))}: "
                f"{call.get('prompt_tokens')}+{call.get('completion_tokens')} tokens, "
                f"${fmt_number(call.get('cost_usd'), 'cost')}, "
                f"{fmt_number(call.get('latency_s'))} s[/]"
            )
