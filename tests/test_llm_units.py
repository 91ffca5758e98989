"""The LLM layer piece by piece: specs, prices, backoff, the call log, budgets, replay, parsing,
and the real openai / anthropic SDKs against the local scripted server."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mlab_hpc import jsonl
from mlab_hpc.errors import PrerequisiteError
from mlab_hpc.llm import (
    Budget,
    BudgetExceeded,
    Completion,
    LLMError,
    LLMSession,
    Model,
    PriceTable,
    ReplayDiverged,
    Request,
    RetryPolicy,
    TransientLLMError,
    make_llm,
    parse_model_spec,
    plan_models,
)
from mlab_hpc.llm.chunks import head_and_tail, split_chunks
from mlab_hpc.llm.parsing import ReplyFormatError, entries, json_object
from mlab_hpc.llm.replay import ReplayLLM

from .llm_server import Fail, Malformed, ScriptedLLMServer, Slow

FAST = RetryPolicy(retries=3, base_s=0.01, max_s=0.05, timeout_s=5)


class FakeLLM:
    """Answers from a list: a str is a completion, an exception is raised."""

    def __init__(self, replies: list[object], model: str = "gpt-4o") -> None:
        self.replies = list(replies)
        self.name = f"openai:{model}"
        self.model = model
        self.requests: list[Request] = []

    def generate(self, request: Request) -> Completion:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        text = str(reply)
        return Completion(text, self.name, len(request.prompt.split()), len(text.split()))


def session(tmp_path: Path, **kwargs: object) -> tuple[LLMSession, list[float]]:
    slept: list[float] = []
    s = LLMSession(
        tmp_path / "llm_calls.jsonl",
        retry=kwargs.pop("retry", FAST),  # type: ignore[arg-type]
        sleep=slept.append,
        rng=random.Random(0),
        **kwargs,  # type: ignore[arg-type]
    )
    return s, slept


# --------------------------------------------------------------------------- specs and prices
def test_model_specs() -> None:
    assert parse_model_spec("openai:gpt-4o") == ("openai", "gpt-4o")
    assert parse_model_spec("openai:meta-llama/Llama-3.1-8B") == (
        "openai",
        "meta-llama/Llama-3.1-8B",
    )
    assert parse_model_spec("anthropic:claude-sonnet-4") == ("anthropic", "claude-sonnet-4")
    assert parse_model_spec("replay:/a/b:c.jsonl") == ("replay", "/a/b:c.jsonl")
    assert parse_model_spec("gpt-4o") == ("openai", "gpt-4o")
    assert parse_model_spec("claude-3-5-haiku") == ("anthropic", "claude-3-5-haiku")
    with pytest.raises(PrerequisiteError, match="Did you mean 'openai'"):
        parse_model_spec("opnai:gpt-4o")
    with pytest.raises(PrerequisiteError, match="say which provider"):
        parse_model_spec("llama-3")


def test_prices_longest_prefix_and_user_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = PriceTable()
    assert table.cost("gpt-4o", 1_000_000, 0) == pytest.approx(2.5)
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.lookup("gpt-4o-mini")
    assert table.lookup("claude-opus-4-5-20251101") == table.lookup("claude-opus-4-5")
    assert table.lookup("my-local-model") is None
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '["my-local-model"]\ninput = 1.0\noutput = 2.0\n["openai:gpt-4o"]\ninput = 0\noutput = 0\n'
    )
    monkeypatch.setenv("MLAB_LLM_PRICES", str(prices))
    table = PriceTable.from_env()
    assert table.cost("my-local-model", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert table.cost("gpt-4o", 10, 10, qualified="openai:gpt-4o") == 0.0
    prices.write_text('["bad"]\ninput = 1.0\n')
    with pytest.raises(PrerequisiteError, match="needs input"):
        PriceTable.from_env()


def test_max_cost_needs_a_price(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    with pytest.raises(PrerequisiteError, match="needs the price of openai:my-model"):
        plan_models("openai:my-model", base_url="http://127.0.0.1:9/v1", max_cost=1.0)
    assert plan_models(None) is None


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(PrerequisiteError, match="OPENAI_API_KEY"):
        make_llm("openai:gpt-4o")
    with pytest.raises(PrerequisiteError, match="ANTHROPIC_API_KEY"):
        make_llm("anthropic:claude-sonnet-4")
    make_llm("openai:served-model", base_url="http://127.0.0.1:9/v1")  # vLLM takes no key


# --------------------------------------------------------------------------- backoff
def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(retries=8, base_s=1.0, max_s=10.0)
    rng = random.Random(1)
    for retry in range(8):
        ceiling = min(10.0, 2.0**retry)
        delays = [policy.delay(retry, None, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter
    assert policy.delay(0, 7.0, rng) == 7.0  # Retry-After wins when longer
    assert policy.delay(0, 100.0, rng) == 10.0  # but is capped


def test_retry_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAB_LLM_RETRIES", "2")
    monkeypatch.setenv("MLAB_LLM_BACKOFF_S", "0.5")
    assert RetryPolicy.from_env() == RetryPolicy(retries=2, base_s=0.5)
    monkeypatch.setenv("MLAB_LLM_BACKOFF_S", "soon")
    with pytest.raises(PrerequisiteError, match="MLAB_LLM_BACKOFF_S"):
        RetryPolicy.from_env()


# --------------------------------------------------------------------------- the session
def test_transient_failures_are_retried_and_every_attempt_recorded(tmp_path: Path) -> None:
    s, slept = session(tmp_path)
    s.bind_steps(lambda: 7)
    llm = FakeLLM(
        [
            TransientLLMError("rate_limit", "429", retry_after_s=0.03),
            TransientLLMError("malformed", "bad"),
            "done now",
        ]
    )
    model = Model(llm, s, "agent", max_tokens=123, temperature=0.2)
    assert model.generate("say done", purpose="agent", stop=["\nObservation:"]) == "done now"
    s.close()
    rows = list(jsonl.read(tmp_path / "llm_calls.jsonl"))
    assert [(r["attempt"], r["step"], r["purpose"]) for r in rows] == [
        (1, 7, "agent"),
        (2, 7, "agent"),
        (3, 7, "agent"),
    ]
    assert rows[0]["error"].startswith("rate_limit") and rows[1]["error"].startswith("malformed")
    assert rows[2]["error"] is None and rows[2]["completion"] == "done now"
    assert (rows[2]["prompt_tokens"], rows[2]["completion_tokens"]) == (2, 2)
    assert rows[2]["cost_usd"] == pytest.approx((2 * 2.5 + 2 * 10.0) / 1e6)
    assert rows[2]["stop"] == ["\nObservation:"] and rows[2]["max_tokens"] == 123
    assert rows[2]["temperature"] == 0.2
    assert slept[0] >= 0.03 and 0.01 <= slept[1] <= 0.02  # Retry-After, then 2**1 * base * jitter


def test_final_failure_is_an_llm_error(tmp_path: Path) -> None:
    s, slept = session(tmp_path)
    llm = FakeLLM([TransientLLMError("server_error", "HTTP 500")] * 4)
    with pytest.raises(LLMError, match="gave up after 4 attempts"):
        Model(llm, s, "fast").complete("x", purpose="summarise")
    assert len(slept) == 3
    llm = FakeLLM([LLMError("HTTP 401: bad key")])
    with pytest.raises(LLMError, match="401"):
        Model(llm, s, "fast").complete("x", purpose="summarise")
    assert len(llm.requests) == 1  # no retry of a final error
    s.close()
    assert [bool(r["error"]) for r in jsonl.read(tmp_path / "llm_calls.jsonl")] == [True] * 5


def test_budgets_stop_the_next_call_and_survive_a_resume(tmp_path: Path) -> None:
    s, _ = session(tmp_path, budget=Budget(max_tokens=10))
    model = Model(FakeLLM(["one two three four five six"] * 3), s, "agent")
    model.complete("a b c", purpose="agent")  # 3 + 6 tokens
    model.complete("a b c", purpose="agent")  # 18: over, but a call is never cut
    with pytest.raises(BudgetExceeded, match="18 of 10 tokens") as info:
        model.complete("a b c", purpose="agent")
    assert info.value.reason == "max_tokens"
    s.close()
    resumed, _ = session(tmp_path, budget=Budget(max_cost_usd=1e-4))
    assert resumed.usage.total_tokens == 18 and resumed.usage.calls == 2
    with pytest.raises(BudgetExceeded) as info:
        Model(FakeLLM(["x"] * 9), resumed, "agent").complete("a " * 30, purpose="agent")
        Model(FakeLLM(["x"] * 9), resumed, "agent").complete("a " * 30, purpose="agent")
    assert info.value.reason == "max_cost"


def test_replay_plays_back_in_order_and_detects_divergence(tmp_path: Path) -> None:
    s, _ = session(tmp_path)
    model = Model(FakeLLM([TransientLLMError("rate_limit", "429"), "first", "second"]), s, "agent")
    model.complete("p1", purpose="agent")
    model.complete("p2", purpose="edit")
    s.close()
    replay = ReplayLLM(str(tmp_path))  # the folder holding llm_calls.jsonl
    first = replay.generate(Request("p1", "agent"))
    assert (first.text, first.model, first.prompt_tokens) == ("first", "openai:gpt-4o", 1)
    assert first.cost_usd == pytest.approx((1 * 2.5 + 1 * 10) / 1e6)
    with pytest.raises(ReplayDiverged, match="diverged"):
        replay.generate(Request("p2", "agent"))
    with pytest.raises(ReplayDiverged, match="prompt of call 2"):
        replay.generate(Request("another prompt", "edit"))
    assert replay.generate(Request("p2", "edit")).text == "second"
    with pytest.raises(ReplayDiverged, match="asked for call 3"):
        replay.generate(Request("p3", "agent"))
    # a prompt that differs only in the durations shown (the time left) is the same prompt
    s, _ = session(tmp_path / "t")
    Model(FakeLLM(["ok"]), s, "agent").complete("Time left: 3 h 05 min.", purpose="agent")
    s.close()
    replay = ReplayLLM(str(tmp_path / "t"))
    assert replay.generate(Request("Time left: less than a minute.", "agent")).text == "ok"
    assert replay.prompt_mismatches == 1
    with pytest.raises(PrerequisiteError, match="no recording"):
        ReplayLLM(str(tmp_path / "nothing"))


# --------------------------------------------------------------------------- parsing helpers
def test_entries_and_json_inputs() -> None:
    reply = (
        "**Reflection:** fine\n## Thought: go\nAction: `Execute Script`\n"
        'Action Input: ```json\n{"script_name": "a.py",\n "code": "x = 1\nprint(x)"}\n```'
    )
    found = entries(reply, ("Reflection", "Thought", "Action", "Action Input"))
    assert found["Reflection"] == "fine" and found["Thought"] == "go"
    assert found["Action"] == "`Execute Script`"
    assert json_object(found["Action Input"]) == {"script_name": "a.py", "code": "x = 1\nprint(x)"}
    with pytest.raises(ReplyFormatError, match="not valid JSON"):
        json_object('{"a": }')
    with pytest.raises(ReplyFormatError, match="no \\{"):
        json_object("list the files")


def test_chunks_and_cuts() -> None:
    text = "".join(f"line {i}\n" for i in range(1000))
    chunks = split_chunks(text, 1000)
    assert "".join(chunks) == text and all(len(c) <= 1000 for c in chunks)
    assert split_chunks("x" * 2500, 1000) == ["x" * 1000, "x" * 1000, "x" * 500]
    cut = head_and_tail("a" * 50 + "b" * 50, 20)
    assert cut.startswith("a" * 10) and cut.endswith("b" * 10) and "80 characters cut" in cut


# --------------------------------------------------------------------------- real SDKs, real HTTP
@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-unit-secret")


@pytest.mark.usefixtures("keys")
def test_openai_sdk_over_http(tmp_path: Path) -> None:
    with ScriptedLLMServer(
        [
            "Thought: go\nAction: List Files\nObservation: made up",
            Fail(429, "slow down", retry_after=0.05),
            Malformed(),
            Fail(503, "overloaded"),
            "ok",
            Fail(401, "bad key"),
        ]
    ) as server:
        llm = make_llm("openai:gpt-4o", base_url=server.openai_base_url, timeout_s=5)
        s, slept = session(tmp_path)
        model = Model(llm, s, "agent", max_tokens=50, temperature=0.5)
        assert model.generate("one two", purpose="agent", stop=["\nObservation:"]) == (
            "Thought: go\nAction: List Files"
        )
        assert model.complete("three", purpose="edit") == "ok"
        with pytest.raises(LLMError, match="HTTP 401"):
            model.complete("four", purpose="edit")
        s.close()
        first = server.received[0]
        assert first.path == "/v1/chat/completions"
        assert first.body["stop"] == ["\nObservation:"] and first.body["max_tokens"] == 50
        assert first.body["temperature"] == 0.5
        assert first.headers["authorization"] == "Bearer sk-unit-secret"
    rows = list(jsonl.read(tmp_path / "llm_calls.jsonl"))
    assert [r["error"] is None for r in rows] == [True, False, False, False, True, False]
    assert "rate_limit" in rows[1]["error"] and "malformed" in rows[2]["error"]
    assert "server_error" in rows[3]["error"]
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == (2, 5)
    assert slept[0] >= 0.05  # the server's Retry-After
    assert "sk-unit-secret" not in (tmp_path / "llm_calls.jsonl").read_text()


@pytest.mark.usefixtures("keys")
def test_anthropic_sdk_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedLLMServer(
        [
            "Action: Final Answer\nObservation: no",
            Slow(1.0, "late"),
            Fail(529, "overloaded"),
            "fine",
        ]
    ) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        llm = make_llm("anthropic:claude-sonnet-4", timeout_s=0.3)
        s, _ = session(tmp_path)
        model = Model(llm, s, "agent", max_tokens=70, temperature=0.1)
        assert (
            model.generate("a b c", purpose="agent", stop=["\nObservation:"])
            == "Action: Final Answer"
        )
        assert model.complete("d", purpose="reflect") == "fine"
        s.close()
        first = server.received[0]
        assert first.path == "/v1/messages"
        assert first.body["stop_sequences"] == ["\nObservation:"]
        assert (first.body["max_tokens"], first.body["temperature"]) == (70, 0.1)
    rows = list(jsonl.read(tmp_path / "llm_calls.jsonl"))
    assert [r["error"].split(":")[0] if r["error"] else None for r in rows] == [
        None,
        "timeout",
        "server_error",
        None,
    ]
    assert rows[0]["cost_usd"] == pytest.approx((3 * 3.0 + 3 * 15.0) / 1e6)
    assert rows[0]["finish_reason"] == "stop_sequence"
    assert json.dumps(rows).count("ak-unit-secret") == 0
