"""The report's figures as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from typing import Any

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .report import Report  # noqa: E402

MAX_TASK_PANELS = 12


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _label(row: dict[str, Any]) -> str:
    return row["agent"] + (f" / {row['model']}" if row.get("model") else "")


def _nz(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(value) else math.nan


def _grouped(
    rows: list[dict[str, Any]], key: str, groups: list[str], ylabel: str, title: str
) -> bytes:
    """Points with interval bars: one group per task, one colour per agent (and model)."""
    labels = sorted({_label(r) for r in rows})
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(labels)) ** 0.5), 4))
    for i, label in enumerate(labels):
        xs, ys, lo, hi, ns = [], [], [], [], []
        for g, group in enumerate(groups):
            for r in rows:
                if r["_group"] == group and _label(r) == label and r.get(key) is not None:
                    y = _nz(r[key])
                    xs.append(g - 0.4 + width * (i + 0.5))
                    ys.append(y)
                    # bounds may sit a rounding error inside the mean: never a negative bar
                    low, high = r.get(f"{key}_lo"), r.get(f"{key}_hi")
                    lo.append(max(0.0, y - _nz(low)) if low is not None else 0.0)
                    hi.append(max(0.0, _nz(high) - y) if high is not None else 0.0)
                    ns.append(r.get("n_runs"))
        if not xs:
            continue
        ax.bar(xs, ys, width=width * 0.9, label=label, alpha=0.8)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", capsize=3, lw=1)
        for x, n in zip(xs, ns, strict=True):
            ax.annotate(
                f"n={n}",
                (x, 0),
                textcoords="offset points",
                xytext=(0, 2),
                ha="center",
                fontsize=7,
                rotation=90,
                va="bottom",
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.axhline(0, color="grey", lw=0.8)
    if labels:
        ax.legend(fontsize=8, loc="best")
    return _png(fig)


def success_rate_png(report: Report) -> bytes:
    """Success rate by task and agent, with Wilson intervals."""
    rows = [dict(r, _group=r["task"]) for r in report.section("success_rate").rows]
    groups = sorted({r["task"] for r in rows})
    png = _grouped(
        rows, "success_rate", groups, "success rate", "Success rate (> 10% over baseline)"
    )
    return png


def human_relative_png(report: Report) -> bytes:
    """Human-relative score by task and agent, and the mean over tasks, with intervals."""
    rows = [dict(r, _group=r["task"]) for r in report.section("human_relative").rows]
    groups = sorted({r["task"] for r in rows})
    overall = report.section("human_relative_overall").rows
    rows += [dict(r, _group="mean over tasks") for r in overall]
    if overall:
        groups.append("mean over tasks")
    return _grouped(
        rows,
        "human_relative",
        groups,
        "human-relative (0 naive, 1 human)",
        "Human-relative score (best snapshot)",
    )


CURVES_SQL = """
WITH last AS (
    SELECT run_id, task, agent, model_label, max(step) AS last_step
    FROM best_so_far GROUP BY ALL
), span AS (
    SELECT task, max(last_step) AS max_step FROM last GROUP BY task
), grid AS (
    SELECT l.run_id, l.task, l.agent, l.model_label, g.step
    FROM last l JOIN span s USING (task), generate_series(0, s.max_step) AS g(step)
)
SELECT g.task, g.agent, g.model_label, g.step,
       avg(b.best_normalized) AS best_normalized, avg(b.best_raw) AS best_raw,
       count(b.best_raw) AS n_runs
FROM grid g ASOF LEFT JOIN best_so_far b ON g.run_id = b.run_id AND g.step >= b.step
GROUP BY ALL
ORDER BY g.task, g.agent, g.model_label, g.step
"""


def score_curves_png(con: duckdb.DuckDBPyConnection) -> bytes:
    """Best score so far against the step, mean over each agent's runs, one panel per task.

    A run that ended keeps its best score at later steps. Normalised scores where the task has
    them, raw scores in the task's metric otherwise.
    """
    data: dict[str, dict[str, list[tuple[int, float | None, float | None]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for task, agent, model, step, norm, raw, _n in con.execute(CURVES_SQL).fetchall():
        label = agent + (f" / {model}" if model else "")
        data[task][label].append((step, norm, raw))
    metrics = dict(con.execute("SELECT task, any_value(metric) FROM runs GROUP BY task").fetchall())
    tasks = sorted(data)[:MAX_TASK_PANELS]
    cols = min(3, max(1, len(tasks)))
    nrows = max(1, math.ceil(len(tasks) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat[len(tasks) :]:
        ax.axis("off")
    for ax, task in zip(axes.flat, tasks, strict=False):
        series = data[task]
        use_norm = any(norm is not None for pts in series.values() for _, norm, _ in pts)
        for label, pts in sorted(series.items()):
            xs = [s for s, _, _ in pts]
            ys = [_nz(norm if use_norm else raw) for _, norm, raw in pts]
            ax.plot(xs, ys, label=label, drawstyle="steps-post")
        ax.set_title(task, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel(
            "best normalised score" if use_norm else f"best {metrics.get(task) or 'score'}"
        )
        ax.legend(fontsize=7)
    if not tasks:
        axes.flat[0].text(0.5, 0.5, "no graded steps", ha="center", va="center")
    fig.suptitle("Best score so far by step (mean over runs)", y=1.02)
    return _png(fig)
