"""Whole runs of the LLM agents through the CLI, the real openai and anthropic SDKs talking HTTP
to the local scripted server, real sandboxes and graders, Parquet read back with DuckDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc import jsonl
from mlab_hpc.cli import main
from mlab_hpc.paths import RunPaths
from mlab_hpc.runner import drive_run, finalize_run

from .agents_for_tests import GoodCartpoleAgent
from .conftest import REPO, cli, query
from .llm_server import Fail, Malformed, ScriptedLLMServer

pytestmark = pytest.mark.usefixtures("data_root")

OPENAI_KEY = "sk-test-never-logged-1234"
ANTHROPIC_KEY = "ak-test-never-logged-5678"
GOOD_POLICY = GoodCartpoleAgent.script[0].args["content"]

BETTER_HOUSE_PRICES = """\
import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split

houses = pd.read_csv("train.csv")
test_houses = pd.read_csv("test.csv")
NUMERIC = ["OverallQual", "OverallCond", "YearBuilt", "YearRemodAdd", "TotalBsmtSF",
           "GarageCars", "Fireplaces"]


def features(frame):
    x = frame[NUMERIC].apply(pd.to_numeric, errors="coerce").fillna(0)
    x["LogLivArea"] = np.log(frame["GrLivArea"])
    x["LogLotArea"] = np.log(frame["LotArea"])
    x["CentralAir"] = (frame["CentralAir"] == "Y").astype(float)
    x["KitchenEx"] = (frame["KitchenQual"] == "Ex").astype(float)
    return pd.concat([x, pd.get_dummies(frame["Neighborhood"], prefix="N").astype(float)], axis=1)


both = features(pd.concat([houses, test_houses]))
x, x_test = both.iloc[: len(houses)], both.iloc[len(houses):]
y = np.log(houses["SalePrice"])
tx, vx, ty, vy = train_test_split(x, y, test_size=0.25, random_state=1)
model = RidgeCV(alphas=np.logspace(-3, 2, 20)).fit(tx, ty)
print(f"Validation MAE: {mean_absolute_error(np.exp(vy), np.exp(model.predict(vx))):,.0f}")
model.fit(x, y)
prices = np.exp(model.predict(x_test))
pd.DataFrame({"Id": test_houses["Id"], "SalePrice": prices}).to_csv("submission.csv", index=False)
"""


def research(action: str, args: dict[str, object]) -> str:
    """A reply in the research agent's format (with an observation it must not invent)."""
    return (
        "Reflection: The last observation tells me what I need.\n"
        "Research Plan and Status: 1. Look at the files. 2. Improve the policy. 3. Check it.\n"
        "Fact Check: nothing confirmed yet.\n"
        f"Thought: I will use {action}.\n"
        f"Action: {action}\n"
        f"Action Input: {json.dumps(args)}\n"
        "Observation: this part is made up and is cut by the stop sequence"
    )


def react(action: str, args: dict[str, object]) -> str:
    return f"Thought: next, {action}.\nAction: {action}\nAction Input: {json.dumps(args)}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedLLMServer]:
    """The scripted server, with both SDKs pointed at it and fast backoff."""
    with ScriptedLLMServer() as s:
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", s.openai_base_url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.anthropic_base_url)
        monkeypatch.setenv("MLAB_LLM_RETRIES", "3")
        monkeypatch.setenv("MLAB_LLM_BACKOFF_S", "0.01")
        monkeypatch.setenv("MLAB_LLM_BACKOFF_MAX_S", "0.05")
        monkeypatch.setenv("MLAB_LLM_TIMEOUT_S", "20")
        yield s


def words(text: str) -> int:
    return len(text.split())


def kill_processes_running(text: str) -> None:
    """SIGKILL the processes whose command line contains ``text`` (what a test started)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and text in cmdline and int(proc.name) != os.getpid():
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def assert_no_key_anywhere(results: Path) -> None:
    for path in results.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert OPENAI_KEY.encode() not in data and ANTHROPIC_KEY.encode() not in data, path


def test_research_agent_improves_cartpole_and_its_replay_is_identical(
    results: Path, server: ScriptedLLMServer
) -> None:
    cli("run", "--task", "cartpole", "--agent", "baseline")
    summary = "The command printed 6,000 x characters and nothing else."
    server.add(
        "I should start by looking at the files.",  # wrong format: retried with feedback
        research("List Files", {"dir_path": "."}),
        research("Python REPL", {"command": "print('x' * 6000)"}),  # a long observation
        summary,  # ... which the fast model summarises
        research(
            "Edit Script (AI)",
            {
                "script_name": "policy.py",
                "edit_instruction": "Push the cart towards where the pole falls.",
                "save_name": "policy.py",
            },
        ),
        GOOD_POLICY,  # the edit model's new policy.py
        research(
            "Understand File",
            {"file_name": "train.py", "things_to_look_for": "how the policy is evaluated"},
        ),
        "It runs 100 seeded episodes and writes the mean return to submission.txt.",
        research("Final Answer", {"final_answer": "A hand-written controller."}),
    )
    out = cli("run", "--task", "cartpole", "--agent", "research", "--model", "openai:gpt-4o")
    assert "completed (final_answer)" in out
    assert not server.script  # every scripted reply was used

    (run,) = query(
        results,
        "SELECT run_id, status, exit_reason, n_steps, final_score, success, human_relative, "
        "prompt_tokens, completion_tokens, cost_usd, model FROM runs WHERE agent = 'research'",
    )
    run_id, status, exit_reason, n_steps, final, success, hr, p, c, cost, model = run
    assert (status, exit_reason, n_steps, model) == (
        "completed",
        "final_answer",
        5,
        "openai:gpt-4o",
    )
    assert final > 450 and success is True and hr == pytest.approx(1.0, abs=0.05)

    calls = query(
        results,
        "SELECT step, purpose, model, prompt_tokens, completion_tokens, cost_usd, error "
        f"FROM llm_calls WHERE run_id = '{run_id}' ORDER BY file_row_number",
    )
    assert [(s, purpose) for s, purpose, *_ in calls] == [
        (1, "agent"),
        (1, "agent"),
        (2, "agent"),
        (3, "summarise"),
        (3, "agent"),
        (3, "edit"),
        (4, "agent"),
        (4, "understand"),
        (5, "agent"),
    ]
    # tokens are what the server reported (it counts words), costs those of gpt-4o's price
    assert [r[3] for r in calls] == [words(r.prompt) for r in server.received]
    assert all(r[2] == "openai:gpt-4o" and r[6] is None for r in calls)
    for *_, pt, ct, row_cost, _ in calls:
        assert row_cost == pytest.approx((pt * 2.5 + ct * 10.0) / 1e6)
    assert (p, c) == (sum(r[3] for r in calls), sum(r[4] for r in calls))
    assert cost == pytest.approx(sum(r[5] for r in calls))

    received = [r.prompt for r in server.received]
    assert "could not be used" in received[1]
    assert "x" * 6000 in received[3] and "x" * 6000 not in received[4]
    assert summary in received[4]
    agent_stop = ["\nObservation:"]  # the agent's calls stop before an invented observation
    stops = [r.body.get("stop") for r in server.received]
    assert stops == [agent_stop] * 3 + [None, agent_stop, None, agent_stop, None, agent_stop]
    steps = query(
        results,
        f"SELECT step, action, thought FROM steps WHERE run_id = '{run_id}' ORDER BY step",
    )
    assert [s[1] for s in steps] == [
        "List Files",
        "Python REPL",
        "Edit Script (AI)",
        "Understand File",
        "Final Answer",
    ]
    assert "made up" not in steps[0][2]
    assert steps[2][2].endswith(f"[observation of step 2, summarised for the agent]\n{summary}")
    assert_no_key_anywhere(results)

    # replay the recorded run: the server is not asked again and the trace is the same
    asked = len(server.received)
    cli(
        "run",
        "--task",
        "cartpole",
        "--agent",
        "research",
        "--model",
        f"replay:{results}/runs/{run_id}",
    )
    assert len(server.received) == asked
    (replay_id,) = [
        r[0] for r in query(results, "SELECT run_id FROM runs WHERE model LIKE 'replay:%'")
    ]
    trace = (
        "SELECT step, action, args, thought, observation, exit_code, error_kind FROM steps "
        "WHERE run_id = '{}' ORDER BY step"
    )
    assert query(results, trace.format(replay_id)) == query(results, trace.format(run_id))
    llm = (
        "SELECT step, purpose, model, prompt_tokens, completion_tokens, cost_usd, completion, "
        "prompt FROM llm_calls WHERE run_id = '{}' ORDER BY file_row_number"
    )
    assert query(results, llm.format(replay_id)) == query(results, llm.format(run_id))
    same = "SELECT final_score, prompt_tokens, completion_tokens, cost_usd, status FROM runs "
    assert query(results, same + f"WHERE run_id = '{replay_id}'") == query(
        results, same + f"WHERE run_id = '{run_id}'"
    )


def test_react_agent_improves_house_price_through_anthropic(
    results: Path, server: ScriptedLLMServer
) -> None:
    cli("run", "--task", "house-price", "--agent", "baseline", "--data", "generated")
    server.add(
        "Let me think about the houses first.",  # no action: the step is spent
        react("Write File", {"file_name": "train.py", "content": BETTER_HOUSE_PRICES}),
        react("Execute Script", {"script_name": "train.py"}),
        react("Final Answer", {"final_answer": "A ridge regression of log prices."}),
    )
    out = cli(
        "run",
        "--task",
        "house-price",
        "--data",
        "generated",
        "--agent",
        "react",
        "--model",
        "anthropic:claude-sonnet-4",
        "--temperature",
        "0.3",
    )
    assert "completed (final_answer)" in out
    (run,) = query(
        results,
        "SELECT run_id, status, final_score, baseline_score, success, prompt_tokens, cost_usd "
        "FROM runs WHERE agent = 'react'",
    )
    run_id, status, final, baseline, success, p, cost = run
    assert status == "completed" and success is True and final < 0.9 * baseline
    steps = query(
        results,
        f"SELECT action, error_kind FROM steps WHERE run_id = '{run_id}' ORDER BY step",
    )
    assert steps == [
        ("(no valid action)", "unknown_action"),
        ("Write File", None),
        ("Execute Script", None),
        ("Final Answer", None),
    ]
    prompts = [r.prompt for r in server.received]
    assert "Observation:\nNo valid action found!" in prompts[1]
    assert all("Steps left:" in q and "Keep improving" in q for q in prompts)
    assert "Validation MAE:" in prompts[3]
    first = server.received[0]
    assert first.path == "/v1/messages" and first.body["temperature"] == 0.3
    assert first.body["stop_sequences"] == ["\nObservation:"]
    calls = query(
        results,
        "SELECT purpose, model, prompt_tokens, completion_tokens, cost_usd FROM llm_calls "
        f"WHERE run_id = '{run_id}'",
    )
    assert {(r[0], r[1]) for r in calls} == {("agent", "anthropic:claude-sonnet-4")}
    assert p == sum(words(q) for q in prompts)
    assert cost == pytest.approx(sum((r[2] * 3.0 + r[3] * 15.0) / 1e6 for r in calls))
    assert_no_key_anywhere(results)


def test_rate_limit_then_success_backs_off(results: Path, server: ScriptedLLMServer) -> None:
    server.add(
        Fail(429, "rate limited", retry_after=0.04),
        Malformed(),
        react("Reflection", {"things_to_reflect_on": "what to try next"}),
        "Try a controller.",  # the fast model's reflection
        react("Final Answer", {"final_answer": "nothing to add"}),
    )
    cli("run", "--task", "cartpole", "--agent", "react", "--model", "openai:gpt-4o-mini")
    gap = server.received[1].at - server.received[0].at
    assert gap >= 0.04  # the server's Retry-After was honoured
    (run,) = query(results, "SELECT status, exit_reason, n_steps FROM runs")
    assert run == ("completed", "final_answer", 2)
    calls = query(
        results,
        "SELECT step, purpose, error, prompt_tokens FROM llm_calls ORDER BY file_row_number",
    )
    assert [(s, p) for s, p, *_ in calls] == [(1, "agent")] * 3 + [(1, "reflect"), (2, "agent")]
    (observation,) = query(results, "SELECT observation FROM steps WHERE step = 1")[0]
    assert observation == "Try a controller."
    assert "HTTP 429" in calls[0][2] and "malformed" in calls[1][2] and calls[2][2] is None
    assert calls[0][3] is None and calls[2][3] > 0


def test_server_error_forever_ends_the_run_as_llm_error(
    results: Path, server: ScriptedLLMServer
) -> None:
    server.add(research("List Files", {"dir_path": "."}))  # then 500 for ever
    t0 = time.monotonic()
    out = cli(
        "run", "--task", "cartpole", "--agent", "research", "--model", "anthropic:claude-sonnet-4"
    )
    assert time.monotonic() - t0 < 30
    assert "llm_error" in out
    (run,) = query(
        results, "SELECT status, exit_reason, n_steps, error, final_valid, final_score FROM runs"
    )
    status, exit_reason, n_steps, error, valid, score = run
    assert (status, exit_reason, n_steps, valid) == ("llm_error", "llm_error", 1, True)
    assert "HTTP 500" in error and "gave up after 4 attempts" in error
    assert 5 < score < 100  # the starter's random policy, graded as it was left
    calls = query(results, "SELECT step, error IS NULL FROM llm_calls ORDER BY file_row_number")
    assert calls == [(1, True)] + [(2, False)] * 4


def test_budgets_end_the_run_cleanly(results: Path, server: ScriptedLLMServer) -> None:
    server.fallback = research("List Files", {"dir_path": "."})
    cli(
        "run",
        "--task",
        "cartpole",
        "--agent",
        "research",
        "--model",
        "openai:gpt-4o",
        "--max-tokens",
        "1800",
        "--campaign",
        "tokens",
    )
    cli(
        "run",
        "--task",
        "cartpole",
        "--agent",
        "research",
        "--model",
        "gpt-4o",
        "--max-cost",
        "0.003",
        "--campaign",
        "cost",
    )
    rows = query(
        results,
        "SELECT campaign, status, exit_reason, n_steps, prompt_tokens + completion_tokens, "
        "cost_usd, error FROM runs ORDER BY campaign",
    )
    (cost_run, token_run) = rows
    assert token_run[:4] == ("tokens", "budget", "max_tokens", 2) and token_run[4] >= 1800
    assert f"token budget is spent: {token_run[4]} of 1800 tokens" in token_run[6]
    assert cost_run[:4] == ("cost", "budget", "max_cost", 2) and cost_run[5] >= 0.003
    assert "cost budget is spent" in cost_run[6]
    # one call per step; the last call began while the budget still had room (a call in
    # flight is never cut), and no call began after it was spent
    calls = query(
        results,
        "SELECT campaign, step, prompt_tokens + completion_tokens, cost_usd FROM llm_calls "
        "ORDER BY campaign, file_row_number",
    )
    assert [(c, s) for c, s, *_ in calls] == [
        ("cost", 1),
        ("cost", 2),
        ("tokens", 1),
        ("tokens", 2),
    ]
    assert calls[0][3] < 0.003 <= calls[0][3] + calls[1][3]
    assert calls[2][2] < 1800 <= calls[2][2] + calls[3][2]


def test_llm_agent_without_a_model_is_refused(results: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--task", "cartpole", "--agent", "research"])
    assert result.exit_code == 1
    assert "needs a language model: give --model" in result.output
    assert not (results / "runs").exists()


def test_resumed_research_run_continues_and_replays_identically(
    results: Path, data_root: Path, server: ScriptedLLMServer
) -> None:
    sleeper = f"import time; print('waiting', {time.time_ns()}, flush=True)"  # unique
    server.add(
        research("List Files", {"dir_path": "."}),
        research(
            "Inspect Script Lines",
            {"script_name": "train.py", "start_line_number": 1, "end_line_number": 3},
        ),
        research("Python REPL", {"command": f"{sleeper}; time.sleep(600)"}),
        # after the kill, the resumed agent asks again for step 3
        research("Final Answer", {"final_answer": "Stopping here."}),
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MLAB_RESULTS": str(results),
        "MLAB_DATA": str(data_root),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlab_hpc",
            "run",
            "--task",
            "cartpole",
            "--agent",
            "research",
            "--model",
            "openai:gpt-4o",
            "--sandbox",
            "process",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (
            not list(results.glob("runs/*/logs/step-00003.out"))
            or "waiting" not in next(results.glob("runs/*/logs/step-00003.out")).read_text()
        ):
            assert time.monotonic() < deadline, "the run did not reach its sleeping step 3"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kill_processes_running(sleeper)  # the sandbox's own session outlives the harness
    (run_dir,) = results.glob("runs/*")
    paths = RunPaths(run_dir)
    drive_run(paths)  # the resumption, as a requeued job does it
    finalize_run(paths)

    prompts = [r.prompt for r in server.received]
    assert prompts[3] == prompts[2]  # the resumed agent remembered steps 1 and 2 exactly
    (run,) = query(results, "SELECT status, exit_reason, n_steps FROM runs")
    assert run == ("completed", "final_answer", 3)
    sessions = [r["session"] for r in jsonl.read(paths.llm_log)]
    assert len(set(sessions)) == 2 and sessions[2] == sessions[0] != sessions[3]

    cli("run", "--task", "cartpole", "--agent", "research", "--model", f"replay:{run_dir}")
    trace = "SELECT step, action, args, thought FROM steps WHERE run_id = '{}' ORDER BY step"
    ids = [r[0] for r in query(results, "SELECT run_id FROM runs ORDER BY model")]
    assert query(results, trace.format(ids[0])) == query(results, trace.format(ids[1]))
