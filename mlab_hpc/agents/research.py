"""The research agent of MLAgentBench, with prompts written for this project.

Each step the model sees the tools, the research problem, the rules, and its last three steps
(its full replies and what came back), and answers with Reflection, Research Plan and Status,
Fact Check, Thought, Action and Action Input. A reply that does not follow the format is
answered with what is wrong, up to five times; after that the step is spent on an invalid
action. Observations longer than 5,000 characters reach the prompt summarised by the fast
model. ``research-retrieval`` also keeps a research log of every step (written by the fast
model) and brings back what matters from it for the current plan.

A step's ``thought`` is the reply that chose its action, followed by anything the agent made
while deciding it (observation summaries, research-log notes) under marker lines, so that a
resumed or replayed run rebuilds exactly the same memory from the steps alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..actions import ActionError
from ..environment import ActionCall, StepRecord, find_action
from ..errors import PrerequisiteError
from ..llm import LLMError, Models
from ..llm.chunks import head_and_tail, summarise_long
from ..llm.parsing import ReplyFormatError, action_name, entries, excerpt, json_object
from . import AgentContext
from .tools import MLAGENTBENCH_RESEARCH, MLAGENTBENCH_RETRIEVAL, describe_tools, every_action

FORMAT = (
    "Reflection",
    "Research Plan and Status",
    "Fact Check",
    "Thought",
    "Action",
    "Action Input",
)
TOOLS = MLAGENTBENCH_RESEARCH
RETRY_EXCERPT_CHARS = 2000  # how much of a reply in the wrong format the retry prompt repeats
# output tokens and temperature by role, as MLAgentBench calls its models (main runs)
SETTINGS = {"agent": (2000, 0.5), "fast": (2000, 0.01), "edit": (4000, 0.5)}
INVALID_ACTION = "(no valid response)"
STOP = ("\nObservation:",)

_MARK = re.compile(r"\n\n\[(observation of step|research-log note on step) (\d+)[^\]\n]*\]\n")
SUMMARY_MARK = "[observation of step {step}, summarised for the agent]"
NOTE_MARK = "[research-log note on step {step}]"

INTRO = """\
You are a research assistant working on a machine-learning problem in a folder of files. You \
act through the tools below, one action per reply, and the environment answers each action \
with an observation.

Tools:
{tools}

Research problem:
{problem}

You know nothing about this problem yet. Keep to these rules from start to finish:
- Begin with a high-level plan, built from the problem and the tools you have, and write it \
under Research Plan and Status. You may change the plan later.
- Keep Research Plan and Status short and orderly: 1) the high-level plan (which may be \
revised), 2) which steps are done and which are under way, 3) a brief result and conclusion \
for every finished step.
- Research Plan and Status may contain only what an observation has confirmed.
- A performance number or estimate may enter the status only once you have run the code and \
seen it in the output.
- Design experiments that answer the problem; where it applies, measure the performance of \
the current system (the baseline) before you try to improve it.
- Follow the plan and reach the goal as directly as you can.
- Before you draw a conclusion, point to the experimental results and the reasoning it rests on.
- Do not install new packages or libraries.
- When you believe the problem is solved, use the Final Answer action. It can be given only \
once, so first make sure the goal is met.

Answer in exactly this format, with every entry, in this order:
Reflection: what the last observation means; if it shows an error, its cause and how to fix it.
Research Plan and Status: the whole plan and status, updated as the rules say.
Fact Check: each objective statement of this update of Research Plan and Status, one by one, \
marked as guessed or as confirmed by the observation right above. Performance numbers count as \
confirmed only when you ran the code and saw them.
Thought: what you are doing now, which action you take and why.
Action: the name of one tool from the list above.
Action Input: the input of that tool, as a valid JSON object in the form its description shows.
Observation:
```
the result of the action (the environment writes this part, never you)
```
"""

RETRY = """\

Your previous reply was:
{reply}

It could not be used: {problem}
Answer again in exactly the requested format, with every entry in this order: \
Reflection, Research Plan and Status, Fact Check, Thought, Action, Action Input (a JSON object).
"""

SUMMARISE = """\
A researcher working on a machine-learning problem took the action {action} with the input \
{args}. Below is {part} of what the action returned; it is too long to keep in full. Summarise \
it objectively and concisely: keep what the researcher needs (numbers, errors with their \
messages, names of files and functions), leave out the rest, and guess nothing.

{text}
"""

MERGE = """\
These are summaries of consecutive parts of one long output of the action {action}. Merge them \
into one objective, concise summary of the whole output, keeping every number, error and name \
that matters.

{parts}
"""

NOTE = """\
Write a short entry for a research log (a few lines): what was done in this step of a \
machine-learning research project, what came out of it, and what it means for the plan.

The step:
{reply}

What came back:
{observation}
"""

RETRIEVE = """\
Here is a research log, one entry per step taken so far:

{log}

The current research plan and status:
{plan}

From the log, keep only what matters for the plan now (results, numbers, errors, files \
changed), as a concise summary.
"""


def require_models(ctx: AgentContext, agent: str) -> Models:
    """The run's models; a PrerequisiteError naming the option when the run has none."""
    if ctx.models is None:
        raise PrerequisiteError(f"the {agent} agent needs a language model: give --model")
    return ctx.models


def encode_thought(reply: str, extras: list[tuple[str, int, str]]) -> str:
    """A step's thought: the reply, then each extra under its marker line."""
    blocks = [reply]
    for kind, step, text in extras:
        mark = SUMMARY_MARK if kind == "summary" else NOTE_MARK
        blocks.append(mark.format(step=step) + "\n" + text)
    return "\n\n".join(blocks)


def decode_thought(thought: str) -> tuple[str, list[tuple[str, int, str]]]:
    """The reply and the extras (kind, step, text) of a thought made by :func:`encode_thought`."""
    parts = _MARK.split(thought or "")
    reply, extras = parts[0], []
    for i in range(1, len(parts) - 2, 3):
        kind = "summary" if parts[i].startswith("observation") else "note"
        extras.append((kind, int(parts[i + 1]), parts[i + 2]))
    return reply, extras


@dataclass
class _Step:
    step: int
    action: str
    args: str
    reply: str
    observation: str


class ResearchAgent:
    """MLAgentBench's research agent: plan, act, keep the last steps in mind."""

    name = "research"
    requires_llm = True

    def __init__(
        self,
        *,
        recent_steps: int = 3,
        summarise_over_chars: int = 5000,
        chunk_chars: int = 10_000,
        format_retries: int = 5,
        retrieval: bool = False,
        tools: tuple[str, ...] | None = None,
        all_actions: bool = False,
    ) -> None:
        self.recent_steps = recent_steps
        self.summarise_over_chars = summarise_over_chars
        self.chunk_chars = chunk_chars
        self.format_retries = format_retries
        self.retrieval = retrieval
        if tools is None:
            tools = MLAGENTBENCH_RETRIEVAL if retrieval else MLAGENTBENCH_RESEARCH
        self.tools = every_action() if all_actions else tools

    # ------------------------------------------------------------------ memory
    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        """Build the prompt's fixed part and rebuild the memory from the steps taken."""
        models = require_models(ctx, self.name)
        for role, (max_tokens, temperature) in SETTINGS.items():
            getattr(models, role).use_defaults(max_tokens=max_tokens, temperature=temperature)
        self.model, self.fast = models.agent, models.fast
        self.ctx = ctx
        names = [n for n in self.tools if n in ctx.actions]
        self.intro = INTRO.format(
            tools=describe_tools(names, ctx.actions), problem=ctx.task.research_problem.strip()
        )
        self.steps: list[_Step] = []
        self.summaries: dict[int, str] = {}
        self.notes: dict[int, str] = {}
        for record in history:
            self._remember(record)
        if history and ctx.research_log is not None:  # a resumed run: the log as it was
            taken = [s for s in self.steps if s.action != INVALID_ACTION]
            ctx.research_log("".join(self._log_entry(s.step, s.reply) for s in taken), True)

    def _remember(self, record: StepRecord) -> None:
        reply, extras = decode_thought(record.thought)
        for kind, step, text in extras:
            (self.summaries if kind == "summary" else self.notes)[step] = text
        self.steps.append(_Step(record.step, record.action, record.args, reply, record.observation))

    # ------------------------------------------------------------------ one step
    def act(self, last: StepRecord | None) -> ActionCall:
        """Ask the model for the next action, retrying replies in the wrong format."""
        if last is not None and (not self.steps or self.steps[-1].step < last.step):
            self._remember(last)
        extras: list[tuple[str, int, str]] = []
        recent = self.steps[-self.recent_steps :] if self.recent_steps else []
        for s in recent:
            if len(s.observation) > self.summarise_over_chars and s.step not in self.summaries:
                self.summaries[s.step] = self._summarise(s)
                extras.append(("summary", s.step, self.summaries[s.step]))
        retrieved = ""
        if self.retrieval:
            for s in self.steps:
                if s.step not in self.notes:
                    self.notes[s.step] = self._note(s)
                    extras.append(("note", s.step, self.notes[s.step]))
            if len(self.steps) > len(recent):
                retrieved = self._retrieve()
        prompt = self._prompt(recent, retrieved)
        reply = ""
        asked = prompt
        for _ in range(1 + self.format_retries):
            reply = self.model.generate(asked, purpose="agent", stop=STOP).strip()
            try:
                name, args = self._parse(reply)
            except ReplyFormatError as exc:
                shown = excerpt(reply, RETRY_EXCERPT_CHARS)
                asked = prompt + RETRY.format(reply=shown, problem=exc)
                continue
            self._log_step(reply)
            return ActionCall(name, args, thought=encode_thought(reply, extras))
        return ActionCall(INVALID_ACTION, {}, thought=encode_thought(reply, extras))

    def _log_step(self, reply: str) -> None:
        """Add the step being taken to research_log.log (what Reflection reads)."""
        if self.ctx.research_log is not None:
            step = (self.steps[-1].step if self.steps else 0) + 1
            self.ctx.research_log(self._log_entry(step, reply), False)

    def _log_entry(self, step: int, reply: str) -> str:
        """A step's entry in the research log: its plan and status (MLAgentBench's research
        log), and with retrieval the fast model's note on the step before."""
        lines = []
        if self.retrieval and step - 1 in self.notes:
            lines.append(f"Step {step - 1} (what came of it):\n{self.notes[step - 1]}")
        plan = entries(reply, FORMAT).get("Research Plan and Status", "")
        lines.append(f"Step {step}, Research Plan and Status:\n{plan or '(none given)'}")
        return "\n\n".join(lines) + "\n\n"

    def _parse(self, reply: str) -> tuple[str, dict[str, object]]:
        found = entries(reply, FORMAT)
        missing = [label for label in FORMAT if label not in found]
        if missing:
            raise ReplyFormatError(f"the entries {', '.join(missing)} are missing.")
        name = action_name(found["Action"])
        try:
            spec = find_action(name, self.ctx.actions)
        except ActionError as exc:
            raise ReplyFormatError(str(exc)) from None
        return spec.name, json_object(found["Action Input"])

    def _prompt(self, recent: list[_Step], retrieved: str) -> str:
        parts = [self.intro]
        if retrieved:
            parts.append(
                "What matters now from the research log of the earlier steps:\n"
                f"```\n{retrieved}\n```\n"
            )
        if recent:
            parts.append(
                f"Your most recent steps (at most {self.recent_steps}), with what came back:\n"
            )
            for s in recent:
                observation = self.summaries.get(s.step, s.observation)
                parts.append(f"Step {s.step}:\n{s.reply}\nObservation:\n```\n{observation}\n```\n")
        n = (self.steps[-1].step if self.steps else 0) + 1
        parts.append(f"Now your reply for step {n} (of at most {self.ctx.max_steps}):\n")
        return "\n".join(parts)

    # ------------------------------------------------------------------ the fast model's work
    def _summarise(self, s: _Step) -> str:
        chunks_seen = 0

        def ask(chunk: str) -> str:
            nonlocal chunks_seen
            chunks_seen += 1
            part = "all" if len(chunk) == len(s.observation) else f"part {chunks_seen}"
            prompt = SUMMARISE.format(action=s.action, args=s.args, part=part, text=chunk)
            return self.fast.generate(prompt, purpose="summarise").strip()

        def merge(parts: list[str]) -> str:
            numbered = "\n\n".join(f"Part {i}:\n{p}" for i, p in enumerate(parts, 1))
            prompt = MERGE.format(action=s.action, parts=numbered)
            return self.fast.generate(prompt, purpose="summarise").strip()

        try:
            return summarise_long(s.observation, ask, merge, self.chunk_chars)
        except LLMError as exc:  # the step goes on with the observation cut instead
            cut = head_and_tail(s.observation, self.summarise_over_chars)
            return f"[the summary failed ({exc}); the observation's beginning and end:]\n{cut}"

    def _note(self, s: _Step) -> str:
        observation = self.summaries.get(s.step, s.observation)
        if len(observation) > self.summarise_over_chars:
            observation = observation[: self.summarise_over_chars] + "\n[...]"
        prompt = NOTE.format(reply=s.reply, observation=observation)
        try:
            return self.fast.generate(prompt, purpose="summarise").strip()
        except LLMError as exc:
            return f"(no note on this step: the model failed: {exc})"

    def _retrieve(self) -> str:
        log = "\n\n".join(f"Step {step}:\n{self.notes[step]}" for step in sorted(self.notes))
        plan = entries(self.steps[-1].reply, FORMAT).get("Research Plan and Status", "")
        prompt = RETRIEVE.format(log=log, plan=plan or "(none yet)")
        try:
            return self.fast.generate(prompt, purpose="summarise").strip()
        except LLMError:
            return ""  # the step goes on without what the log would have brought back


class RetrievalResearchAgent(ResearchAgent):
    """The research agent with its research log: ``--agent research-retrieval``."""

    name = "research-retrieval"

    def __init__(self, **options: object) -> None:
        super().__init__(retrieval=True, **options)  # type: ignore[arg-type]
