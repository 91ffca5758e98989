"""What every language-model provider is: one request in, one completion out.

A provider makes exactly one attempt per :meth:`LLM.generate` call. Retries, the call log, token
and cost accounting and budgets live one level up (:mod:`mlab_hpc.llm.session`), the same for
every provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import MlabError

PURPOSES = ("agent", "edit", "understand", "summarise", "reflect")


@dataclass(frozen=True)
class Request:
    """One completion request: a single user prompt and how to generate from it."""

    prompt: str
    purpose: str
    stop: tuple[str, ...] = ()
    max_tokens: int = 4000
    temperature: float | None = None  # None: the provider's default
    timeout_s: float | None = None  # this request's time limit (None: the provider's own)


@dataclass(frozen=True)
class Completion:
    """What a provider returns. ``model`` is the label recorded in the llm_calls table.

    Token counts come from the API's usage fields (None where the server gave none).
    ``cost_usd`` is set by providers that know it (replay); otherwise the price table decides.
    """

    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None = None
    cost_usd: float | None = None


@runtime_checkable
class LLM(Protocol):
    """A language model reachable through one API.

    ``name`` is ``provider:model`` as the user wrote it; ``model`` is the name the API knows
    (the key of the price table). ``generate`` raises :class:`TransientLLMError` for failures
    worth retrying (rate limits, 5xx, time-outs, unreadable replies) and :class:`LLMError` for
    the others.
    """

    name: str
    model: str

    def generate(self, request: Request) -> Completion: ...


class LLMError(MlabError):
    """A language-model call that failed for good: the run ends with status ``llm_error``."""


class ReplayDiverged(MlabError):
    """A replay that no longer follows its recording (a prompt, an action, an observation or
    how the run ended differs, or recorded calls were left over): the run ends with status
    ``replay_diverged``. Not an :class:`LLMError`, so no action turns it into an observation."""


class DeadlineReached(MlabError):
    """The run's total time limit ran out while a model call was in flight or due.

    Not an :class:`LLMError`: no action turns it into an observation. An LLM-backed action
    records its step as cut; in the agent's own call the step in flight is cut. Either way the
    run ends ``timeout``.
    """


class TransientLLMError(Exception):
    """A failure worth another attempt; ``retry_after_s`` is the server's hint, if it gave one."""

    def __init__(self, kind: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


class BudgetExceeded(MlabError):
    """The run's token or cost budget is spent; ``reason`` is ``max_tokens`` or ``max_cost``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
