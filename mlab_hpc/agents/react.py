"""The simple action agent of the human-relative variant, with prompts written for this project.

The model sees the task, the actions, and every step so far (long observations cut to their
beginning and end), and answers with Thought, Action and Action Input. Every turn shows the
steps and time left and asks it to keep improving rather than finish early. A reply without an
``Action:`` line spends its step: the agent is told "No valid action found!" and goes on.

A step's ``thought`` is the model's whole reply, so a resumed or replayed run rebuilds the same
conversation from the steps alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..environment import ActionCall, StepRecord
from ..llm.chunks import head_and_tail
from ..llm.parsing import ReplyFormatError, action_name, duration, entries, json_object
from . import AgentContext
from .research import require_models
from .tools import HR_MLAB_REACT, describe_tools, every_action

NO_ACTION = "(no valid action)"
NO_ACTION_FEEDBACK = (
    "No valid action found! Write one action per reply, as three lines: "
    "Thought: ..., Action: <an action name>, Action Input: <a JSON object>."
)
STOP = ("\nObservation:",)
TOOLS = HR_MLAB_REACT
# output tokens and temperature by role, as the human-relative variant calls its models
SETTINGS = {"agent": (4096, 1.0), "fast": (4096, 1.0), "edit": (4000, 1.0)}

INTRO = """\
You are an agent solving a machine-learning task in a folder of files. Each reply of yours \
takes exactly one action; the environment runs it and shows you what came back.

The task:
{problem}

The actions (each takes a JSON object as its input):
{tools}

Reply in this form, and stop after the Action Input:
Thought: your reasoning about what to do next
Action: the name of one action from the list
Action Input: its input, a JSON object

You have {max_steps} steps and {max_time} for the whole task. Use them: keep improving your \
solution while steps and time remain, and keep a working solution in place as you go. The \
Final Answer action ends the task for good; do not give it early.
"""

TURN = """\
Steps left: {steps_left} of {max_steps}. Time left: {time_left}.
{reminder}
Your reply for step {step}:
"""

REMINDER = (
    "Keep improving: if your solution can get better, try the next idea rather than finishing now."
)
LAST_STEP = "This is your last step: make sure the folder holds your best solution."


@dataclass
class _Turn:
    step: int
    reply: str
    observation: str


class ReactAgent:
    """Thought / Action / Action Input, the whole history in context, no early finish."""

    name = "react"
    requires_llm = True

    def __init__(
        self,
        *,
        observation_chars: int = 8000,
        history_chars: int = 120_000,
        tools: tuple[str, ...] = TOOLS,
        all_actions: bool = False,
    ) -> None:
        self.observation_chars = observation_chars
        self.history_chars = history_chars
        self.tools = every_action() if all_actions else tools

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        """Build the fixed part of the prompt and the conversation of the steps taken."""
        models = require_models(ctx, self.name)
        for role, (max_tokens, temperature) in SETTINGS.items():
            getattr(models, role).use_defaults(max_tokens=max_tokens, temperature=temperature)
        self.model = models.agent
        self.ctx = ctx
        names = [n for n in self.tools if n in ctx.actions]
        self.intro = INTRO.format(
            problem=ctx.task.research_problem.strip(),
            tools=describe_tools(names, ctx.actions),
            max_steps=ctx.max_steps,
            max_time=duration(ctx.max_time_s),
        )
        self._t0 = time.monotonic()
        self._elapsed_before = history[-1].elapsed_s if history else 0.0
        self.turns: list[_Turn] = []
        for record in history:
            self._remember(record)

    def _remember(self, record: StepRecord) -> None:
        if record.action == NO_ACTION:
            observation = NO_ACTION_FEEDBACK
        else:
            observation = head_and_tail(record.observation, self.observation_chars)
        self.turns.append(_Turn(record.step, record.thought, observation))

    def _time_left(self) -> float:
        if self.ctx.time_left_s is not None:
            return self.ctx.time_left_s()
        used = self._elapsed_before + time.monotonic() - self._t0
        return self.ctx.max_time_s - used

    def act(self, last: StepRecord | None) -> ActionCall:
        """Ask the model for one action; a reply without one spends the step."""
        if last is not None and (not self.turns or self.turns[-1].step < last.step):
            self._remember(last)
        reply = self.model.generate(self._prompt(), purpose="agent", stop=STOP).strip()
        found = entries(reply, ("Thought", "Action", "Action Input"))
        name = action_name(found.get("Action", ""))
        if not name:
            return ActionCall(NO_ACTION, {}, thought=reply)
        args: Any
        try:
            args = json_object(found.get("Action Input", "{}") or "{}")
        except ReplyFormatError:
            args = found.get("Action Input", "")  # the environment says what input it expected
        return ActionCall(name, args, thought=reply)

    def _prompt(self) -> str:
        step = (self.turns[-1].step if self.turns else 0) + 1
        shown: list[str] = []
        size = 0
        for turn in reversed(self.turns):
            text = f"Step {turn.step}:\n{turn.reply}\nObservation:\n{turn.observation}\n"
            if shown and size + len(text) > self.history_chars:
                break
            shown.append(text)
            size += len(text)
        left_out = len(self.turns) - len(shown)
        parts = [self.intro]
        if left_out:
            parts.append(f"[{left_out} earlier step(s) left out to save space]\n")
        parts += reversed(shown)
        steps_left = self.ctx.max_steps - step + 1
        parts.append(
            TURN.format(
                steps_left=steps_left,
                max_steps=self.ctx.max_steps,
                time_left=duration(self._time_left()),
                reminder=LAST_STEP if steps_left <= 1 else REMINDER,
                step=step,
            )
        )
        return "\n".join(parts)
