"""Confidence intervals: Wilson for rates, Student's t for means. Both at 95%.

Why t and not the percentile bootstrap: with the handful of seeds a campaign affords (2 to 8),
the percentile bootstrap of a mean is too narrow (simulated: 75-79% coverage at n = 4, 47-49% at
n = 2, for a nominal 95%); the t-interval holds its level for normal data at any n, and is the
interval a reader expects. No interval is given below three values: with two, any interval
rests on one degree of freedom and says next to nothing. Every cell shows its n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats as _scipy_stats

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile (also in analysis/views.sql)
LEVEL = 0.95
MIN_N = 3  # fewer values: no interval

Interval = tuple[float | None, float | None]


def wilson(k: int, n: int, z: float = Z95) -> Interval:
    """The Wilson score interval of the proportion k/n; (None, None) when n is 0."""
    if n <= 0:
        return None, None
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - half) / scale), min(1.0, (centre + half) / scale)


def _t_quantile(df: float, level: float) -> float:
    return float(_scipy_stats.t.ppf(1 - (1 - level) / 2, df))


def _clean(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def t_interval(values: Sequence[float | None], level: float = LEVEL) -> Interval:
    """Student's t interval of the mean; (None, None) below MIN_N values (None left out)."""
    x = _clean(values)
    n = len(x)
    if n < MIN_N:
        return None, None
    mean = math.fsum(x) / n
    var = math.fsum((v - mean) ** 2 for v in x) / (n - 1)
    half = _t_quantile(n - 1, level) * math.sqrt(var / n)
    return mean - half, mean + half


def t_intervals(samples: Sequence[Sequence[float | None]], level: float = LEVEL) -> list[Interval]:
    """:func:`t_interval` of each sample."""
    return [t_interval(s, level) for s in samples]


def mean_of_means_interval(
    strata: Sequence[Sequence[float | None]], level: float = LEVEL
) -> Interval:
    """Interval of the mean over strata (tasks) of each stratum's mean.

    The strata are independent, so the variance of the mean of means is the sum of each
    stratum mean's variance over k squared; its degrees of freedom by Welch-Satterthwaite.
    (None, None) when there is no stratum or any stratum has fewer than MIN_N values: the
    spread of such a stratum is unknown, and leaving it out would overstate the precision.
    """
    groups = [_clean(s) for s in strata]
    groups = [g for g in groups if g]
    if not groups or any(len(g) < MIN_N for g in groups):
        return None, None
    k = len(groups)
    means = [math.fsum(g) / len(g) for g in groups]
    # variance of each stratum's mean
    v = [
        math.fsum((x - m) ** 2 for x in g) / (len(g) - 1) / len(g)
        for g, m in zip(groups, means, strict=True)
    ]
    total_var = math.fsum(v) / (k * k)
    centre = math.fsum(means) / k
    if total_var == 0:
        return centre, centre
    denom = math.fsum(vi * vi / (len(g) - 1) for vi, g in zip(v, groups, strict=True))
    df = math.fsum(v) ** 2 / denom if denom > 0 else float(min(len(g) for g in groups) - 1)
    half = _t_quantile(df, level) * math.sqrt(total_var)
    return centre - half, centre + half
