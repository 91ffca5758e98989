"""What a call costs: USD per million prompt and completion tokens, by model name.

The built-in table holds list prices of common models (check them against your provider's
page: prices change). Extend or override it with a TOML file named by ``MLAB_LLM_PRICES``::

    ["gpt-4o"]            # a model name as the API knows it (a longer name, such as
    input = 2.5           # gpt-4o-2024-08-06, uses the longest listed prefix)
    output = 10.0

    ["openai:my-vllm-model"]   # a provider-qualified name wins over the bare one
    input = 0.0
    output = 0.0

or in Python with :meth:`PriceTable.set`. A model with no price costs ``None`` (null in the
tables); a run with ``--max-cost`` refuses to start with such a model.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import PrerequisiteError


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


BUILTIN: dict[str, Price] = {
    # OpenAI
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o3": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    # Anthropic
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-3-opus": Price(15.00, 75.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-opus-4-5": Price(5.00, 25.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
}


class PriceTable:
    """Model name -> :class:`Price`; exact names first, then the longest listed prefix."""

    def __init__(self, prices: dict[str, Price] | None = None) -> None:
        self._prices = dict(BUILTIN if prices is None else prices)

    def set(self, model: str, input: float, output: float) -> None:
        """Add or replace the price of ``model`` (USD per million tokens)."""
        self._prices[model] = Price(float(input), float(output))

    def lookup(self, model: str, qualified: str | None = None) -> Price | None:
        """The price of ``model`` (``qualified``, e.g. ``openai:gpt-4o``, is tried first)."""
        for name in (qualified, model):
            if name and name in self._prices:
                return self._prices[name]
        best = max(
            (k for k in self._prices if ":" not in k and model.startswith(k)),
            key=len,
            default=None,
        )
        return self._prices[best] if best else None

    def cost(
        self, model: str, prompt_tokens: int, completion_tokens: int, qualified: str | None = None
    ) -> float | None:
        """USD for one call, or None when the model has no price."""
        price = self.lookup(model, qualified)
        return price.cost(prompt_tokens, completion_tokens) if price else None

    def load(self, path: Path) -> None:
        """Add the prices of a TOML file (see the module's docstring for its form)."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PrerequisiteError(f"price table {path}: {exc}") from None
        for model, entry in data.items():
            if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
                raise PrerequisiteError(
                    f"price table {path}: [{model!r}] needs input = ... and output = ... "
                    "(USD per million tokens)"
                )
            try:
                self.set(model, float(entry["input"]), float(entry["output"]))
            except (TypeError, ValueError):
                raise PrerequisiteError(
                    f"price table {path}: [{model!r}]: input and output must be numbers"
                ) from None

    @classmethod
    def from_env(cls) -> PriceTable:
        """The built-in prices, extended by the file ``MLAB_LLM_PRICES`` names (if set)."""
        table = cls()
        extra = os.environ.get("MLAB_LLM_PRICES")
        if extra:
            table.load(Path(extra))
        return table
