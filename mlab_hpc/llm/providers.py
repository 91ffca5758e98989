"""The providers that talk to a server: OpenAI Chat Completions and Anthropic Messages.

Both use the official SDKs (the ``llm`` extra), imported when a run builds its models. Keys come
from the environment only (OPENAI_API_KEY, ANTHROPIC_API_KEY) and are handed to the client
explicitly, so no SDK goes looking for credentials in files; they are never logged. The SDKs'
own retries are off: :mod:`mlab_hpc.llm.session` retries the same way for every provider.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import PrerequisiteError
from .base import Completion, LLMError, Request, TransientLLMError

RETRYABLE_STATUS = {408, 409, 425, 429}  # and every 5xx

T = TypeVar("T")


def _import(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise PrerequisiteError(
            f"the {module} provider needs the {module} package: pip install 'mlab-hpc[llm]'"
        ) from None


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return float(raw) * scale
        except ValueError:  # an HTTP date: fall back to our own backoff
            return None
    return None


def _call(sdk: Any, label: str, fn: Callable[[], T]) -> T:
    """Run one SDK request, mapping its failures onto transient or final LLM errors."""
    try:
        return fn()
    except sdk.APITimeoutError as exc:
        raise TransientLLMError("timeout", f"{label}: the request timed out ({exc})") from None
    except sdk.APIConnectionError as exc:
        raise TransientLLMError("connection", f"{label}: cannot reach the server ({exc})") from None
    except sdk.APIResponseValidationError as exc:
        raise TransientLLMError("malformed", f"{label}: unreadable reply ({exc})") from None
    except sdk.APIStatusError as exc:
        status = int(getattr(exc, "status_code", 0) or 0)
        message = f"{label}: HTTP {status}: {getattr(exc, 'message', exc)}"
        if status >= 500 or status in RETRYABLE_STATUS:
            kind = "rate_limit" if status == 429 else "server_error"
            raise TransientLLMError(kind, message, _retry_after(exc)) from None
        raise LLMError(message) from None
    except ValueError as exc:  # a 200 whose body is not JSON
        raise TransientLLMError("malformed", f"{label}: reply is not JSON ({exc})") from None


class OpenAIChat:
    """``openai:<model>``: Chat Completions, from OpenAI or any compatible server (vLLM, ...)."""

    def __init__(self, model: str, *, base_url: str | None = None, timeout_s: float = 300) -> None:
        sdk = _import("openai")
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            if not base_url:
                raise PrerequisiteError(
                    f"openai:{model} needs OPENAI_API_KEY in the environment "
                    "(or --base-url for a compatible server that takes no key)"
                )
            key = "EMPTY"  # what vLLM and other local servers accept
        self.name = f"openai:{model}"
        self.model = model
        self.base_url = base_url
        self._sdk = sdk
        kwargs: dict[str, Any] = {"api_key": key, "timeout": timeout_s, "max_retries": 0}
        if base_url:
            kwargs["base_url"] = base_url
        self._client = sdk.OpenAI(**kwargs)

    def generate(self, request: Request) -> Completion:
        """One Chat Completions request with a single user message."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": request.prompt}],
        }
        # OpenAI's own API wants max_completion_tokens; compatible servers know max_tokens
        kwargs["max_tokens" if self.base_url else "max_completion_tokens"] = request.max_tokens
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.timeout_s is not None:
            kwargs["timeout"] = request.timeout_s
        response = _call(
            self._sdk, self.name, lambda: self._client.chat.completions.create(**kwargs)
        )
        choices = getattr(response, "choices", None) or []
        text = choices[0].message.content if choices else None
        if not isinstance(text, str):
            raise TransientLLMError("empty", f"{self.name}: the reply has no completion")
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            model=self.name,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            finish_reason=choices[0].finish_reason,
        )


class AnthropicMessages:
    """``anthropic:<model>``: the Messages API (``ANTHROPIC_BASE_URL`` moves the server)."""

    def __init__(self, model: str, *, timeout_s: float = 300) -> None:
        sdk = _import("anthropic")
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise PrerequisiteError(f"anthropic:{model} needs ANTHROPIC_API_KEY in the environment")
        self.name = f"anthropic:{model}"
        self.model = model
        self._sdk = sdk
        kwargs: dict[str, Any] = {"api_key": key, "timeout": timeout_s, "max_retries": 0}
        base_url = os.environ.get("ANTHROPIC_BASE_URL")
        if base_url:
            kwargs["base_url"] = base_url
        self._client = sdk.Anthropic(**kwargs)

    def generate(self, request: Request) -> Completion:
        """One Messages request with a single user message."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": request.prompt}],
        }
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        if request.temperature is not None:  # no keyword for it in the 2.x SDK: send it as JSON
            kwargs["extra_body"] = {"temperature": request.temperature}
        if request.timeout_s is not None:
            kwargs["timeout"] = request.timeout_s
        response = _call(self._sdk, self.name, lambda: self._client.messages.create(**kwargs))
        blocks = getattr(response, "content", None)
        if not isinstance(blocks, list):
            raise TransientLLMError("malformed", f"{self.name}: the reply has no content")
        texts = [getattr(b, "text", None) for b in blocks if getattr(b, "type", "") == "text"]
        if not any(isinstance(t, str) for t in texts):  # as an OpenAI reply without choices
            raise TransientLLMError("empty", f"{self.name}: the reply has no completion")
        text = "".join(t for t in texts if isinstance(t, str))
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            model=self.name,
            prompt_tokens=getattr(usage, "input_tokens", None),
            completion_tokens=getattr(usage, "output_tokens", None),
            finish_reason=getattr(response, "stop_reason", None),
        )
