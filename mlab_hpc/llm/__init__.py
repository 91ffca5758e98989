"""Language models for agents and the LLM-backed actions.

``--model PROVIDER:NAME`` picks one: ``openai:<model>`` (also any OpenAI-compatible server
through ``--base-url``), ``anthropic:<model>``, or ``replay:<file>`` (the calls a run
recorded). :func:`plan_models` checks a run's choices before it starts (SDK installed, key
present, prices known where a cost budget needs them); :meth:`ModelPlan.open` then binds them to
the run's call log.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import PrerequisiteError, UnknownNameError
from .base import (
    LLM,
    PURPOSES,
    BudgetExceeded,
    Completion,
    DeadlineReached,
    LLMError,
    ReplayDiverged,
    Request,
    TransientLLMError,
)
from .prices import Price, PriceTable
from .retry import RetryPolicy
from .session import Budget, LLMSession, Model, Models, Usage, read_usage

__all__ = [
    "LLM",
    "PURPOSES",
    "Budget",
    "BudgetExceeded",
    "Completion",
    "DeadlineReached",
    "LLMError",
    "LLMSession",
    "Model",
    "ModelPlan",
    "Models",
    "Price",
    "PriceTable",
    "ReplayDiverged",
    "Request",
    "RoleSettings",
    "RetryPolicy",
    "TransientLLMError",
    "Usage",
    "make_llm",
    "parse_model_spec",
    "parse_role_settings",
    "plan_models",
    "read_usage",
]

PROVIDERS = ("openai", "anthropic", "replay")


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``provider:name`` -> (provider, name). A bare name of a well-known family gets its
    provider (gpt-*/o1/o3/o4 -> openai, claude-* -> anthropic); any other needs one."""
    spec = spec.strip()
    provider, sep, name = spec.partition(":")
    if sep and provider in PROVIDERS:
        if not name:
            raise PrerequisiteError(f"model '{spec}': give a name after '{provider}:'")
        return provider, name
    if sep and "/" not in provider and not provider.startswith(("gpt", "claude")):
        raise UnknownNameError("model provider", provider, PROVIDERS)
    if spec.startswith(("gpt-", "chatgpt", "o1", "o3", "o4")):
        return "openai", spec
    if spec.startswith("claude"):
        return "anthropic", spec
    raise PrerequisiteError(
        f"model '{spec}': say which provider serves it: openai:{spec} (also any "
        f"OpenAI-compatible server, with --base-url), anthropic:{spec}, or replay:FILE"
    )


def make_llm(spec: str, *, base_url: str | None = None, timeout_s: float = 300) -> LLM:
    """The provider for ``spec`` (``base_url`` applies to openai models only)."""
    provider, name = parse_model_spec(spec)
    if provider == "openai":
        from .providers import OpenAIChat

        return OpenAIChat(name, base_url=base_url, timeout_s=timeout_s)
    if provider == "anthropic":
        from .providers import AnthropicMessages

        return AnthropicMessages(name, timeout_s=timeout_s)
    from .replay import ReplayLLM

    return ReplayLLM(name)


ROLES = ("agent", "fast", "edit")


@dataclass(frozen=True)
class RoleSettings:
    """A user's output-token limit and temperature for one role (None: the agent's default)."""

    max_tokens: int | None = None
    temperature: float | None = None


def parse_role_settings(text: str) -> dict[str, RoleSettings]:
    """``agent:max_tokens=3000,temperature=0.2;fast:temperature=0`` -> settings by role
    (the form of ``MLAB_LLM_ROLES``); PrerequisiteError naming what is wrong."""
    found: dict[str, RoleSettings] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        role, sep, body = part.partition(":")
        role = role.strip()
        if not sep or role not in ROLES:
            raise PrerequisiteError(
                f"MLAB_LLM_ROLES: {part!r} must start with a role ({', '.join(ROLES)}) and ':'"
            )
        values: dict[str, float] = {}
        for item in filter(None, (i.strip() for i in body.split(","))):
            key, eq, raw = item.partition("=")
            key = key.strip()
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if not eq or key not in ("max_tokens", "temperature") or not math.isfinite(number):
                raise PrerequisiteError(
                    f"MLAB_LLM_ROLES: {item!r} in role {role}: write max_tokens=N or "
                    "temperature=X with a number"
                )
            if (key == "max_tokens" and (number < 1 or number != int(number))) or number < 0:
                raise PrerequisiteError(f"MLAB_LLM_ROLES: {item!r}: out of range")
            values[key] = number
        tokens = values.get("max_tokens")
        found[role] = RoleSettings(
            max_tokens=int(tokens) if tokens is not None else None,
            temperature=values.get("temperature"),
        )
    return found


@dataclass(frozen=True)
class ModelPlan:
    """A run's providers by role, with its budget, retry policy, prices and temperature."""

    agent: LLM
    fast: LLM
    edit: LLM
    budget: Budget
    retry: RetryPolicy
    prices: PriceTable
    temperature: float | None = None
    roles: dict[str, RoleSettings] | None = None  # per-role settings, over ``temperature``

    def open(
        self, log_path: Path, *, completed_steps: int = 0, fsync: bool = False
    ) -> tuple[LLMSession, Models]:
        """Bind the models to the run's call log (appending to it on a resumed run, whose
        replays then continue after the calls of its ``completed_steps``)."""
        session = LLMSession(
            log_path, budget=self.budget, retry=self.retry, prices=self.prices, fsync=fsync
        )
        if completed_steps:
            from .replay import ReplayLLM

            for llm in {id(x): x for x in (self.agent, self.fast, self.edit)}.values():
                if isinstance(llm, ReplayLLM):
                    llm.skip_to_step(completed_steps)

        def role(llm: LLM, name: str) -> Model:
            own = (self.roles or {}).get(name, RoleSettings())
            temperature = own.temperature if own.temperature is not None else self.temperature
            return Model(llm, session, name, max_tokens=own.max_tokens, temperature=temperature)

        return session, Models(
            agent=role(self.agent, "agent"),
            fast=role(self.fast, "fast"),
            edit=role(self.edit, "edit"),
        )


def plan_models(
    model: str | None,
    *,
    fast: str | None = None,
    edit: str | None = None,
    base_url: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    roles: dict[str, RoleSettings] | None = None,
) -> ModelPlan | None:
    """Check and build a run's providers; None when the run uses no model.

    Roles without a model of their own use ``model`` (or, without one, the other role's).
    ``roles`` sets output tokens and temperature per role (default: ``MLAB_LLM_ROLES``).
    Raises PrerequisiteError for what the user must fix before the run starts.
    """
    default = model or edit or fast
    if default is None:
        return None
    if max_tokens is not None and max_tokens <= 0:
        raise PrerequisiteError("--max-tokens must be a positive number of tokens")
    if max_cost is not None and max_cost <= 0:
        raise PrerequisiteError("--max-cost must be a positive amount of USD")
    if roles is None:
        roles = parse_role_settings(os.environ.get("MLAB_LLM_ROLES", ""))
    retry = RetryPolicy.from_env()
    prices = PriceTable.from_env()
    made: dict[str, LLM] = {}  # one provider per spec: roles sharing a replay share its place

    def get(spec: str) -> LLM:
        if spec not in made:
            made[spec] = make_llm(spec, base_url=base_url, timeout_s=retry.timeout_s)
        return made[spec]

    plan = ModelPlan(
        agent=get(default),
        fast=get(fast or default),
        edit=get(edit or default),
        budget=Budget(max_tokens=max_tokens, max_cost_usd=max_cost),
        retry=retry,
        prices=prices,
        temperature=temperature,
        roles=roles,
    )
    if max_cost is not None:
        for llm in made.values():
            if llm.name.startswith("replay:"):
                continue  # replays carry their recorded costs
            if prices.lookup(llm.model, llm.name) is None:
                raise PrerequisiteError(
                    f"--max-cost needs the price of {llm.name}: add it to a price file "
                    "named by MLAB_LLM_PRICES (see docs/agents.md)"
                )
    return plan
