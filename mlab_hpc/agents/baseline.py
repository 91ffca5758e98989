"""The baseline agent: run the starter script as it is, then give the final answer.

Its scores are the "starter" baseline that success and some human-relative anchors refer to.
"""

from __future__ import annotations

from ..environment import ActionCall, StepRecord
from . import AgentContext


class BaselineAgent:
    name = "baseline"

    def __init__(self) -> None:
        self._ran = False
        self._starter = "train.py"

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        self._starter = ctx.task.starter
        self._ran = any(s.action == "Execute Script" for s in history)

    def act(self, last: StepRecord | None) -> ActionCall:
        if not self._ran:
            self._ran = True
            return ActionCall(
                "Execute Script",
                {"script_name": self._starter},
                thought="Run the starter script unchanged.",
            )
        return ActionCall(
            "Final Answer",
            {"final_answer": "The starter script, unchanged."},
            thought="The baseline makes no changes.",
        )
