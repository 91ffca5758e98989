"""Statistics of paired, interleaved timing, shared by the graders of timed tasks.

A timed task's grader measures the unchanged starter and the candidate in the same job, in
alternation, several times, and scores the median ratio starter time / candidate time with a
distribution-free interval (`median_interval`). Success needs the interval's lower end to
exceed the task's threshold (10% better), so noise measured in the job cannot pass for
success.

That interval covers the noise *between batches*. When the two sides run in separate
processes (llama-inference: the agent's code must not share the grader's process), a second
kind of noise appears: one process can be slower than another running the identical code for
its whole life (where its memory landed, the core the scheduler keeps it on, which other
jobs share that core). On a shared 2-core machine two starter processes differed by 10-50%
for a whole grading, with every paired ratio on the same side, so no interval over batches
can see it. `controlled_speedup` handles it with a control: a second, independent starter
process timed in the same rotation. Its ratio to the first starter measures, in this very
job, how far two processes running the same code can drift apart; the candidate's lower end
is divided by the larger of that control interval's ends (taken as a factor >= 1). Under
the null hypothesis (candidate = starter code) the three processes are exchangeable, so a
candidate process that merely landed well must beat the starter processes by more than they
differ from each other, and by 10% besides. The candidate is compared with the slower-scoring
of the two starters (the smaller lower end), so a control that happens to be slow counts
against the candidate too, not for it.

Nothing here may import mlab_hpc: inside the grader's sandbox it is importable as the
top-level module ``mlab_timing``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence


def median_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median of `values` (order statistics).

    With n sorted values, the k-th smallest and k-th largest bound the median with
    probability 1 - 2 P(Binomial(n, 1/2) < k); k is the largest for which that is at least
    `confidence`. Below 6 values no k qualifies and the extremes are returned (a wider
    interval than nothing, with less than the nominal coverage).
    """
    if not values:
        raise ValueError("median_interval needs at least one value")
    ordered = sorted(values)
    n = len(ordered)
    k = 1
    for candidate in range(1, n // 2 + 1):
        tail = sum(math.comb(n, i) for i in range(candidate)) / 2**n  # P(B <= candidate - 1)
        if 2 * tail <= 1 - confidence:
            k = candidate
    return ordered[k - 1], ordered[n - k]


def median(values: Sequence[float]) -> float:
    """The median of `values` (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median needs at least one value")
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def rotation(index: int, names: Sequence[str]) -> tuple[str, ...]:
    """The order in which `names` are timed at batch `index`.

    Cycles through every permutation, so over len(names)! batches each process holds each
    place (first, last, ...) equally often: a place that is faster or slower (warm caches,
    a neighbour's threads still spinning) favours none of them.
    """
    orders = list(itertools.permutations(names))
    return orders[index % len(orders)]


def controlled_speedup(
    candidate_s: Sequence[float],
    starter_s: Sequence[float],
    control_s: Sequence[float] | None,
) -> dict[str, float]:
    """Speedup metrics of the candidate over the starter, widened by the control's drift.

    The three sequences are the seconds of the same timed batches, in the same order, in the
    candidate's process, the starter's process and a second starter process (the control;
    None where none could run). Returns

        speedup        median over batches of starter seconds / candidate seconds
        speedup_raw_low  lower end of that median's 95% interval (the smaller of the two,
                         against the starter and against the control)
        timing_noise   max(control_high, 1 / control_low) over the interval of starter
                       seconds / control seconds: a factor >= 1 (1 without a control)
        speedup_low    speedup_raw_low / timing_noise: the number success is judged on
        speedup_high   upper end of the interval against the starter (not widened)
        timing_pairs   number of timed batches
    """
    if len(candidate_s) != len(starter_s) or (
        control_s is not None and len(control_s) != len(starter_s)
    ):
        raise ValueError("candidate, starter and control timings must cover the same batches")
    ratios = [s / c for s, c in zip(starter_s, candidate_s, strict=True)]
    low, high = median_interval(ratios)
    noise = 1.0
    if control_s is not None:
        control_ratios = [s / c for s, c in zip(control_s, candidate_s, strict=True)]
        low = min(low, median_interval(control_ratios)[0])
        drift_low, drift_high = median_interval(
            [s / c for s, c in zip(starter_s, control_s, strict=True)]
        )
        noise = max(drift_high, 1 / drift_low, 1.0)
    return {
        "speedup": median(ratios),
        "speedup_raw_low": low,
        "timing_noise": noise,
        "speedup_low": low / noise,
        "speedup_high": high,
        "timing_pairs": float(len(ratios)),
    }
