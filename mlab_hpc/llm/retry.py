"""Exponential backoff with jitter, bounded: how long to wait before the next attempt.

Settings come from the environment when a run builds its models (never at import):
``MLAB_LLM_RETRIES`` (retries after the first attempt, default 6), ``MLAB_LLM_BACKOFF_S`` (the
first wait, default 1), ``MLAB_LLM_BACKOFF_MAX_S`` (the longest wait, default 60) and
``MLAB_LLM_TIMEOUT_S`` (one request's time limit, default 300).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from ..errors import PrerequisiteError


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first; the wait before retry ``n`` (0-based) is
    ``min(max_s, base_s * 2**n)`` scaled by a random factor in [0.5, 1] (equal jitter), and never
    shorter than the server's Retry-After hint (itself capped at ``max_s``)."""

    retries: int = 6
    base_s: float = 1.0
    max_s: float = 60.0
    timeout_s: float = 300.0

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.max_s, self.base_s * (2.0**retry))
        wait = ceiling * rng.uniform(0.5, 1.0)
        if retry_after_s is not None and retry_after_s > 0:
            wait = max(wait, min(retry_after_s, self.max_s))
        return wait

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The policy with the ``MLAB_LLM_*`` environment variables applied."""
        default = cls()
        return cls(
            retries=int(_number("MLAB_LLM_RETRIES", default.retries)),
            base_s=_number("MLAB_LLM_BACKOFF_S", default.base_s),
            max_s=_number("MLAB_LLM_BACKOFF_MAX_S", default.max_s),
            timeout_s=_number("MLAB_LLM_TIMEOUT_S", default.timeout_s),
        )


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise PrerequisiteError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise PrerequisiteError(f"{name}={raw!r} must not be negative")
    return value
