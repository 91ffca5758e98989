"""Numbers and counts written for people (light: the CLI's status imports it)."""

from __future__ import annotations

import math


def plural(n: int, noun: str) -> str:
    """``1 run``, ``2 runs``: a count with its noun (plurals by adding s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def seconds(value: float | None) -> str:
    """A duration for people: 0.28 s, 12 s, 3.5 min, 2.1 h."""
    if value is None or not math.isfinite(value):
        return "-"
    if value < 10:
        return f"{value:.2f} s"
    if value < 600:
        return f"{value:.0f} s"
    if value < 36000:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"
