"""Confidence intervals: Wilson for rates, percentile bootstrap for means.

Both at 95%. The bootstrap is deterministic (a fixed seed and number of resamples), so a report
computed twice from the same runs prints the same intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile (also in analysis/views.sql)
RESAMPLES = 2000
SEED = 20240508
LEVEL = 0.95


def wilson(k: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """The Wilson score interval of the proportion k/n; (None, None) when n is 0."""
    if n <= 0:
        return None, None
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - half) / scale), min(1.0, (centre + half) / scale)


@lru_cache(maxsize=256)
def _weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of n values is drawn in each resample: a (resamples, n) matrix / n.

    The same for every cell of the same size, so a report with many cells draws once per size;
    ``weights @ values`` are the resampled means.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n), dtype=np.int64)
    flat = (np.arange(resamples)[:, None] * n + idx).ravel()
    counts = np.bincount(flat, minlength=resamples * n).reshape(resamples, n) / n
    counts.flags.writeable = False
    return counts


def _quantiles(means: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    # inverted_cdf: each bound is a resampled mean that actually occurred
    lo, hi = np.quantile(means, [tail, 1 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def bootstrap_mean(
    values: Sequence[float | None],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of the mean; (None, None) for fewer than two values."""
    return bootstrap_means([values], resamples, seed, level)[0]


def bootstrap_means(
    samples: Sequence[Sequence[float | None]],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> list[tuple[float | None, float | None]]:
    """:func:`bootstrap_mean` of many samples at once (those of one size in one product).

    None values are left out; a sample of fewer than two values gets (None, None).
    """
    out: list[tuple[float | None, float | None]] = [(None, None)] * len(samples)
    arrays = [np.asarray([v for v in s if v is not None], dtype=float) for s in samples]
    by_size: dict[int, list[int]] = {}
    for i, x in enumerate(arrays):
        if len(x) >= 2:
            by_size.setdefault(len(x), []).append(i)
    tail = (1 - level) / 2
    for n, members in by_size.items():
        means = _weights(n, resamples, seed) @ np.stack([arrays[i] for i in members], axis=1)
        # inverted_cdf: each bound is a resampled mean that actually occurred
        lo, hi = np.quantile(means, [tail, 1 - tail], axis=0, method="inverted_cdf")
        for j, i in enumerate(members):
            out[i] = (float(lo[j]), float(hi[j]))
    return out


def bootstrap_mean_of_means(
    strata: Sequence[Sequence[float]],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float | None, float | None]:
    """Interval of the mean over strata (tasks) of each stratum's mean, resampling within strata.

    (None, None) when there is no stratum or every stratum has fewer than two values (then no
    resampling can vary).
    """
    groups = [np.asarray([v for v in s if v is not None], dtype=float) for s in strata]
    groups = [g for g in groups if len(g)]
    if not groups or all(len(g) < 2 for g in groups):
        return None, None
    total = np.zeros(resamples)
    for i, g in enumerate(groups):  # strata resample independently: a seed each
        total += _weights(len(g), resamples, seed + 1 + i) @ g
    return _quantiles(total / len(groups), level)
