"""From grades to the run's own score columns; the rules the analysis views apply to them.

The runs table keeps what a run's grading knows by itself (final and best scores, normalised
scores, the fixed anchors). Success and the human-relative score need anchors that come from
other runs, so analysis/views.sql computes them when queried:

- Success (MLAgentBench): the final snapshot improves on the mean score of the baseline agent
  (runs of the same kind: task version, data, smoke, and machine for timed tasks) by more than
  10%, in the metric's direction. Unknown (NULL) while no baseline run of that kind exists. A
  baseline of 0 (identify-contrails' starter) admits no relative change: there any final score
  above 0 succeeds on a higher-is-better metric (what MLAgentBench's division by zero amounts
  to). Timed tasks with a ``speedup_metric`` decide success from the grader's paired timing
  instead: the lower end of the improvement over the starter timed in the same job
  (``paired_improvement_low``) must exceed 10%, so timing noise cannot pass for success.
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
    """The anchors a run's grading knows by itself (None where unknown).

    Anchors that come from other runs (the baseline agent's mean score) are not here: the
    analysis views compute them when queried, so that the order runs finish in changes nothing.
    """

    naive_fixed: float | None  # the task's fixed naive anchor (raw), None when it is "starter"
    human: float | None  # the human anchor (raw): published, or the reference graded here


def summarize(
    task: TaskSpec, grades: dict[int, tuple[str, Grade]], anchors: Anchors
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The score columns of the runs row (the run's own facts), and the rows of the scores table."""
    metric, hr = task.metric, task.human_relative
    norm = hr.normalize
    rows = []
    best: float | None = None
    best_n: float | None = None
    for step in sorted(grades):
        snapshot_id, g = grades[step]
        raw = g.metric(metric.name)
        hr_raw = g.metric(hr.metric)
        n = _normalized(norm, hr_raw)
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
    final_n = _normalized(norm, final_hr)
    naive_n = _normalized(norm, anchors.naive_fixed)
    paired_low = None
    if metric.speedup_metric and final is not None:
        paired_low = paired_improvement(final.metric(metric.speedup_metric), metric.direction)
    summary = {
        "metric": metric.name,
        "direction": metric.direction,
        "timed": metric.timed,
        "success_rule": "paired" if metric.speedup_metric else "baseline",
        "paired_improvement_low": paired_low,
        "hr_metric": hr.metric,
        "final_score": final_score,
        "final_valid": bool(final and final.valid),
        "best_score": best,
        "final_hr_score": final_hr,
        "final_hr_normalized": final_n,
        "best_hr_normalized": best_n,
        "naive_fixed": anchors.naive_fixed,
        "human_score": anchors.human,
        "agent_reported": final.agent_reported if final else None,
        "reported_disagrees": reported_disagrees(
            task,
            final.agent_reported if final else None,
            final_score,
            final_n if final_n is not None else naive_n,
        ),
    }
    return summary, rows


def paired_improvement(speedup_low: float | None, direction: str) -> float | None:
    """The lower end of the improvement over the starter timed in the same grading job.

    ``speedup_low`` is the lower end of the interval of starter time / candidate time. On a
    time (lower is better) the improvement is the relative saving, ``1 - 1/speedup``; on a
    speed (higher is better) the relative gain, ``speedup - 1``: the same scale as
    :func:`improvement`, so "more than 10%" means the same thing for both kinds of task.
    """
    if speedup_low is None or not math.isfinite(speedup_low) or speedup_low <= 0:
        return None
    return 1 - 1 / speedup_low if direction == "lower" else speedup_low - 1


def _normalized(norm: Any, raw: float | None) -> float | None:
    """The normalised value of a raw score; None when unknown or undefined (NaN)."""
    if raw is None:
        return None
    value = norm(raw)
    return value if math.isfinite(value) else None


def _json(metrics: dict[str, float]) -> str:
    import json

    return json.dumps(metrics, sort_keys=True)
