"""Statistics of paired, interleaved timing, shared by the graders of timed tasks.

A timed task's grader measures the unchanged starter and the candidate in the same job, in
alternation, several times, and scores the median ratio starter time / candidate time with a
distribution-free interval (`median_interval`). Success needs the interval's lower end to
exceed the task's threshold (10% better), so noise measured in the job cannot pass for
success.

The agent's code never runs in the grader's process (there it could rewrite the clock or
these statistics): the candidate runs in a child process, and so does the starter
(vectorization, llama-inference). Then a second kind of noise appears beside the noise
between batches: one process can be slower than another running the identical code for its
whole life (where its memory landed, the core the scheduler keeps it on, which other jobs
share that core). On a shared 2-core
machine two starter processes differed by 10-50% for a whole grading, every batch on the
same side, so no interval over the batches of one pair of processes can see it.
`speedup_over_waves` makes the process the unit instead: the grading is split into waves,
each with a fresh candidate process and a fresh starter process, timed alternately; each wave
gives one ratio (the median over its batches), and the interval is taken over the waves.
Under the null hypothesis (the candidate is the starter's code) the two processes of a wave
are exchangeable, so each wave's ratio is as likely above 1 as below, independently of the
other waves: all W waves above 1 has probability 2**-W, and all of them above 1.10 far less.
No model of the noise is needed, and a lasting difference between two processes is counted
once per wave, where it belongs.

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


def speedup_over_waves(
    waves: Sequence[tuple[Sequence[float], Sequence[float]]],
) -> dict[str, float]:
    """Speedup of the candidate over the starter, with the process as the unit of replication.

    `waves` holds, per wave, the seconds of its timed batches in the candidate's process and
    in the starter's process (the same batches, in the same order). Returns

        speedup        median over waves of the wave ratio (median over the wave's batches of
                       starter seconds / candidate seconds)
        speedup_low    lower end of the distribution-free 95% interval of that median over
                       the waves (`median_interval`; the smallest wave ratio for 6-8 waves):
                       the number success is judged on
        speedup_high   upper end of that interval
        timing_waves   number of waves (pairs of fresh processes)
        timing_pairs   number of timed batches over all waves
    """
    if not waves:
        raise ValueError("speedup_over_waves needs at least one wave")
    ratios = []
    for candidate_s, starter_s in waves:
        if not candidate_s or len(candidate_s) != len(starter_s):
            raise ValueError("each wave needs the same timed batches for candidate and starter")
        ratios.append(median([s / c for s, c in zip(starter_s, candidate_s, strict=True)]))
    low, high = median_interval(ratios)
    return {
        "speedup": median(ratios),
        "speedup_low": low,
        "speedup_high": high,
        "timing_waves": float(len(ratios)),
        "timing_pairs": float(sum(len(candidate_s) for candidate_s, _ in waves)),
    }
