"""Which actions each LLM agent shows its model, and how they are described in a prompt.

By default each agent shows the actions its original showed: the research agent those of
MLAgentBench's research agent (its low- and high-level actions less Read File, Write File,
Append File, Python REPL, Edit Script Segment (AI) and the research-log actions; Reflection only
with retrieval), the react agent those of the human-relative variant's simple agent. The agent
option ``all-actions`` (``--agent research+all-actions``) shows every action of this project.
An action not shown can still be named: the environment runs any action it knows.
"""

from __future__ import annotations

import json
from typing import Any

from ..actions import REGISTRY, ActionSpec

MLAGENTBENCH_RESEARCH = (
    "List Files",
    "Copy File",
    "Undo Edit Script",
    "Execute Script",
    "Final Answer",
    "Understand File",
    "Inspect Script Lines",
    "Edit Script (AI)",
)
MLAGENTBENCH_RETRIEVAL = (*MLAGENTBENCH_RESEARCH, "Reflection")
HR_MLAB_REACT = (
    "List Files",
    "Read File",
    "Write File",
    "Append File",
    "Copy File",
    "Undo Edit Script",
    "Inspect Script Lines",
    "Execute Script",
    "Python REPL",
    "Understand File",
    "Edit Script (AI)",
    "Edit Script Segment (AI)",
    "Final Answer",
)


def every_action() -> tuple[str, ...]:
    """Every registered action, in registration order."""
    return tuple(REGISTRY)


def _example(spec: ActionSpec) -> dict[str, Any]:
    example: dict[str, Any] = {}
    for p in spec.params:
        if p.kind is int:
            example[p.name] = p.default if isinstance(p.default, int) else 1
        elif p.kind is bool:
            example[p.name] = bool(p.default)
        elif p.kind is float:
            example[p.name] = p.default if isinstance(p.default, float) else 1.0
        elif p.kind is list:
            example[p.name] = []
        else:
            example[p.name] = p.description
    return example


def describe_tools(names: list[str], actions: dict[str, ActionSpec]) -> str:
    """The named actions for a prompt: what each does, and an example input that is valid JSON
    (each text field holds what to write there), with the fields' types and defaults."""
    blocks = []
    for name in names:
        spec = actions[name]
        fields = ", ".join(
            f"{p.name} ({p.kind.__name__}"
            + ("" if p.required else f", optional, default {json.dumps(p.default)}")
            + ")"
            for p in spec.params
        )
        blocks.append(
            f"- {spec.name}: {spec.description}\n"
            f"  Fields: {fields or 'none'}\n"
            f"  Example input: {json.dumps(_example(spec), ensure_ascii=False)}"
        )
    return "\n\n".join(blocks)
