"""The report: the queries of analysis/queries/ run over the views, with confidence intervals.

Each query returns one row per cell. Columns named ``X__values`` (a list of per-run values)
become ``X_lo``/``X_hi``, the 95% Student's t interval of the mean ``X`` (none below three
values); columns named ``X__strata`` (a list of per-task lists) become the interval of the mean
over tasks (see stats.mean_of_means_interval). Rates carry Wilson intervals computed in SQL
(``X_lo``, ``X_hi``). Every cell says how many runs it rests on (``n_runs`` and the like).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .. import __version__
from ..errors import PrerequisiteError
from ..paths import ResultsRoot, RunPaths
from ..runrecord import RunState
from ..schema import SCHEMA_VERSION
from . import stats
from .db import analysis_dir


@dataclass(frozen=True)
class SectionSpec:
    """One table of the report: the query behind it and what it says."""

    key: str
    title: str
    query: str  # file name under analysis/queries/


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec(
        "success_rate", "Success rate (final score > 10% better than baseline)", "success_rate.sql"
    ),
    SectionSpec("success_thresholds", "Success rate at other thresholds", "success_thresholds.sql"),
    SectionSpec(
        "improvement", "Improvement over the baseline (valid final submissions)", "improvement.sql"
    ),
    SectionSpec("human_relative", "Human-relative score per task", "human_relative.sql"),
    SectionSpec(
        "human_relative_overall",
        "Human-relative score, mean over tasks",
        "human_relative_overall.sql",
    ),
    SectionSpec("outcomes", "How runs ended", "outcomes.sql"),
    SectionSpec("errors", "Steps that went wrong", "errors.sql"),
    SectionSpec("effort", "Steps and wall time per run", "effort.sql"),
    SectionSpec("cost", "Tokens and cost per run", "cost.sql"),
    SectionSpec("llm_calls", "LLM calls", "llm_calls.sql"),
)


# Shown on request (report --mlab-compat): MLAgentBench's own success rule, for comparison.
MLAB_COMPAT = SectionSpec(
    "success_mlab_compat",
    "Success rate as MLAgentBench's plot.py computes it (for comparison with the paper)",
    "success_mlab_compat.sql",
)


@dataclass
class Section:
    """One computed table of the report."""

    key: str
    title: str
    description: str
    columns: list[str]
    rows: list[dict[str, Any]]


@dataclass
class Report:
    """Everything the report shows, in every output format."""

    meta: dict[str, Any]
    sections: list[Section] = field(default_factory=list)

    def section(self, key: str) -> Section:
        """The section with this key (KeyError if there is none)."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: meta, then each section's description, columns and rows."""
        return {
            "meta": self.meta,
            "sections": {
                s.key: {
                    "title": s.title,
                    "description": s.description,
                    "columns": s.columns,
                    "rows": s.rows,
                }
                for s in self.sections
            },
        }


def query_text(name: str) -> str:
    """The text of analysis/queries/<name>."""
    path = analysis_dir() / "queries" / name
    if not path.is_file():
        raise PrerequisiteError(f"no query {name} in {path.parent}")
    return path.read_text()


def query_description(text: str) -> str:
    """The first paragraph of a query file's leading comment (up to an empty comment line)."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("--") or not line[2:].strip():
            break
        lines.append(line[2:].strip())
    return " ".join(lines)


def clean(value: Any) -> Any:
    """A JSON-ready value: NaN and infinities become None, big ints stay ints."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def add_intervals(
    columns: list[str], rows: list[tuple[Any, ...]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Replace ``X__values`` / ``X__strata`` columns by interval bounds ``X_lo``, ``X_hi``."""
    out_columns: list[str] = []
    bounds: dict[str, list[tuple[float | None, float | None]]] = {}
    for k, c in enumerate(columns):
        if c.endswith("__values") or c.endswith("__strata"):
            base = c.rsplit("__", 1)[0]
            out_columns += [f"{base}_lo", f"{base}_hi"]
            samples = [row[k] or [] for row in rows]
            if c.endswith("__values"):
                bounds[base] = stats.t_intervals(samples)
            else:
                bounds[base] = [stats.mean_of_means_interval(s) for s in samples]
        else:
            out_columns.append(c)
    out_rows = []
    for r, row in enumerate(rows):
        record: dict[str, Any] = {}
        for c, v in zip(columns, row, strict=True):
            if c.endswith("__values") or c.endswith("__strata"):
                base = c.rsplit("__", 1)[0]
                record[f"{base}_lo"], record[f"{base}_hi"] = bounds[base][r]
            else:
                record[c] = clean(v)
        out_rows.append({c: record[c] for c in out_columns})
    return out_columns, out_rows


def run_section(con: duckdb.DuckDBPyConnection, spec: SectionSpec) -> Section:
    """Run one section's query and add its intervals."""
    text = query_text(spec.query)
    result = con.execute(text)
    columns = [d[0] for d in result.description]
    out_columns, rows = add_intervals(columns, result.fetchall())
    return Section(spec.key, spec.title, query_description(text), out_columns, rows)


def _overview(
    con: duckdb.DuckDBPyConnection, results: Path, campaigns: list[str]
) -> dict[str, Any]:
    row = con.execute(
        """SELECT count(*), count(DISTINCT task), count(DISTINCT agent),
                  count(DISTINCT model_label), list(DISTINCT campaign ORDER BY campaign)
           FROM run_outcomes"""
    ).fetchone()
    assert row is not None
    statuses = dict(
        con.execute(
            "SELECT coalesce(status, '(none)'), count(*) FROM run_outcomes "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    )
    graded = {r[0] for r in con.execute("SELECT run_id FROM main.run_records").fetchall()}
    ungraded = _ungraded_runs(results, graded, campaigns)
    return {
        "n_runs": row[0],
        "n_tasks": row[1],
        "n_agents": row[2],
        "n_models": row[3],
        "campaigns": row[4] or [],
        "status_counts": statuses,
        "ungraded_runs": ungraded,
    }


def _ungraded_runs(results: Path, graded: set[str], campaigns: list[str]) -> list[dict[str, Any]]:
    """Run folders under runs/ without a row in the runs table: running, or died ungraded.

    They are not in the tables yet, so the report lists them rather than leave them out
    silently (``mlab-hpc recover --all`` grades the dead ones).
    """
    runs_dir = ResultsRoot(results).runs_dir
    if not runs_dir.is_dir():
        return []
    with os.scandir(runs_dir) as entries:
        names = sorted(e.name for e in entries if e.is_dir() and e.name not in graded)
    found = []
    for name in names:
        try:
            state = RunState.load(RunPaths(runs_dir / name))
        except (OSError, ValueError):
            continue
        config = state.config
        if campaigns and config.campaign not in campaigns:
            continue
        found.append(
            {
                "run_id": name,
                "campaign": config.campaign,
                "task": config.task,
                "agent": config.agent,
                "state": state.status,
            }
        )
    return found


DATA_CHOICES = ("real", "generated", "all")


@dataclass(frozen=True)
class KindFilter:
    """Which kinds of run a report shows: real data and no smoke runs, unless asked.

    Runs on generated data and smoke runs (starters trained minimally) say nothing about the
    real task: they are left out by default, and never pooled with real runs when shown (every
    cell is keyed by the run's kind).
    """

    data: str = "real"  # real | generated | all
    include_smoke: bool = False

    def __post_init__(self) -> None:
        if self.data not in DATA_CHOICES:
            raise PrerequisiteError(f"data kind {self.data!r}: use {', '.join(DATA_CHOICES)}")

    def sql(self) -> str:
        """A condition on the runs view's kind column."""
        parts = []
        if self.data != "all":
            parts.append(f"split_part(kind, '+', 1) = '{self.data}'")
        if not self.include_smoke:
            parts.append("kind NOT LIKE '%+smoke%'")
        return " AND ".join(parts) or "true"


def materialize(con: duckdb.DuckDBPyConnection, kinds: KindFilter | None = None) -> None:
    """Read the views every section uses once: temporary copies shadow them on ``con``.

    Only the runs of the kinds asked for are kept (temporary tables come first in DuckDB's name
    lookup, views that use them included).
    """
    where = (kinds or KindFilter()).sql()
    for name in ("runs", "run_outcomes", "mlab_compat_outcomes"):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM main.{name} WHERE {where}"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE step_errors AS SELECT * FROM main.step_errors "
        "WHERE run_id IN (SELECT run_id FROM temp.runs)"
    )


def left_out(con: duckdb.DuckDBPyConnection, kinds: KindFilter) -> dict[str, Any]:
    """The runs a report leaves out by kind, counted, with the option that shows them.

    Call it before :func:`materialize`: afterwards ``runs`` is the filtered copy.
    """
    rows = con.execute(
        f"SELECT kind, count(*) FROM runs WHERE NOT ({kinds.sql()}) GROUP BY kind ORDER BY kind"
    ).fetchall()
    counts = {kind: n for kind, n in rows}
    hints = []
    if any(k.startswith("generated") for k in counts) and kinds.data == "real":
        hints.append("--data generated (or --data all)")
    if any(k.startswith("real") for k in counts) and kinds.data == "generated":
        hints.append("--data real (or --data all)")
    if any("+smoke" in k for k in counts) and not kinds.include_smoke:
        hints.append("--include-smoke")
    return {"counts": counts, "show_with": hints}


def unknown_baselines(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Cells whose success is unknown because no baseline run of their kind exists."""
    rows = con.execute(
        """SELECT task, kind, count(*) FROM temp.run_outcomes
           WHERE success_10 IS NULL GROUP BY ALL ORDER BY task, kind"""
    ).fetchall()
    return [{"task": t, "kind": k, "n_runs": n} for t, k, n in rows]


def build_report(
    con: duckdb.DuckDBPyConnection,
    results: Path,
    campaigns: list[str] | None = None,
    kinds: KindFilter | None = None,
    mlab_compat: bool = False,
) -> Report:
    """Every section of the report, computed over the views of ``con``."""
    kinds = kinds or KindFilter()
    hidden = left_out(con, kinds)  # before the filtered copies shadow the views
    materialize(con, kinds)
    overview = _overview(con, results, campaigns or [])
    meta = {
        "results": str(results),
        "campaign_filter": campaigns or [],
        "kinds": {"data": kinds.data, "include_smoke": kinds.include_smoke},
        "left_out": hidden,
        "unknown_baselines": unknown_baselines(con),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "intervals": {
            "rates": "Wilson",
            "means": "Student's t",
            "level": stats.LEVEL,
            "min_n": stats.MIN_N,
        },
        **overview,
    }
    report = Report(meta)
    for spec in (*SECTIONS, MLAB_COMPAT) if mlab_compat else SECTIONS:
        report.sections.append(run_section(con, spec))
    return report
