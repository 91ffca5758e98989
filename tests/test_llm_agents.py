"""The research and react agents against a scripted model: format retries, summaries, cuts,
and memory rebuilt from the steps of a resumed run exactly as it was."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from mlab_hpc import jsonl
from mlab_hpc.actions import REGISTRY
from mlab_hpc.agents import AgentContext, make_agent
from mlab_hpc.agents.react import NO_ACTION, ReactAgent
from mlab_hpc.agents.research import (
    INVALID_ACTION,
    ResearchAgent,
    RetrievalResearchAgent,
    decode_thought,
    encode_thought,
)
from mlab_hpc.environment import ActionCall, StepRecord
from mlab_hpc.errors import PrerequisiteError
from mlab_hpc.llm import LLMSession, Model, Models, RetryPolicy
from mlab_hpc.llm.chunks import split_chunks
from mlab_hpc.taskspec import get_task

from .test_llm_units import FakeLLM

_log_number = itertools.count()


def research_reply(action: str, args: dict[str, object], note: str = "") -> str:
    return (
        f"Reflection: {note or 'nothing yet'}\nResearch Plan and Status: 1. look around\n"
        f"Fact Check: none\nThought: try {action}\nAction: {action}\n"
        f"Action Input: {json.dumps(args)}"
    )


def models(tmp_path: Path, llm: FakeLLM) -> Models:
    session = LLMSession(
        tmp_path / f"calls-{next(_log_number)}.jsonl",
        retry=RetryPolicy(retries=0),
        sleep=lambda s: None,
    )
    return Models(*(Model(llm, session, role) for role in ("agent", "fast", "edit")))


def context(m: Models | None, max_steps: int = 10) -> AgentContext:
    return AgentContext(
        task=get_task("cartpole"),
        actions=dict(REGISTRY),
        max_steps=max_steps,
        max_time_s=1800,
        seed=0,
        models=m,
        time_left_s=lambda: 1500.0,
    )


def record(step: int, call: ActionCall, observation: str) -> StepRecord:
    return StepRecord(
        step=step,
        action=call.name,
        args=json.dumps(call.args, sort_keys=True),
        thought=call.thought,
        observation=observation,
        started_at=0.0,
        duration_s=0.1,
        exit_code=None,
        error_kind=None,
        snapshot_id="s",
        elapsed_s=10.0 * step,
    )


def test_llm_agents_are_registered_and_need_a_model() -> None:
    assert isinstance(make_agent("research"), ResearchAgent)
    assert isinstance(make_agent("research-retrieval"), RetrievalResearchAgent)
    assert isinstance(make_agent("react"), ReactAgent)
    with pytest.raises(PrerequisiteError, match="--model"):
        ResearchAgent().begin(context(None), [])


def test_research_format_retries_then_recovery(tmp_path: Path) -> None:
    llm = FakeLLM(
        [
            "I would like to look at the files.",
            research_reply("Fly Away", {}),
            research_reply("List Files", {"dir_path": "."}).replace('{"dir_path": "."}', "{oops"),
            research_reply("list files", {"dir_path": "."}),
        ]
    )
    agent = ResearchAgent()
    agent.begin(context(models(tmp_path, llm)), [])
    call = agent.act(None)
    assert (call.name, call.args) == ("List Files", {"dir_path": "."})
    assert call.thought == research_reply("list files", {"dir_path": "."})
    prompts = [r.prompt for r in llm.requests]
    assert "could not be used: the entries Reflection, Research Plan and Status" in prompts[1]
    assert "'Fly Away' is not an action" in prompts[2]
    assert "the Action Input is not a JSON object" in prompts[3]
    assert all(r.stop == ("\nObservation:",) and r.purpose == "agent" for r in llm.requests)
    assert "Research problem:" in prompts[0] and "CartPole-v1" in prompts[0]
    assert "- Edit Script (AI):" in prompts[0] and "- Write File:" not in prompts[0]


def test_research_spends_the_step_after_five_retries(tmp_path: Path) -> None:
    llm = FakeLLM(["no format"] * 6)
    agent = ResearchAgent()
    agent.begin(context(models(tmp_path, llm)), [])
    call = agent.act(None)
    assert call.name == INVALID_ACTION and call.args == {} and len(llm.requests) == 6


def test_research_summarises_long_observations_in_chunks(tmp_path: Path) -> None:
    long = "".join(f"epoch {i:04d}: loss {1 / (i + 1):.5f}\n" for i in range(1100))
    assert len(split_chunks(long, 10_000)) == 3
    llm = FakeLLM(
        [
            research_reply("Execute Script", {"script_name": "train.py"}),
            "summary of part 1",
            "summary of part 2",
            "summary of part 3",
            "the loss fell from 1 to 0.0007",
            research_reply("Final Answer", {"final_answer": "done"}),
        ]
    )
    agent = ResearchAgent()
    agent.begin(context(models(tmp_path, llm)), [])
    first = agent.act(None)
    second = agent.act(record(1, first, long))
    assert second.name == "Final Answer"
    purposes = [r.purpose for r in llm.requests]
    assert purposes == ["agent", "summarise", "summarise", "summarise", "summarise", "agent"]
    assert "Merge them" in llm.requests[4].prompt
    assert "the loss fell" in llm.requests[5].prompt and "epoch 1000:" not in llm.requests[5].prompt
    reply, extras = decode_thought(second.thought)
    assert reply == research_reply("Final Answer", {"final_answer": "done"})
    assert extras == [("summary", 1, "the loss fell from 1 to 0.0007")]


def test_thought_encoding_round_trips() -> None:
    extras = [("summary", 3, "a\n\nb"), ("note", 4, "c")]
    assert decode_thought(encode_thought("reply\n\ntext", extras)) == ("reply\n\ntext", extras)
    assert decode_thought("just a reply") == ("just a reply", [])


def _drive(agent: ResearchAgent | ReactAgent, n: int, observe: list[str]) -> list[StepRecord]:
    history: list[StepRecord] = []
    last = None
    for i in range(n):
        call = agent.act(last)
        last = record(i + 1, call, observe[i])
        history.append(last)
    return history


class EchoLLM(FakeLLM):
    """Agent calls get the next scripted reply; the fast model's calls a text made from the
    prompt, so that different prompts give different answers."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__([])
        self.agent_replies = list(replies)

    def generate(self, request):  # type: ignore[no-untyped-def]
        if request.purpose == "agent":
            self.replies.append(self.agent_replies.pop(0))
        else:
            self.replies.append(f"{request.purpose} of a {len(request.prompt)}-character prompt")
        return super().generate(request)


@pytest.mark.parametrize("retrieval", [False, True])
def test_research_resume_rebuilds_the_same_memory(tmp_path: Path, retrieval: bool) -> None:
    observations = ["a" * 6000, "short", "b" * 7000, "c" * 5001]
    replies = [research_reply("List Files", {"dir_path": str(i)}) for i in range(5)]
    straight = EchoLLM(replies)
    agent = ResearchAgent(retrieval=retrieval)
    agent.begin(context(models(tmp_path, straight)), [])
    history = _drive(agent, 4, observations)
    start_of_step_5 = len(straight.requests)
    agent.act(history[-1])

    resumed_llm = EchoLLM(replies[4:])
    resumed = ResearchAgent(retrieval=retrieval)
    resumed.begin(context(models(tmp_path, resumed_llm)), history)
    resumed.act(history[-1])  # a resumed run hands the last completed step again
    # the resumed agent makes exactly the calls of step 5, with the very same prompts
    expected = [(r.purpose, r.prompt) for r in straight.requests[start_of_step_5:]]
    assert [(r.purpose, r.prompt) for r in resumed_llm.requests] == expected
    assert [p for p, _ in expected].count("summarise") == (3 if retrieval else 1)


def test_react_no_valid_action_spends_the_step(tmp_path: Path) -> None:
    llm = FakeLLM(
        [
            "I am thinking about it.",
            'Thought: look\nAction: List Files\nAction Input: {"dir_path": "."}',
            "Thought: run\nAction: Execute Script\nAction Input: train.py",
        ]
    )
    agent = ReactAgent(observation_chars=100)
    agent.begin(context(models(tmp_path, llm), max_steps=3), [])
    first = agent.act(None)
    assert (first.name, first.args, first.thought) == (NO_ACTION, {}, "I am thinking about it.")
    second = agent.act(record(1, first, "Error: '(no valid action)' is not an action."))
    assert (second.name, second.args) == ("List Files", {"dir_path": "."})
    third = agent.act(record(2, second, "x" * 60 + "y" * 60))
    assert (third.name, third.args) == ("Execute Script", "train.py")  # the env will say why
    prompts = [r.prompt for r in llm.requests]
    assert "Steps left: 3 of 3. Time left: 25 min." in prompts[0]
    assert "Keep improving" in prompts[0] and "do not give it early" in prompts[0]
    assert "Observation:\nNo valid action found!" in prompts[1]
    assert "x" * 50 + "\n[... 20 characters cut ...]\n" + "y" * 50 in prompts[2]
    assert "This is your last step" in prompts[2]
    assert "- Write File:" in prompts[0] and "- Edit Script (AI):" in prompts[0]
    assert "- Reflection:" not in prompts[0]  # HR-MLAB's set: no Reflection


def test_react_resume_rebuilds_the_same_conversation(tmp_path: Path) -> None:
    replies = [
        f'Thought: {i}\nAction: List Files\nAction Input: {{"dir_path": "{i}"}}' for i in range(5)
    ]
    straight = FakeLLM(list(replies))
    agent = ReactAgent()
    agent.begin(context(models(tmp_path, straight)), [])
    history = _drive(agent, 3, ["one", "two", "three"])
    agent.act(history[-1])
    resumed_llm = FakeLLM(list(replies[3:]))
    resumed = ReactAgent()
    resumed.begin(context(models(tmp_path, resumed_llm)), history)
    resumed.act(history[-1])
    assert resumed_llm.requests[0].prompt == straight.requests[3].prompt


def test_calls_are_logged_with_their_purpose(tmp_path: Path) -> None:
    llm = FakeLLM([research_reply("List Files", {"dir_path": "."})])
    m = models(tmp_path, llm)
    agent = ResearchAgent()
    agent.begin(context(m), [])
    agent.act(None)
    m.agent.session.close()
    (log,) = tmp_path.glob("calls-*.jsonl")
    (row,) = jsonl.read(log)
    assert (row["purpose"], row["role"], row["model"]) == ("agent", "agent", "openai:gpt-4o")
