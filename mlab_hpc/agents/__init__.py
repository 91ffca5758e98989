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
    # research_log(text, replace): appends to the workspace's research_log.log (or rewrites it)
    research_log: Callable[[str, bool], None] | None = None


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


def agent_options(name: str) -> tuple[str, dict[str, Any]]:
    """``research+all-actions+recent-steps=5`` -> ("research", {"all_actions": True,
    "recent_steps": 5}): options after ``+``, a bare one meaning True, numbers as numbers."""
    base, *parts = name.split("+")
    options: dict[str, Any] = {}
    for part in parts:
        key, sep, raw = part.partition("=")
        if not key.strip():
            raise PrerequisiteError(f"agent '{name}': an empty option after '+'")
        value: Any = True
        if sep:
            value = raw
            for convert in (int, float):
                try:
                    value = convert(raw)
                    break
                except ValueError:
                    pass
        options[key.strip().replace("-", "_")] = value
    return base, options


def make_agent(name: str, **options: Any) -> Agent:
    """The agent called ``name`` (a built-in name or ``package.module:ClassName``), with the
    options written after it (``research+all-actions``: see :func:`agent_options`)."""
    name, written = agent_options(name)
    options = {**written, **options}
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
    try:
        agent = cls(**options)
    except TypeError as exc:
        if not written:
            raise
        raise PrerequisiteError(f"agent '{name}' does not take these options: {exc}") from None
    if not isinstance(agent, Agent):
        raise PrerequisiteError(f"agent '{name}' lacks begin(ctx, history) and act(last)")
    return agent
