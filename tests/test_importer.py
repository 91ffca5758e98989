"""The MLAgentBench importer on logs laid out as the original writes them.

The eval file has the fields of the original eval.py's EvaluationResult (path, summary,
rubric_questions, score, score_steps, submitted_final_answer, final_score, total_time, error,
extra), keyed by the trace.json path; the research agent's logs follow agent_research.py with
retrieval on: every chosen action is followed in trace.json by an "Append Summary to Research
Log" step, and agent_<s>_<c>.json names the index s of that append step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlab_hpc.analysis.db import connect
from mlab_hpc.analysis.mlagentbench import import_results
from mlab_hpc.taskspec import get_task

APPEND = "Append Summary to Research Log"
BLOCK = (
    "\n===================prompt=====================\nHuman: {prompt} Assistant:"
    "\n===================claude-v1 response (2000)=====================\n{reply}"
    "\n===================tokens=====================\n"
    "Number of prompt tokens: 11\nNumber of sampled tokens: 4\n\n\n"
)


def research_run(root: Path, exp: str, task_folder: str, name: str, actions: list[str]) -> str:
    """A run's logs with retrieval on; agent step c chose actions[c]. Returns its trace path."""
    run = root / exp / task_folder / name
    (run / "env_log" / "tool_logs").mkdir(parents=True)
    (run / "agent_log").mkdir()
    steps = []
    for c, action in enumerate(actions):
        steps.append({"action": {"name": action, "args": {}}, "observation": f"did {c}",
                      "timestamp": 1000.0 + 10 * len(steps)})  # fmt: skip
        if action != "Final Answer":
            steps.append({"action": {"name": APPEND, "args": {"content": f"Step {c}"}},
                          "observation": "ok", "timestamp": 1000.0 + 10 * len(steps)})  # fmt: skip
        # saved at the end of every agent step, named by the last trace index it caused
        (run / "agent_log" / f"agent_{len(steps) - 1}_{c}.json").write_text(
            json.dumps({"history_steps": []})
        )
        (run / "agent_log" / f"step_{c}_log.log").write_text(
            BLOCK.format(prompt=f"step {c}", reply=f"Action: {action}")
        )
    (run / "env_log" / "trace.json").write_text(json.dumps({"steps": steps}))
    (run / "env_log" / "overall_time.txt").write_text("40.0")
    return str(run / "env_log" / "trace.json")


def eval_entry(path: str, final: float, final_answer: bool = True) -> dict[str, object]:
    """One value of the original eval.py's output (its EvaluationResult as a dict)."""
    return {
        "path": path,
        "summary": "",
        "rubric_questions": {},
        "score": [final],
        "score_steps": [],
        "submitted_final_answer": final_answer,
        "final_score": final,
        "total_time": 40.0,
        "error": "",
        "extra": {"oom_error": False, "connection_error": False, "error": False,
                  "json_error": False, "long_prompt_error": False},
    }  # fmt: skip


def write_eval(path: Path, entries: dict[str, dict[str, object]]) -> Path:
    path.write_text(json.dumps(entries, indent=4))
    return path


def query(results: Path, sql: str) -> list[tuple]:
    return connect(results, ["mlagentbench"], cache=False).execute(sql).fetchall()


def test_fraction_accuracies_become_percentages(tmp_path: Path) -> None:
    """spaceship-titanic: MLAgentBench's 0.7273 is 72.73% here; human-relative 72.73/99.485."""
    logs = tmp_path / "final_exp_logs"
    agent = research_run(logs, "research", "spaceship-titanic", "1", ["Execute Script"])
    base = research_run(logs, "sanity_check", "spaceship-titanic", "2", ["Execute Script"])
    eval_file = write_eval(
        tmp_path / "results.json", {agent: eval_entry(agent, 0.7273), base: eval_entry(base, 0.5)}
    )
    results = tmp_path / "results"

    import_results([eval_file], results, logs_dir=logs)

    hr = get_task("spaceship-titanic").human_relative
    ((final, human_relative, success),) = query(
        results, "SELECT final_score, human_relative, success FROM runs WHERE agent = 'research'"
    )
    assert final == pytest.approx(72.73)
    assert human_relative == pytest.approx((72.73 - hr.naive) / (hr.human - hr.naive))
    assert human_relative == pytest.approx(0.7311, abs=1e-4)
    assert success is True  # 72.73 over the baseline's 50: +45%


def test_llm_call_lands_on_the_step_it_chose(tmp_path: Path) -> None:
    logs = tmp_path / "final_exp_logs"
    actions = ["List Files", "Execute Script", "Final Answer"]
    agent = research_run(logs, "research", "cifar10_training", "1", actions)
    eval_file = write_eval(tmp_path / "results.json", {agent: eval_entry(agent, 0.6)})
    results = tmp_path / "results"

    import_results([eval_file], results, logs_dir=logs)

    steps = dict(query(results, "SELECT step, action FROM steps"))
    calls = query(results, "SELECT step, completion FROM llm_calls WHERE purpose = 'agent'")
    for step, completion in calls:
        chosen = completion.removeprefix("Action: ")
        assert steps[step] == chosen, (step, completion, steps)
    assert sorted(step for step, _ in calls) == [1, 3, 5]  # each action, not its append


def test_no_baseline_in_the_logs_leaves_success_unknown(tmp_path: Path) -> None:
    logs = tmp_path / "final_exp_logs"
    agent = research_run(logs, "research", "cifar10_training", "1", ["Execute Script"])
    eval_file = write_eval(tmp_path / "results.json", {agent: eval_entry(agent, 0.6)})
    results = tmp_path / "results"
    warnings: list[str] = []

    import_results([eval_file], results, logs_dir=logs, warn=warnings.append)

    ((final, success),) = query(results, "SELECT final_score, success FROM runs")
    assert final == pytest.approx(60.0)
    assert success is None
    assert any("success unknown" in w for w in warnings)
