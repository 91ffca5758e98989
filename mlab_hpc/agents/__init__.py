"""Agents: what decides the next action. Chosen by name, or by ``module:Class``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..actions import ActionSpec
from ..environment import ActionCall, StepRecord
from ..errors import PrerequisiteError, UnknownNameError
from ..taskspec import TaskSpec

if TYPE_CHECKING:
    from ..llm import Models


@dataclass(frozen=True)
class AgentContext:
    """What an agent knows when a run starts."""

    task: TaskSpec
    actions: dict[str, ActionSpec]
    max_steps: int
    max_time_s: float
    seed: int
    model: str | None = None
    models: Models | None = None  # the run's language models by role (agent, fast, edit)
    time_left_s: Callable[[], float] | None = None  # the agent's time left, now


@runtime_checkable
class Agent(Protocol):
    """Decides actions one at a time.

    ``begin`` is called once per attempt; on a resumed run, ``history`` holds the steps already
    taken (oldest first) so the agent can rebuild its memory. ``act`` gets the last step (None
    before the first) and returns the next action.
    """

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None: ...

    def act(self, last: StepRecord | None) -> ActionCall: ...


def _builtin() -> dict[str, type]:
    from .baseline import BaselineAgent
    from .react import ReactAgent
    from .research import ResearchAgent, RetrievalResearchAgent

    return {
        "baseline": BaselineAgent,
        "research": ResearchAgent,
        "research-retrieval": RetrievalResearchAgent,
        "react": ReactAgent,
    }


def agent_names() -> list[str]:
    return sorted(_builtin())


def make_agent(name: str, **options: Any) -> Agent:
    """The agent called ``name`` (a built-in name or ``package.module:ClassName``)."""
    builtins = _builtin()
    if name in builtins:
        cls = builtins[name]
    elif ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise PrerequisiteError(f"agent '{name}': cannot import {module_name}: {exc}") from None
        try:
            cls = getattr(module, attr)
        except AttributeError:
            raise PrerequisiteError(f"agent '{name}': {module_name} has no {attr!r}") from None
    else:
        raise UnknownNameError("agent", name, builtins)
    agent = cls(**options)
    if not isinstance(agent, Agent):
        raise PrerequisiteError(f"agent '{name}' lacks begin(ctx, history) and act(last)")
    return agent
