"""The language-model side of one run: models by role, retries, the call log, budgets.

Every attempt at a call is one JSON line in the run's ``trace/llm_calls.jsonl`` (appended and
flushed before the call returns), with the step it belongs to and its purpose; the run's
llm_calls table is compacted from it. Totals continue from an existing log, so a resumed run
keeps its budget.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import jsonl
from .base import (
    LLM,
    BudgetExceeded,
    Completion,
    DeadlineReached,
    LLMError,
    Request,
    TransientLLMError,
)
from .prices import PriceTable
from .retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT_TOKENS = 4000
# With a deadline, the SDK's own request time limit is the time left plus this margin: the
# session's wait ends first, and the SDK's limit only ends the abandoned request soon after.
SDK_TIMEOUT_MARGIN_S = 1.0


@dataclass(frozen=True)
class Budget:
    """Limits on a whole run's language-model use (None: no limit)."""

    max_tokens: int | None = None
    max_cost_usd: float | None = None


@dataclass
class Usage:
    """Totals over a run's calls (tokens of failed attempts count as the server reported)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, row: dict[str, Any]) -> None:
        self.prompt_tokens += int(row.get("prompt_tokens") or 0)
        self.completion_tokens += int(row.get("completion_tokens") or 0)
        self.cost_usd += float(row.get("cost_usd") or 0.0)
        self.calls += 1


def read_usage(log_path: Path) -> Usage:
    """The totals of a run's call log (zero when there is none)."""
    usage = Usage()
    for row in jsonl.read(log_path):
        usage.add(row)
    return usage


def _estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


class LLMSession:
    """Makes the calls of one run: retries with backoff, records each attempt, keeps budgets."""

    def __init__(
        self,
        log_path: Path,
        *,
        budget: Budget | None = None,
        retry: RetryPolicy | None = None,
        prices: PriceTable | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        fsync: bool = False,
    ) -> None:
        jsonl.repair(log_path)
        self.usage = read_usage(log_path)
        self.budget = budget or Budget()
        self.retry = retry or RetryPolicy()
        self.prices = prices or PriceTable()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._log = jsonl.Appender(log_path, fsync=fsync)
        self._step_of: Callable[[], int] = lambda: 0
        self._time_left: Callable[[], float] | None = None
        self.id = secrets.token_hex(4)  # tells the calls of a resumed run's attempts apart

    def bind_steps(self, step_of: Callable[[], int]) -> None:
        """Where calls learn which step they belong to (the step being decided or executed)."""
        self._step_of = step_of

    def bind_deadline(self, time_left: Callable[[], float] | None) -> None:
        """Bound every call by the run's total time limit: ``time_left()`` is the run's time
        left in seconds (None: no bound). See :meth:`call`."""
        self._time_left = time_left

    def check_budget(self) -> None:
        """Raise :class:`BudgetExceeded` when a budget is already spent."""
        b, u = self.budget, self.usage
        if b.max_tokens is not None and u.total_tokens >= b.max_tokens:
            raise BudgetExceeded(
                "max_tokens",
                f"the run's token budget is spent: {u.total_tokens} of {b.max_tokens} tokens",
            )
        if b.max_cost_usd is not None and u.cost_usd >= b.max_cost_usd:
            raise BudgetExceeded(
                "max_cost",
                f"the run's cost budget is spent: ${u.cost_usd:.4f} of ${b.max_cost_usd:.4f}",
            )

    def call(self, llm: LLM, request: Request, role: str) -> Completion:
        """One call with retries; LLMError after the last failed attempt, BudgetExceeded before
        a call when a budget is spent. A call in flight is never cut short by a budget.

        With a deadline bound (:meth:`bind_deadline`) the run's time left is a hard bound too:
        each attempt's request time limit is capped by it, a wait between attempts never goes
        past it, and when it runs out (an attempt still in flight is abandoned, its row recorded
        with a ``deadline`` error) :class:`DeadlineReached` is raised; it is raised only once
        the time left is zero or less.
        """
        self.check_budget()
        attempts = self.retry.attempts
        for attempt in range(1, attempts + 1):
            left = self._left()
            if left is not None and left <= 0:
                raise DeadlineReached(self._deadline_message(llm, request, "was due"))
            if left is not None:
                timeout = min(self.retry.timeout_s, left + SDK_TIMEOUT_MARGIN_S)
                request = replace(request, timeout_s=timeout)
            started = time.time()
            t0 = time.perf_counter()
            try:
                completion = self._generate(llm, request)
            except DeadlineReached as exc:
                self._record(
                    llm.name, request, role, attempt, started, t0, error=f"deadline: {exc}"
                )
                raise
            except TransientLLMError as exc:
                self._record(
                    llm.name, request, role, attempt, started, t0, error=f"{exc.kind}: {exc}"
                )
                if attempt == attempts:
                    raise LLMError(f"{exc} (gave up after {attempts} attempts)") from None
                wait = self.retry.delay(attempt - 1, exc.retry_after_s, self._rng)
                left = self._left()
                if left is not None:  # never wait past the deadline; the loop then raises
                    wait = min(wait, max(left, 0.0))
                log.warning(
                    "%s (%s): %s; attempt %d of %d in %.1f s",
                    llm.name,
                    request.purpose,
                    exc.kind,
                    attempt + 1,
                    attempts,
                    wait,
                )
                self._sleep(wait)
                continue
            except LLMError as exc:
                self._record(llm.name, request, role, attempt, started, t0, error=str(exc))
                raise
            self._record(llm.name, request, role, attempt, started, t0, completion=completion)
            return completion
        raise AssertionError("unreachable")  # the loop returns or raises

    def _left(self) -> float | None:
        return None if self._time_left is None else self._time_left()

    @staticmethod
    def _deadline_message(llm: LLM, request: Request, what: str) -> str:
        return (
            f"the run's total time limit ran out while a call to {llm.name} "
            f"({request.purpose}) {what}"
        )

    def _generate(self, llm: LLM, request: Request) -> Completion:
        """``llm.generate(request)``; with a deadline, in a daemon thread abandoned (never
        joined) when the time left runs out first, whatever the SDK does with its timeout."""
        if self._time_left is None:
            return llm.generate(request)
        box: dict[str, Any] = {}
        finished = threading.Event()

        def target() -> None:
            try:
                box["value"] = llm.generate(request)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc
            finally:
                finished.set()

        threading.Thread(target=target, name="llm-call", daemon=True).start()
        while not finished.is_set():
            left = self._time_left()
            if left <= 0:
                raise DeadlineReached(self._deadline_message(llm, request, "was in flight"))
            finished.wait(left)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _record(
        self,
        name: str,
        request: Request,
        role: str,
        attempt: int,
        started: float,
        t0: float,
        *,
        completion: Completion | None = None,
        error: str | None = None,
    ) -> None:
        row: dict[str, Any] = {
            "step": self._step_of(),
            "purpose": request.purpose,
            "role": role,
            "model": name,
            "attempt": attempt,
            "session": self.id,
            "started_at": started,
            "latency_s": time.perf_counter() - t0,
            "prompt": request.prompt,
            "stop": list(request.stop),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "prompt_tokens": None,
            "completion_tokens": None,
            "cost_usd": None,
            "completion": None,
            "finish_reason": None,
            "error": error,
        }
        if completion is not None:
            p, c = completion.prompt_tokens, completion.completion_tokens
            if p is None or c is None:  # the server reported no usage: count characters / 4
                row["usage_estimated"] = True
                p = _estimate_tokens(request.prompt) if p is None else p
                c = _estimate_tokens(completion.text) if c is None else c
            cost = completion.cost_usd
            if cost is None:
                bare = completion.model.partition(":")[2] or completion.model
                cost = self.prices.cost(bare, p, c, qualified=completion.model)
            row.update(
                model=completion.model,
                prompt_tokens=p,
                completion_tokens=c,
                cost_usd=cost,
                completion=completion.text,
                finish_reason=completion.finish_reason,
            )
        self._log.append(row)
        self.usage.add(row)

    def close(self) -> None:
        self._log.close()


class Model:
    """One role's model in a run: what agents and the LLM-backed actions call.

    :meth:`complete` is the :class:`mlab_hpc.actions.TextModel` of the actions; agents use
    :meth:`generate` for stop sequences and longer replies.
    """

    def __init__(
        self,
        llm: LLM,
        session: LLMSession,
        role: str,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> None:
        self.llm = llm
        self.session = session
        self.role = role
        self._set_max_tokens = max_tokens  # the user's settings win over the agent's defaults
        self._set_temperature = temperature
        self._default_max_tokens = DEFAULT_MAX_OUTPUT_TOKENS
        self._default_temperature: float | None = None

    def use_defaults(self, *, max_tokens: int, temperature: float | None) -> None:
        """The agent's own settings for this role (its original's); the user's still win."""
        self._default_max_tokens = max_tokens
        self._default_temperature = temperature

    @property
    def max_tokens(self) -> int:
        """Output tokens per call: the user's setting, else the agent's default, else 4000."""
        return self._set_max_tokens or self._default_max_tokens

    @property
    def temperature(self) -> float | None:
        """The user's temperature, else the agent's default; None: the provider's default."""
        if self._set_temperature is not None:
            return self._set_temperature
        return self._default_temperature

    @property
    def name(self) -> str:
        return self.llm.name

    def generate(
        self,
        prompt: str,
        *,
        purpose: str,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
    ) -> str:
        """The model's reply to ``prompt`` (cut before the first stop sequence)."""
        request = Request(
            prompt=prompt,
            purpose=purpose,
            stop=tuple(stop),
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature,
        )
        return self.session.call(self.llm, request, self.role).text

    def complete(self, prompt: str, *, purpose: str) -> str:
        """The model's reply to ``prompt``; ``purpose`` goes to the llm_calls table."""
        return self.generate(prompt, purpose=purpose)


@dataclass(frozen=True)
class Models:
    """A run's models by role: the agent's own, the fast one (summaries, Understand File,
    Reflection) and the editing one (Edit Script (AI))."""

    agent: Model
    fast: Model
    edit: Model
