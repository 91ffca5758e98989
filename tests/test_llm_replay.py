"""End-to-end runs of the LLM agents the way real models answer (edits fenced, with prose
around them), through the real OpenAI and Anthropic SDKs, and replays that leave their
recording: they stop ``replay_diverged`` at the first difference."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlab_hpc.llm import ReplayDiverged, Request
from mlab_hpc.llm.replay import ReplayLLM

from .conftest import cli, query
from .llm_server import Fail, ScriptedLLMServer
from .test_llm_runs import GOOD_POLICY, react, research, server  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("data_root")

EDIT = {
    "script_name": "policy.py",
    "edit_instruction": "Push the cart towards where the pole falls.",
    "save_name": "policy.py",
}


def fenced(code: str) -> str:
    """An edit as chat models write it: prose, a ```python fence, more prose."""
    return (
        "Here is the complete edited script. I changed the policy so that it pushes the cart "
        "towards the side the pole is falling to.\n\n"
        f"```python\n{code}```\n\n"
        "This should keep the pole upright for the whole episode."
    )


def runs(results: Path) -> list[tuple]:
    return query(
        results,
        "SELECT run_id, agent, model, status, exit_reason, n_steps, final_score, error "
        "FROM runs ORDER BY started_at",
    )


def test_both_agents_complete_a_run_whose_edits_arrive_fenced(
    results: Path,
    server: ScriptedLLMServer,  # noqa: F811
) -> None:
    server.add(
        research("Edit Script (AI)", EDIT),
        fenced(GOOD_POLICY),
        research("Execute Script", {"script_name": "train.py"}),
        research("Final Answer", {"final_answer": "A hand-written controller."}),
    )
    out = cli("run", "--task", "cartpole", "--agent", "research", "--model", "openai:gpt-4o")
    assert "completed (final_answer)" in out
    server.add(
        react("Edit Script (AI)", EDIT),
        fenced(GOOD_POLICY),
        react("Final Answer", {"final_answer": "done"}),
    )
    out = cli(
        "run", "--task", "cartpole", "--agent", "react", "--model", "anthropic:claude-sonnet-4"
    )
    assert "completed (final_answer)" in out
    assert not server.script
    (first, second) = runs(results)
    assert first[1:6] == ("research", "openai:gpt-4o", "completed", "final_answer", 3)
    assert second[1:6] == ("react", "anthropic:claude-sonnet-4", "completed", "final_answer", 2)
    assert first[6] > 450 and second[6] > 450  # the fenced edits were saved as code
    # each role was asked with its original's output tokens and temperature
    asked = [(r.api, r.body.get("max_tokens"), r.body.get("temperature")) for r in server.received]
    assert asked[:2] == [("openai", 2000, 0.5), ("openai", 4000, 0.5)]
    assert asked[4:6] == [("anthropic", 4096, 1.0), ("anthropic", 4000, 1.0)]
    for run_id, *_ in (first, second):
        policy = results / "runs" / run_id / "workspace" / "policy.py"
        assert policy.read_text() == GOOD_POLICY
    log = (results / "runs" / first[0] / "workspace" / "research_log.log").read_text()
    assert "Step 1, Research Plan and Status" in log and "Step 3" in log


def _recorded_run(results: Path, server: ScriptedLLMServer) -> str:  # noqa: F811
    server.add(
        research("List Files", {"dir_path": "."}),
        research("Python REPL", {"command": "import time; time.sleep(1.5); print('slept')"}),
        research("Final Answer", {"final_answer": "nothing"}),
    )
    cli("run", "--task", "cartpole", "--agent", "research", "--model", "openai:gpt-4o")
    return runs(results)[0][0]


def test_replays_that_leave_their_recording_stop_replay_diverged(
    results: Path,
    server: ScriptedLLMServer,  # noqa: F811
) -> None:
    run_id = _recorded_run(results, server)
    replay = f"replay:{results}/runs/{run_id}"
    asked = len(server.received)
    base = ["run", "--task", "cartpole", "--model", replay]

    out = cli(*base, "--agent", "research")  # the faithful replay
    assert "completed (final_answer)" in out
    cli(*base, "--agent", "research", "--action-timeout", "0.5")  # step 2 now times out
    cli(*base, "--agent", "research", "--max-steps", "1")  # a limit cuts the run short
    cli(*base, "--agent", "react")  # another agent
    assert len(server.received) == asked  # no replay called the server

    faithful, timed_out, cut, other = runs(results)[1:]
    assert faithful[3:5] == ("completed", "final_answer")
    assert timed_out[3:6] == ("replay_diverged", "replay_diverged", 2)
    assert "step 2: the observation differs" in timed_out[7]
    # the step limit is shown in the prompt: the first difference is there
    assert cut[3:6] == ("replay_diverged", "replay_diverged", 0)
    assert "the prompt of call 1 (agent, step 1) differs" in cut[7] and "at most 1" in cut[7]
    assert other[3:6] == ("replay_diverged", "replay_diverged", 0)
    assert "recorded by the agent 'research', not 'react'" in other[7]


def test_a_replay_that_ends_early_reports_its_unused_calls(
    results: Path,
    server: ScriptedLLMServer,  # noqa: F811
) -> None:
    run_id = _recorded_run(results, server)
    replay = ReplayLLM(str(results / "runs" / run_id))
    assert replay.remaining == 3
    replay.generate(Request(prompt=replay._calls[0]["prompt"], purpose="agent"))
    with pytest.raises(ReplayDiverged, match="ended with max_steps, the recording with final"):
        replay.check_end("max_steps")
    with pytest.raises(ReplayDiverged, match="purpose 'agent', asked for 'edit'"):
        replay.generate(Request(prompt="x", purpose="edit"))
    replay.generate(Request(prompt=replay._calls[1]["prompt"], purpose="agent"))
    replay.generate(Request(prompt=replay._calls[2]["prompt"], purpose="agent"))
    replay.check_end("final_answer")  # all used, ended as recorded
    with pytest.raises(ReplayDiverged, match="asked for call 4"):
        replay.generate(Request(prompt="x", purpose="agent"))
    replay = ReplayLLM(str(results / "runs" / run_id))
    assert replay._state is not None
    replay._state.exit_reason = "max_steps"  # a recording that a limit ended
    replay.generate(Request(prompt=replay._calls[0]["prompt"], purpose="agent"))
    with pytest.raises(ReplayDiverged, match="2 of 3 recorded call"):
        replay.check_end("max_steps")


def test_a_refused_request_inside_an_action_is_an_observation(
    results: Path,
    server: ScriptedLLMServer,  # noqa: F811
) -> None:
    too_long = "This model's maximum context length is 128000 tokens (scripted)"
    server.add(
        research("Edit Script (AI)", EDIT),
        Fail(400, too_long),  # not retried: the action fails, the run goes on
        research("Final Answer", {"final_answer": "gave up on the edit"}),
    )
    out = cli("run", "--task", "cartpole", "--agent", "research", "--model", "openai:gpt-4o")
    assert "completed (final_answer)" in out
    ((run_id, *_),) = runs(results)
    steps = query(
        results,
        f"SELECT action, error_kind, observation FROM steps WHERE run_id = '{run_id}' "
        "ORDER BY step",
    )
    assert [s[:2] for s in steps] == [("Edit Script (AI)", "llm_error"), ("Final Answer", None)]
    assert "maximum context length" in steps[0][2]
