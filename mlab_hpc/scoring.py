"""From grades to the numbers of the runs table: success and the human-relative score.

- Success (MLAgentBench): the final snapshot improves on the mean score of the baseline agent by
  more than 10%, in the metric's direction.
- Human-relative: normalise the raw scores of every snapshot ("higher is better"), take the best
  (never below naive; invalid snapshots count as naive), then
  ``(best - naive) / (human - naive)``: 0 is the naive baseline, 1 the best human result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .grading import Grade
from .taskspec import TaskSpec

SUCCESS_THRESHOLD = 0.10
# How far the agent's own number may be from the graded one before the runs table flags it:
# on the normalised scale where the human-relative metric is the task's metric, else relative.
REPORTED_NORMALIZED_TOLERANCE = 0.05
REPORTED_RELATIVE_TOLERANCE = 0.10


def improvement(final: float, baseline: float, direction: str) -> float | None:
    """Relative improvement of ``final`` over ``baseline`` in the metric's direction."""
    if baseline == 0 or not math.isfinite(baseline):
        return None
    change = (final - baseline) if direction == "higher" else (baseline - final)
    return change / abs(baseline)


def better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "higher" else a < b


def reported_disagrees(
    task: TaskSpec,
    reported: float | None,
    final_score: float | None,
    final_normalized: float | None,
) -> bool | None:
    """Whether the number the agent reported is far from the graded final score.

    Rule: when the human-relative metric is the task's metric (every RL task), both numbers are
    normalised and disagree when they are more than 0.05 apart on that scale (one twentieth of
    the way from 0 to 1; an invalid final snapshot counts as its normalised naive score, as in
    the human-relative score). Otherwise they disagree when they differ by more than 10% of the
    graded score. None when the agent reported nothing, or there is nothing to compare with.
    """
    if reported is None or not math.isfinite(reported):
        return None
    hr = task.human_relative
    if hr.metric == task.metric.name:
        if final_normalized is None:
            return None
        claimed = hr.normalize(reported)
        if not math.isfinite(claimed):
            return True
        return abs(claimed - final_normalized) > REPORTED_NORMALIZED_TOLERANCE
    if final_score is None:
        return None
    scale = abs(final_score) or 1.0
    return abs(reported - final_score) > REPORTED_RELATIVE_TOLERANCE * scale


@dataclass
class Anchors:
    """The reference values a run is scored against (None where unknown)."""

    baseline: float | None  # mean primary-metric score of the baseline agent
    naive: float | None  # raw, in the human-relative metric
    human: float | None


def summarize(
    task: TaskSpec, grades: dict[int, tuple[str, Grade]], anchors: Anchors
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The score columns of the runs row, and the rows of the scores table."""
    metric, hr = task.metric, task.human_relative
    norm = hr.normalize
    naive_n = norm(anchors.naive) if anchors.naive is not None else None
    human_n = norm(anchors.human) if anchors.human is not None else None
    rows = []
    best: float | None = None
    best_n: float | None = None
    for step in sorted(grades):
        snapshot_id, g = grades[step]
        raw = g.metric(metric.name)
        hr_raw = g.metric(hr.metric)
        n = norm(hr_raw) if hr_raw is not None else None
        if n is not None and not math.isfinite(n):
            n = None
        if raw is not None and (best is None or better(raw, best, metric.direction)):
            best = raw
        if n is not None and (best_n is None or n > best_n):
            best_n = n
        rows.append(
            {
                "step": step,
                "snapshot_id": snapshot_id,
                "raw_score": raw,
                "hr_raw_score": hr_raw,
                "normalized_score": n,
                "valid": g.valid,
                "reason": g.reason,
                "metrics": _json(g.metrics),
                "agent_reported": g.agent_reported,
                "grade_s": g.grade_s,
            }
        )
    final_step = max(grades) if grades else None
    final = grades[final_step][1] if final_step is not None else None
    final_score = final.metric(metric.name) if final else None
    final_hr = final.metric(hr.metric) if final else None
    final_n = norm(final_hr) if final_hr is not None else naive_n

    imp = None
    if final_score is not None and anchors.baseline is not None:
        imp = improvement(final_score, anchors.baseline, metric.direction)
    human_relative = None
    if naive_n is not None and human_n is not None and human_n != naive_n:
        top = max(best_n, naive_n) if best_n is not None else naive_n
        human_relative = (top - naive_n) / (human_n - naive_n)
    summary = {
        "metric": metric.name,
        "direction": metric.direction,
        "hr_metric": hr.metric,
        "final_score": final_score,
        "final_valid": bool(final and final.valid),
        "best_score": best,
        "baseline_score": anchors.baseline,
        "improvement": imp,
        "naive_score": anchors.naive,
        "human_score": anchors.human,
        "naive_normalized": naive_n,
        "human_normalized": human_n,
        "final_normalized": final_n,
        "best_normalized": max(best_n, naive_n)
        if best_n is not None and naive_n is not None
        else (best_n if best_n is not None else naive_n),
        "human_relative": human_relative,
        "success": bool(imp is not None and imp > SUCCESS_THRESHOLD),
        "agent_reported": final.agent_reported if final else None,
        "reported_disagrees": reported_disagrees(
            task, final.agent_reported if final else None, final_score, final_n
        ),
    }
    return summary, rows


def _json(metrics: dict[str, float]) -> str:
    import json

    return json.dumps(metrics, sort_keys=True)
