"""The report as text (terminal tables), Markdown or JSON."""

from __future__ import annotations

import json
import math
import textwrap
from typing import Any

from .report import Report, Section

KEY_COLUMNS = ("task", "agent", "model", "kind", "run_model", "purpose", "status", "exit_reason")


def fmt_number(value: Any, column: str = "") -> str:
    """A number as the report prints it ('-' for missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if "cost" in column:
            return f"{value:.4f}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


def display_columns(section: Section) -> list[tuple[str, str | None, str | None]]:
    """(column, low column, high column) for each column shown: intervals join their value."""
    cols = section.columns
    shown = []
    for c in cols:
        if (c.endswith("_lo") or c.endswith("_hi")) and c[:-3] in cols:
            continue
        lo, hi = f"{c}_lo", f"{c}_hi"
        shown.append((c, lo if lo in cols else None, hi if hi in cols else None))
    if all(not r.get("model") for r in section.rows):  # no models: a column of blanks
        shown = [s for s in shown if s[0] != "model"]
    return shown


def cell(row: dict[str, Any], column: str, lo: str | None, hi: str | None) -> str:
    """One cell: the value, and its interval where it has one."""
    text = fmt_number(row.get(column), column)
    if lo is not None and hi is not None:
        if row.get(lo) is None or row.get(hi) is None:
            return text if row.get(column) is None else f"{text} [-]"
        return f"{text} [{fmt_number(row[lo], column)}, {fmt_number(row[hi], column)}]"
    return text


def header_lines(report: Report) -> list[str]:
    """The lines above the tables: where the runs come from and how many there are."""
    m = report.meta
    statuses = ", ".join(f"{n} {s}" for s, n in m["status_counts"].items()) or "none"
    lines = [
        f"results {m['results']}"
        + (f"  (campaigns {', '.join(m['campaign_filter'])})" if m["campaign_filter"] else ""),
        f"{m['n_runs']} runs ({statuses}) over {m['n_tasks']} tasks, {m['n_agents']} agents; "
        f"campaigns: {', '.join(m['campaigns']) or '-'}",
        "every run counts in every table, whatever its status; intervals are 95% "
        "(Wilson for rates, Student's t for means, none below 3 runs); "
        "[-]: too few runs for an interval",
    ]
    left = m.get("left_out") or {}
    if left.get("counts"):
        what = ", ".join(f"{n} {k}" for k, n in left["counts"].items())
        lines.append(
            f"left out (other kinds of run, never pooled): {what}; "
            f"show them with {' or '.join(left['show_with']) or 'the options of report'}"
        )
    unknown = m.get("unknown_baselines") or []
    if unknown:
        cells = ", ".join(f"{u['task']} ({u['kind']}, {u['n_runs']} runs)" for u in unknown[:6])
        more = f" and {len(unknown) - 6} more" if len(unknown) > 6 else ""
        tasks = ",".join(sorted({u["task"] for u in unknown}))
        lines.append(
            f"success unknown (no baseline runs of that kind): {cells}{more}; "
            f"make them with `mlab-hpc submit --tasks {tasks} --agent baseline` (same data and "
            "smoke options)"
        )
    if m["ungraded_runs"]:
        ids = ", ".join(r["run_id"] for r in m["ungraded_runs"][:5])
        more = len(m["ungraded_runs"]) - 5
        lines.append(
            f"not in these tables: {len(m['ungraded_runs'])} runs not graded yet "
            f"(running, or died: `mlab-hpc recover --all`): {ids}"
            + (f" and {more} more" if more > 0 else "")
        )
    return lines


def text_table(headers: list[str], rows: list[list[str]], numeric: list[bool]) -> list[str]:
    """Aligned plain-text columns (fast for thousands of cells, unlike a rich Table)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def to_text(report: Report) -> str:
    """The report as plain-text tables for a terminal or a log file."""
    out = list(header_lines(report))
    for section in report.sections:
        out += ["", section.title.upper(), *textwrap.wrap(section.description, 100)]
        if not section.rows:
            out.append("  (no rows)")
            continue
        shown = display_columns(section)
        rows = [[cell(row, c, lo, hi) for c, lo, hi in shown] for row in section.rows]
        numeric = [c not in KEY_COLUMNS and c != "category" for c, _, _ in shown]
        out += text_table([c for c, _, _ in shown], rows, numeric)
    return "\n".join(out) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    """The report as Markdown (pipe tables)."""
    out = ["# mlab-hpc report", ""]
    out += [f"- {_md_escape(line)}" for line in header_lines(report)]
    for section in report.sections:
        out += ["", f"## {section.title}", "", section.description, ""]
        if not section.rows:
            out.append("(no rows)")
            continue
        shown = display_columns(section)
        out.append("| " + " | ".join(c for c, _, _ in shown) + " |")
        out.append("|" + "|".join("---" if c in KEY_COLUMNS else "---:" for c, _, _ in shown) + "|")
        for row in section.rows:
            out.append(
                "| " + " | ".join(_md_escape(cell(row, c, lo, hi)) for c, lo, hi in shown) + " |"
            )
    return "\n".join(out) + "\n"


def to_json(report: Report) -> str:
    """The report as JSON: every number unrounded, intervals as X_lo / X_hi."""
    return json.dumps(report.to_json(), indent=1, default=str)
