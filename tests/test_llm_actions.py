"""The LLM-backed actions with replies as real models write them: code in fences with prose
around it, code that does not parse, and model failures that must not end the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlab_hpc.environment import Environment
from mlab_hpc.llm import LLMError, LLMSession, Model, RetryPolicy
from mlab_hpc.llm.parsing import extract_code

from .test_actions import act, env, failed, make_env, ok  # noqa: F401  (fixtures)
from .test_llm_units import FakeLLM

OLD = "def policy(obs):\n    return 0\n"
NEW = "def policy(obs):\n    return 1 if obs[2] > 0 else 0\n"


def model_of(tmp_path: Path, replies: list[object]) -> tuple[Model, FakeLLM]:
    llm = FakeLLM(replies)
    session = LLMSession(
        tmp_path / "calls.jsonl", retry=RetryPolicy(retries=0), sleep=lambda s: None
    )
    return Model(llm, session, "edit"), llm


@pytest.mark.parametrize(
    "reply",
    [
        f"```python\n{NEW}```",
        f"Here is the edited script:\n\n```python\n{NEW}```\n\nIt now pushes towards the pole.",
        f"Sure.\n```\n{NEW}```\nDone.",
        f"```py\n{NEW}```",
        NEW,
        f"Some prose.\n```python\n{NEW}",  # a fence cut at the token limit
    ],
    ids=["fenced", "prose-around", "plain-fence", "py-tag", "unfenced", "unclosed"],
)
def test_edit_script_extracts_the_code(env: Environment, tmp_path: Path, reply: str) -> None:  # noqa: F811
    (env.workspace.root / "policy.py").write_text(OLD)
    env.edit_model, llm = model_of(tmp_path, [reply])
    ok(
        act(
            env,
            "Edit Script (AI)",
            script_name="policy.py",
            edit_instruction="push towards the pole",
            save_name="policy.py",
        )
    )
    assert (env.workspace.root / "policy.py").read_text() == NEW
    assert "```python" in llm.requests[0].prompt  # the model is asked for a fenced block


def test_edit_script_segment_extracts_the_code(env: Environment, tmp_path: Path) -> None:  # noqa: F811
    (env.workspace.root / "policy.py").write_text("import math\n" + OLD + "print('end')\n")
    reply = "The new lines:\n```python\ndef policy(obs):\n    return 1\n```\nThat is all."
    env.edit_model, _ = model_of(tmp_path, [reply])
    ok(
        act(
            env,
            "Edit Script Segment (AI)",
            script_name="policy.py",
            start_line_number=2,
            end_line_number=3,
            edit_instruction="always push right",
            save_name="policy.py",
        )
    )
    text = (env.workspace.root / "policy.py").read_text()
    assert text == "import math\ndef policy(obs):\n    return 1\nprint('end')\n"


def test_an_edit_that_does_not_parse_is_refused(env: Environment, tmp_path: Path) -> None:  # noqa: F811
    (env.workspace.root / "policy.py").write_text(OLD)
    env.edit_model, _ = model_of(
        tmp_path,
        [
            "I would change the policy like this: return 1 when the pole leans right.",
            "```python\ndef policy(obs)\n    return 1\n```",
        ],
    )
    args = dict(script_name="policy.py", edit_instruction="x", save_name="policy.py")
    rec = failed(act(env, "Edit Script (AI)", **args), "bad_edit")
    assert "not be valid Python" in rec.observation and "line 1" in rec.observation
    assert "unchanged" in rec.observation and "I would change" in rec.observation
    rec = failed(
        act(env, "Edit Script Segment (AI)", start_line_number=1, end_line_number=2, **args),
        "bad_edit",
    )
    assert (env.workspace.root / "policy.py").read_text() == OLD
    # a file that is not Python is written as the model gave it (without the fence)
    env.edit_model, _ = model_of(tmp_path, ["```\nrows: 3\n```"])
    ok(act(env, "Edit Script (AI)", script_name="c.yaml", edit_instruction="x", save_name="c.yaml"))
    assert (env.workspace.root / "c.yaml").read_text() == "rows: 3\n"


@pytest.mark.parametrize("action", ["Understand File", "Edit Script (AI)", "Reflection"])
def test_a_model_failure_in_an_action_is_an_observation(
    env: Environment,  # noqa: F811
    tmp_path: Path,
    action: str,
) -> None:
    too_long = LLMError("openai:gpt-4o: HTTP 400: the prompt is longer than the context window")
    model, _ = model_of(tmp_path, [too_long])
    env.edit_model = env.fast_model = model
    args = {
        "Understand File": {"file_name": "train.py", "things_to_look_for": "x"},
        "Edit Script (AI)": {
            "script_name": "train.py",
            "edit_instruction": "x",
            "save_name": "t.py",
        },
        "Reflection": {"things_to_reflect_on": "x"},
    }[action]
    before = (env.workspace.root / "train.py").read_text()
    rec = failed(act(env, action, **args), "llm_error")
    assert "context window" in rec.observation
    assert env.stop_reason() is None and rec.step == 1  # the run goes on
    assert not (env.workspace.root / "t.py").exists()
    assert (env.workspace.root / "train.py").read_text() == before


def test_reflection_sees_the_problem_and_the_research_log(
    env: Environment,  # noqa: F811
    tmp_path: Path,
) -> None:
    env.research_problem = "Balance the pole for 500 steps."
    (env.workspace.root / "research_log.log").write_text("Step 1: the baseline scores 22.\n")
    model, llm = model_of(tmp_path, ["Try a PD controller."])
    env.fast_model = model
    ok(act(env, "Reflection", things_to_reflect_on="what next"))
    prompt = llm.requests[0].prompt
    assert "Balance the pole for 500 steps." in prompt and "baseline scores 22" in prompt


def test_extract_code_prefers_the_python_block() -> None:
    reply = "Run it with:\n```bash\npython x.py\n```\nThe code:\n```python\nx = 1\n```\n"
    assert extract_code(reply) == "x = 1\n"
    assert extract_code("   ") == ""
