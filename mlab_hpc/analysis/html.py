"""The HTML report: one self-contained page (tables, PNG plots inline) and a page per run."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from ..paths import ResultsRoot
from .diffs import FileChange, step_changes
from .render import cell, display_columns, fmt_number, header_lines
from .report import Report, Section
from .show import RunRecord, _dicts, summary_lines

RUN_BATCH = 500

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
p.desc { color: #555; max-width: 70em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img.plot { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
pre { background: #f7f7f7; padding: 6px; overflow-x: auto; white-space: pre-wrap;
      font-size: 0.85em; margin: 0.3em 0; }
.step { border-top: 2px solid #999; margin-top: 1.2em; padding-top: 0.4em; }
.err { color: #b00; } .add { color: #070; } .del { color: #b00; } .hunk { color: #06c; }
.muted { color: #777; }
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def run_page_name(run_id: str) -> str:
    """The file name of a run's page (run ids are mostly safe already)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + ".html"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img class='plot' alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _section_table(section: Section) -> str:
    if not section.rows:
        return "<p class='muted'>(no rows)</p>"
    shown = display_columns(section)
    head = "".join(f"<th>{html.escape(c)}</th>" for c, _, _ in shown)
    body = []
    for row in section.rows:
        tds = []
        for c, lo, hi in shown:
            value = row.get(c)
            klass = (
                " class='num'"
                if isinstance(value, int | float) and not isinstance(value, bool)
                else ""
            )
            tds.append(f"<td{klass}>{html.escape(cell(row, c, lo, hi))}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


RUNS_SQL = """
SELECT run_id, task, agent, model_label, seed, status, exit_reason, n_steps, wall_s,
       final_score, valid_final, improvement_final, success_10, human_relative
FROM run_outcomes ORDER BY task, agent, model_label, seed, run_id
"""


def _runs_table(con: duckdb.DuckDBPyConnection, run_pages: bool) -> str:
    rows = _dicts(con.execute(RUNS_SQL))
    cols = [
        "run",
        "task",
        "agent",
        "model",
        "seed",
        "status",
        "exit",
        "steps",
        "wall s",
        "final",
        "valid",
        "improvement",
        "success",
        "human-rel.",
    ]
    out = ["<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]
    for r in rows:
        rid = html.escape(r["run_id"])
        link = (
            f"<a href='runs/{html.escape(run_page_name(r['run_id']))}'>{rid}</a>"
            if run_pages
            else rid
        )
        values = [
            r["task"],
            r["agent"],
            r["model_label"],
            r["seed"],
            r["status"],
            r["exit_reason"],
            r["n_steps"],
            r["wall_s"],
            r["final_score"],
            r["valid_final"],
            r["improvement_final"],
            r["success_10"],
            r["human_relative"],
        ]
        tds = "".join(f"<td>{html.escape(fmt_number(v))}</td>" for v in values)
        out.append(f"<tr><td>{link}</td>{tds}</tr>")
    out.append("</table>")
    return "".join(out)


def write_html(
    con: duckdb.DuckDBPyConnection, report: Report, folder: Path, run_pages: bool = True
) -> Path:
    """Write index.html (and runs/<run>.html) into ``folder``; returns the index's path."""
    from .plots import human_relative_png, score_curves_png, success_rate_png

    folder.mkdir(parents=True, exist_ok=True)
    parts = ["<h1>mlab-hpc report</h1><ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in header_lines(report)]
    parts.append(
        f"<li class='muted'>generated {html.escape(report.meta['generated_at'])}</li></ul>"
    )
    parts.append("<h2>Figures</h2>")
    parts.append(_img(success_rate_png(report), "success rate by task and agent"))
    parts.append(_img(human_relative_png(report), "human-relative score by task and agent"))
    parts.append(_img(score_curves_png(con), "best score so far by step"))
    for section in report.sections:
        parts.append(f"<h2 id='{section.key}'>{html.escape(section.title)}</h2>")
        parts.append(f"<p class='desc'>{html.escape(section.description)}</p>")
        parts.append(_section_table(section))
    parts.append("<h2 id='runs'>Runs</h2>")
    parts.append(_runs_table(con, run_pages))
    index = folder / "index.html"
    index.write_text(_page("mlab-hpc report", "\n".join(parts)), encoding="utf-8")
    if run_pages:
        pages = folder / "runs"
        pages.mkdir(exist_ok=True)
        results = Path(report.meta["results"])
        for record in iter_runs(con):
            page = render_run_page(record, ResultsRoot(results).run(record.run["run_id"]).dir)
            (pages / run_page_name(record.run["run_id"])).write_text(page, encoding="utf-8")
    return index


def iter_runs(con: duckdb.DuckDBPyConnection) -> Iterator[RunRecord]:
    """Every run with its steps, grades and LLM calls, a batch of runs per query."""
    run_rows = _dicts(con.execute("SELECT * FROM run_outcomes ORDER BY run_id"))
    for start in range(0, len(run_rows), RUN_BATCH):
        batch = run_rows[start : start + RUN_BATCH]
        ids = [r["run_id"] for r in batch]
        records = {r["run_id"]: RunRecord(r) for r in batch}
        for row in _dicts(
            con.execute(
                "SELECT * FROM steps WHERE list_contains(?, run_id) ORDER BY run_id, step", [ids]
            )
        ):
            records[row["run_id"]].steps.append(row)
        for row in _dicts(
            con.execute(
                "SELECT s.*, b.best_raw FROM scores s JOIN best_so_far b USING (run_id, step) "
                "WHERE list_contains(?, run_id) ORDER BY run_id, step",
                [ids],
            )
        ):
            rec = records[row["run_id"]]
            rec.scores[row["step"]] = row
            rec.best[row["step"]] = row["best_raw"]
        for row in _dicts(
            con.execute(
                "SELECT * FROM llm_calls WHERE list_contains(?, run_id) ORDER BY run_id, step",
                [ids],
            )
        ):
            records[row["run_id"]].llm_calls.setdefault(row["step"] or 0, []).append(row)
        yield from records.values()


def _pre(text: Any, klass: str = "") -> str:
    k = f" class='{klass}'" if klass else ""
    return f"<pre{k}>{html.escape('' if text is None else str(text))}</pre>"


def _diff_html(changes: list[FileChange]) -> str:
    out = []
    for ch in changes:
        lines = []
        for line in ch.diff.splitlines():
            esc = html.escape(line)
            if line.startswith("+") and not line.startswith("+++"):
                esc = f"<span class='add'>{esc}</span>"
            elif line.startswith("-") and not line.startswith("---"):
                esc = f"<span class='del'>{esc}</span>"
            elif line.startswith("@@"):
                esc = f"<span class='hunk'>{esc}</span>"
            lines.append(esc)
        body = f"<pre>{chr(10).join(lines)}</pre>" if lines else ""
        out.append(f"<div><b>{html.escape(ch.kind)}</b> {html.escape(ch.path)}{body}</div>")
    return "".join(out)


def _llm_html(calls: list[dict[str, Any]]) -> str:
    if not calls:
        return ""
    out = [
        "<table><tr><th>purpose</th><th>model</th><th>prompt tok</th><th>completion tok</th>"
        "<th>cost $</th><th>latency s</th><th>error</th><th>text</th></tr>"
    ]
    for c in calls:
        text = (
            "<details><summary>prompt / completion</summary>"
            f"{_pre(c.get('prompt'))}{_pre(c.get('completion'))}</details>"
        )
        values = [
            c.get("purpose"),
            c.get("model"),
            c.get("prompt_tokens"),
            c.get("completion_tokens"),
            c.get("cost_usd"),
            c.get("latency_s"),
            c.get("error"),
        ]
        tds = "".join(
            f"<td>{html.escape(fmt_number(v, 'cost' if i == 4 else ''))}</td>"
            for i, v in enumerate(values)
        )
        out.append(f"<tr>{tds}<td>{text}</td></tr>")
    out.append("</table>")
    return "".join(out)


def render_run_page(record: RunRecord, run_dir: Path) -> str:
    """One run's page: summary, then every step with its thought, action, observation, diff."""
    run = record.run
    changes = step_changes(run_dir)
    parts = ["<p><a href='../index.html'>&larr; report</a></p>"]
    parts.append(f"<h1>{html.escape(run['run_id'])}</h1><ul>")
    parts += [f"<li>{html.escape(line)}</li>" for line in summary_lines(run)[1:]]
    parts.append("</ul>")
    if run.get("error"):
        parts.append("<h2>Error</h2>" + _pre(run["error"], "err"))
    if changes is None:
        parts.append("<p class='muted'>No snapshot store for this run here: no diffs.</p>")
    start = record.scores.get(0)
    if start is not None or (changes and 0 in changes):
        parts.append("<div class='step'><h2>Step 0: the starting workspace</h2>")
        if start is not None:
            parts.append(f"<p>score {html.escape(_score_text(start))}</p>")
        if changes and changes.get(0):
            names = ", ".join(html.escape(c.path) for c in changes[0])
            parts.append(f"<p class='muted'>files: {names}</p>")
        parts.append("</div>")
    for step in record.steps:
        n = step["step"]
        grade = record.scores.get(n)
        head = f"Step {n}: {html.escape(step.get('action') or '')}"
        info = f"{fmt_number(step.get('duration_s'))} s"
        if grade is not None:
            info += f"; score {_score_text(grade)}; best so far {fmt_number(record.best.get(n))}"
        if step.get("error_kind"):
            info += f"; <span class='err'>{html.escape(step['error_kind'])}</span>"
        parts.append(f"<div class='step' id='step-{n}'><h2>{head}</h2><p>{info}</p>")
        if step.get("thought"):
            parts.append("<h3>Thought</h3>" + _pre(step["thought"]))
        parts.append("<h3>Arguments</h3>" + _pre(args_text(step.get("args"))))
        parts.append("<h3>Observation</h3>" + _pre(step.get("observation")))
        if changes is not None:
            step_diff = changes.get(n, [])
            parts.append(
                "<h3>Workspace changes</h3>"
                + (_diff_html(step_diff) if step_diff else "<p class='muted'>none</p>")
            )
        calls = record.llm_calls.get(n, [])
        if calls:
            parts.append("<h3>LLM calls</h3>" + _llm_html(calls))
        parts.append("</div>")
    return _page(run["run_id"], "\n".join(parts))


def args_text(args: str | None) -> str:
    """An action's JSON arguments as a reader wants them: one per line, text unescaped."""
    try:
        parsed = json.loads(args or "")
    except ValueError:
        return args or ""
    if not isinstance(parsed, dict):
        return args or ""
    lines = []
    for key, value in parsed.items():
        text = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"{key}:\n{text}" if "\n" in text else f"{key}: {text}")
    return "\n".join(lines)


def _score_text(grade: dict[str, Any]) -> str:
    if not grade.get("valid"):
        return f"invalid ({grade.get('reason') or 'no reason given'})"
    return fmt_number(grade.get("raw_score"))
