"""What real models send and what the originals set: labels inside code, valid JSON examples,
bounded retry prompts, empty replies, action sets per agent, per-role tokens and temperatures,
the research log, and a failing fast model that must not end the run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlab_hpc import jsonl
from mlab_hpc.actions import REGISTRY
from mlab_hpc.agents import make_agent
from mlab_hpc.agents.tools import HR_MLAB_REACT, MLAGENTBENCH_RESEARCH
from mlab_hpc.environment import StepRecord
from mlab_hpc.errors import PrerequisiteError
from mlab_hpc.llm import LLMError, Model, make_llm, parse_role_settings, plan_models
from mlab_hpc.llm.parsing import entries

from .llm_server import Empty, ScriptedLLMServer
from .test_llm_agents import context, models, research_reply
from .test_llm_units import FakeLLM, session


def test_a_label_inside_code_is_not_a_label() -> None:
    code = "import gym\n# Action: Final Answer\nprint('Thought: none')\n"
    reply = (
        "Thought: write the script\nAction: Write File\n"
        f"Action Input: {json.dumps({'file_name': 'a.py', 'content': code})[:-1]}}}"
    ).replace("\\n", "\n")  # raw line breaks inside the JSON string, as models write them
    found = entries(reply, ("Thought", "Action", "Action Input"))
    assert found["Action"] == "Write File"
    assert "# Action: Final Answer" in found["Action Input"]
    fenced = 'Action: Execute Script\nAction Input: ```json\n{"script_name": "t.py"}\n```\n'
    fenced = "Thought: x\n```python\n# Action: Undo Edit Script\n```\n" + fenced
    assert entries(fenced, ("Thought", "Action", "Action Input"))["Action"] == "Execute Script"
    # a closed JSON object ends the value: a label after it counts again
    again = 'Action Input: {"a": 1}\nAction: List Files'
    assert entries(again, ("Action", "Action Input"))["Action"] == "List Files"


@pytest.mark.parametrize("agent", ["research", "react", "research+all-actions"])
def test_the_input_examples_in_the_prompts_are_valid_json(tmp_path: Path, agent: str) -> None:
    llm = FakeLLM([research_reply("List Files", {"dir_path": "."})] * 2)
    a = make_agent(agent)
    a.begin(context(models(tmp_path, llm)), [])
    a.act(None)
    examples = re.findall(r"^  Example input: (.*)$", llm.requests[0].prompt, re.M)
    assert examples and len(examples) == llm.requests[0].prompt.count("\n  Fields: ")
    for example in examples:
        assert isinstance(json.loads(example), dict)


def test_action_sets_are_the_originals_unless_asked(tmp_path: Path) -> None:
    def shown(agent: str) -> set[str]:
        llm = FakeLLM([research_reply("List Files", {"dir_path": "."})] * 2)
        a = make_agent(agent)
        a.begin(context(models(tmp_path, llm)), [])
        a.act(None)
        return set(re.findall(r"^- ([^:\n]+):.*\n  Fields:", llm.requests[0].prompt, re.M))

    assert shown("research") == set(MLAGENTBENCH_RESEARCH)
    assert "Reflection" not in shown("research")
    assert "Edit Script Segment (AI)" not in shown("research")
    assert shown("research-retrieval") == {*MLAGENTBENCH_RESEARCH, "Reflection"}
    assert shown("react") == set(HR_MLAB_REACT)
    assert {"Understand File", "Edit Script (AI)"} <= shown("react")
    assert shown("research+all-actions") == set(REGISTRY) == shown("react+all-actions")
    with pytest.raises(PrerequisiteError, match="options"):
        make_agent("research+no-such-option")


def test_the_format_retry_quotes_a_bounded_excerpt(tmp_path: Path) -> None:
    huge = "I am thinking. " * 14_000  # ~210 KB, no format at all
    llm = FakeLLM([huge, research_reply("List Files", {"dir_path": "."})])
    a = make_agent("research")
    a.begin(context(models(tmp_path, llm)), [])
    assert a.act(None).name == "List Files"
    retry = llm.requests[1].prompt
    assert len(retry) < len(llm.requests[0].prompt) + 3000
    assert "more characters not shown" in retry


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_empty_reply_is_transient_for_both_apis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-x")
    with ScriptedLLMServer([Empty(), "fine"]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        if provider == "openai":
            llm = make_llm("openai:gpt-4o", base_url=server.openai_base_url, timeout_s=5)
        else:
            llm = make_llm("anthropic:claude-sonnet-4", timeout_s=5)
        s, _ = session(tmp_path)
        assert Model(llm, s, "agent").complete("hello", purpose="agent") == "fine"
        s.close()
    rows = list(jsonl.read(tmp_path / "llm_calls.jsonl"))
    assert [r["error"].split(":")[0] if r["error"] else None for r in rows] == ["empty", None]


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("research", {"agent": (2000, 0.5), "fast": (2000, 0.01), "edit": (4000, 0.5)}),
        ("react", {"agent": (4096, 1.0), "fast": (4096, 1.0), "edit": (4000, 1.0)}),
    ],
)
def test_output_tokens_and_temperatures_per_role_as_the_originals(
    tmp_path: Path, agent: str, expected: dict[str, tuple[int, float]]
) -> None:
    m = models(tmp_path, FakeLLM([]))
    make_agent(agent).begin(context(m), [])
    assert {r: (getattr(m, r).max_tokens, getattr(m, r).temperature) for r in expected} == expected


def test_role_settings_from_the_user_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAB_LLM_ROLES", "agent:max_tokens=3000;fast:temperature=0")
    plan = plan_models("replay:" + str(_recording(tmp_path)), temperature=0.7)
    assert plan is not None
    _, m = plan.open(tmp_path / "calls.jsonl")
    make_agent("research").begin(context(m), [])
    assert (m.agent.max_tokens, m.agent.temperature) == (3000, 0.7)
    assert (m.fast.max_tokens, m.fast.temperature) == (2000, 0.0)
    assert (m.edit.max_tokens, m.edit.temperature) == (4000, 0.7)
    for bad in ("planner:max_tokens=1", "agent:max_tokens=0", "fast:temperature=hot", "agent"):
        with pytest.raises(PrerequisiteError, match="MLAB_LLM_ROLES"):
            parse_role_settings(bad)


def _recording(tmp_path: Path) -> Path:
    path = tmp_path / "rec.jsonl"
    path.write_text(json.dumps({"step": 1, "purpose": "agent", "completion": "x"}) + "\n")
    return path


def test_the_research_agent_writes_the_research_log(tmp_path: Path) -> None:
    log: list[str] = []

    def write(text: str, replace: bool) -> None:
        if replace:
            log.clear()
        log.append(text)

    llm = FakeLLM(
        [research_reply("List Files", {"dir_path": "."}), "a note", "what matters"]
        + [research_reply("Final Answer", {})]
    )
    ctx = context(models(tmp_path, llm))
    ctx = type(ctx)(**{**ctx.__dict__, "research_log": write})
    a = make_agent("research-retrieval")
    a.begin(ctx, [])
    first = a.act(None)
    assert "Step 1, Research Plan and Status:\n1. look around" in log[0]
    records = [StepRecord(1, first.name, "{}", first.thought, "a.py\n", 0.0, 0.1, None, None, "s1")]
    second = a.act(records[0])
    assert "Step 1 (what came of it):\na note" in log[1]
    assert "Step 2, Research Plan and Status" in log[1]
    written = "".join(log)
    # a resumed run (its workspace log lost or half written) gets the same log back
    records.append(StepRecord(2, second.name, "{}", second.thought, "", 0.0, 0.1, None, None, ""))
    log[:] = ["half an entry"]
    make_agent("research-retrieval").begin(ctx, records)
    assert "".join(log) == written


def test_a_failing_fast_model_does_not_end_the_step(tmp_path: Path) -> None:
    failure = LLMError("anthropic:claude: HTTP 400: prompt is too long")
    llm = FakeLLM([failure, research_reply("Final Answer", {})])
    a = make_agent("research")
    a.begin(context(models(tmp_path, llm)), [])
    long = "x" * 3000 + "y" * 3000
    last = StepRecord(1, "Python REPL", "{}", "Thought: t", long, 0.0, 0.1, None, None, "s1")
    call = a.act(last)
    assert call.name == "Final Answer"
    prompt = llm.requests[1].prompt
    assert "the summary failed" in prompt and "prompt is too long" in prompt
    assert "x" * 100 in prompt and "y" * 100 in prompt
