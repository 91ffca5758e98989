"""Import the original MLAgentBench's results into the result tables, to compare old and new.

MLAgentBench leaves, per run, ``<exp>/<task>/<run>/env_log/trace.json`` (the steps: action,
arguments, observation, end time), ``env_log/overall_time.txt``, ``env_log/error.txt`` when it
failed, ``env_log/tool_logs/step_<i>_tool_log.log`` and ``agent_log/step_<i>_*log.log`` (LLM
prompts and completions with token counts) and ``agent_log/agent_<step>_<i>.json`` (the agent's
reasoning entries); its ``eval.py`` writes one JSON object mapping each trace.json path to the
run's scores (``final_score``, per-step ``score`` at ``score_steps``,
``submitted_final_answer``, ``total_time``, ``error``, ``extra`` error flags).

Rules of the import:

- Scores are MLAgentBench's own metric, in its direction (lower is better for
  parkinsons-disease, feedback, babylm, llama-inference, house-price and vectorization),
  converted to this project's unit where they differ (``UNIT_SCALE``: MLAgentBench's
  accuracies are fractions, ours percentages). A score is valid when finite and positive: the
  original evaluation writes -1 for a missing final score and 0 for a snapshot that failed to
  grade (its own plots drop both the same way).
- The baseline of success is the mean valid final score of the baseline experiment's runs of
  the task in the imported files (``--baseline-agent``, default ``sanity_check``, imported as
  agent ``baseline``), computed by the analysis views when queried; tasks without one have an
  unknown (NULL) success, never a failure.
- Human-relative scores are computed only for tasks known here whose human-relative metric is
  the task's metric with numeric naive and human anchors; otherwise they are left empty.
- Step i of trace.json is step i+1 here; a snapshot ``step_<i>_files`` is the workspace after it.
  The research agent's LLM call of its step c is saved as ``agent_<s>_<c>.json`` where s is the
  index of the last trace step it caused: with retrieval on that is the "Append Summary to
  Research Log" step following the chosen action, so the call belongs to the action at s - 1.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .. import tables
from ..errors import PrerequisiteError, UnknownNameError
from ..grading import Grade
from ..paths import ResultsRoot
from ..scoring import Anchors, summarize
from ..taskspec import get_task

TASK_NAMES = {
    "cifar10_training": "cifar10",
    "home-data-for-ml-course": "house-price",
    "kaggle_training_reg": "house-price",
    "kaggle_training_class": "spaceship-titanic",
    "amp-parkinsons-disease-progression-prediction": "parkinsons-disease",
    "fathomnet-out-of-sample-detection": "fathomnet",
    "feedback-prize-english-language-learning": "feedback",
    "google-research-identify-contrails-reduce-global-warming": "identify-contrails",
    "speed-up": "llama-inference",
    "vectorisation": "vectorization",
    "CLRS": "clrs",
    "BabyLM": "babylm",
}
LOWER_IS_BETTER = {
    "parkinsons-disease",
    "feedback",
    "babylm",
    "llama-inference",
    "house-price",
    "vectorization",
}
# MLAgentBench metric value x this factor = the same score in this project's unit.
UNIT_SCALE = {
    "cifar10": 100.0,  # accuracy: a fraction there, % here
    "imdb": 100.0,
    "ogbn-arxiv": 100.0,
    "spaceship-titanic": 100.0,
}
APPEND_SUMMARY = "Append Summary to Research Log"
PURPOSE_OF_ACTION = {
    "Edit Script (AI)": "edit",
    "Edit Script Segment (AI)": "edit",
    "Understand File": "understand",
    "Reflection": "reflect",
    "Retrieval from Research Log": "summarise",
}
_LLM_BLOCK = re.compile(
    r"===================prompt=====================\n(?P<prompt>.*?)\n"
    r"===================(?P<model>.*?) response \(\d+\)=====================\n"
    r"(?P<completion>.*?)\n===================tokens=====================\n"
    r"Number of prompt tokens: (?P<pt>\d+)\nNumber of sampled tokens: (?P<ct>\d+)",
    re.S,
)


@dataclass
class ImportSummary:
    """What an import wrote."""

    runs: int = 0
    steps: int = 0
    llm_calls: int = 0
    run_ids: list[str] = field(default_factory=list)


@dataclass
class _Run:
    exp: str
    task: str
    name: str
    result: dict[str, Any]
    trace: Path | None
    direction: str
    final: float | None


def _valid(score: Any, scale: float = 1.0) -> float | None:
    """`score` times `scale` when it is a finite positive number, else None."""
    if isinstance(score, int | float) and not isinstance(score, bool):
        value = float(score)
        if math.isfinite(value) and value > 0:
            return value * scale
    return None


def _locate(key: str, eval_file: Path, logs_dir: Path | None) -> Path | None:
    """The trace.json an eval entry names, here: as written, under --logs, or by its tail."""
    path = Path(key)
    candidates = [path]
    for base in (logs_dir, eval_file.parent):
        if base is None:
            continue
        parts = path.parts[1:] if path.is_absolute() else path.parts
        candidates += [base.joinpath(*parts[i:]) for i in range(len(parts))]
    for c in candidates:
        if c.is_file():
            return c
        if (c / "env_log" / "trace.json").is_file():
            return c / "env_log" / "trace.json"
    return None


def _identity(key: str) -> tuple[str, str, str]:
    parts = [p for p in Path(key).parts if p not in ("/", "")]
    if len(parts) >= 5 and parts[-1] == "trace.json" and parts[-2] == "env_log":
        exp, task, run = parts[-5:-2]
    elif len(parts) >= 3:
        exp, task, run = parts[-3:]
    else:
        raise PrerequisiteError(f"cannot tell experiment, task and run from the path {key!r}")
    return exp.strip(), TASK_NAMES.get(task.strip(), task.strip()), run.strip()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def import_results(
    eval_files: list[Path],
    results: Path,
    campaign: str = "mlagentbench",
    logs_dir: Path | None = None,
    baseline_agent: str = "sanity_check",
    max_steps: int = 50,
    warn: Callable[[str], None] = lambda message: None,
) -> ImportSummary:
    """Import every run of the given eval result files; returns counts of what was written."""
    runs: list[_Run] = []
    for eval_file in eval_files:
        try:
            data = json.loads(eval_file.read_text())
        except (OSError, ValueError) as exc:
            raise PrerequisiteError(f"{eval_file}: not an MLAgentBench eval JSON ({exc})") from None
        if not isinstance(data, dict):
            raise PrerequisiteError(f"{eval_file}: expected an object of trace path -> result")
        for key, result in data.items():
            if not isinstance(result, dict):
                continue
            exp, task, name = _identity(result.get("path") or key)
            trace = _locate(result.get("path") or key, eval_file, logs_dir)
            if trace is None:
                warn(f"{exp}/{task}/{name}: trace.json not found; importing its scores only")
            direction = "lower" if task in LOWER_IS_BETTER else "higher"
            runs.append(
                _Run(
                    exp,
                    task,
                    name,
                    result,
                    trace,
                    direction,
                    _valid(result.get("final_score"), UNIT_SCALE.get(task, 1.0)),
                )
            )
    baselines: dict[str, float] = {}
    for task in sorted({r.task for r in runs}):
        finals = [r.final for r in runs if r.task == task and r.exp == baseline_agent and r.final]
        if finals:
            baselines[task] = statistics.fmean(finals)
        else:
            warn(
                f"task {task}: no valid final score of {baseline_agent}: success unknown "
                "(import the baseline experiment's eval file too)"
            )
    summary = ImportSummary()
    for run in runs:
        _write_run(
            run, results, campaign, baselines.get(run.task), baseline_agent, max_steps, summary
        )
    return summary


def _scoring_spec(run: _Run) -> tuple[Any, Anchors | None]:
    """The task spec to score with (ours where it fits), and human-relative anchors if any."""
    try:
        task = get_task(run.task)
    except UnknownNameError:
        task = None
    if task is not None and task.metric.direction == run.direction:
        hr = task.human_relative
        if (
            hr.metric == task.metric.name
            and isinstance(hr.naive, float)
            and isinstance(hr.human, float)
        ):
            # imported runs were not timed in pairs: success is the baseline rule's
            unpaired = replace(task, metric=replace(task.metric, speedup_metric=None))
            return unpaired, Anchors(naive_fixed=hr.naive, human=hr.human)
        metric = task.metric.name
    else:
        metric = "score"
    spec = SimpleNamespace(
        metric=SimpleNamespace(
            name=metric, direction=run.direction, timed=False, speedup_metric=None
        ),
        human_relative=SimpleNamespace(metric=f"{metric}__no_human_relative", normalize=float),
    )
    return spec, None


def _thoughts(agent_log: Path) -> dict[int, str]:
    """The research agent's entries (reflection, plan, fact check, thought) by env step here."""
    files = []
    for p in agent_log.glob("agent_*_*.json"):
        m = re.fullmatch(r"agent_(\d+)_(\d+)\.json", p.name)
        if m:
            files.append((int(m.group(1)), int(m.group(2)), p))
    if not files:
        return {}
    try:
        state = json.loads(max(files)[2].read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for entry in state.get("history_steps") or []:
        action = entry.get("action") or {}
        if not isinstance(action, dict):
            continue
        text = "\n".join(
            f"{k}: {str(v).strip()}"
            for k, v in action.items()
            if k not in ("Action", "Action Input")
        )
        if text and isinstance(entry.get("step_idx"), int):
            out[entry["step_idx"]] = text
    return out


def _llm_calls(trace: Path, actions: list[str]) -> list[dict[str, Any]]:
    calls = []
    agent_log = trace.parent.parent / "agent_log"
    env_step: dict[int, int] = {}  # agent step -> env step here (from agent_<env>_<agent>.json)
    for p in agent_log.glob("agent_*_*.json"):
        m = re.fullmatch(r"agent_(\d+)_(\d+)\.json", p.name)
        if m:
            env_step[int(m.group(2))] = _chosen_step(int(m.group(1)), actions)
    logs = [(p, "agent") for p in agent_log.glob("step_*_log.log*")]
    logs += [(p, "tool") for p in (trace.parent / "tool_logs").glob("step_*_tool_log.log")]
    for path, origin in sorted(logs):
        m = re.match(r"step_(\d+)_", path.name)
        if not m:
            continue
        k = int(m.group(1))
        if origin == "tool":
            step = k + 1
            purpose = PURPOSE_OF_ACTION.get(actions[k] if k < len(actions) else "", "tool")
        else:
            step = env_step.get(k, k + 1)
            purpose = "summarise" if "summar" in path.name else "agent"
        text = path.read_text(errors="replace")
        for block in _LLM_BLOCK.finditer(text):
            calls.append(
                {
                    "step": step,
                    "purpose": purpose,
                    "model": block.group("model").strip(),
                    "prompt_tokens": int(block.group("pt")),
                    "completion_tokens": int(block.group("ct")),
                    "prompt": block.group("prompt"),
                    "completion": block.group("completion"),
                }
            )
    return calls


def _chosen_step(last_index: int, actions: list[str]) -> int:
    """The step here (1-based) of the action an agent step chose, from the index of the last
    trace step it caused: the research log's append follows the action when retrieval is on."""
    if (
        0 < last_index < len(actions)
        and actions[last_index] == APPEND_SUMMARY
        and actions[last_index - 1] != APPEND_SUMMARY
    ):
        return last_index  # the action at index last_index - 1, step last_index here
    return last_index + 1


def _write_run(
    run: _Run,
    results: Path,
    campaign: str,
    baseline: float | None,
    baseline_agent: str,
    max_steps: int,
    summary: ImportSummary,
) -> None:
    root = ResultsRoot(results)
    result = run.result
    agent = "baseline" if run.exp == baseline_agent else run.exp
    run_id = _safe(f"mlab.{run.exp}.{run.task}.{run.name}")
    constants = {"run_id": run_id, "campaign": campaign, "task": run.task}
    trace_steps: list[dict[str, Any]] = []
    if run.trace is not None:
        try:
            trace_steps = json.loads(run.trace.read_text()).get("steps") or []
        except (OSError, ValueError) as exc:
            raise PrerequisiteError(f"{run.trace}: unreadable trace.json ({exc})") from None
    total = result.get("total_time")
    total_s = float(total) if isinstance(total, int | float) and total > 0 else None
    stamps: list[float] = [
        float(s["timestamp"]) for s in trace_steps if isinstance(s.get("timestamp"), int | float)
    ]
    start = (stamps[-1] - total_s) if stamps and total_s else (stamps[0] if stamps else None)
    thoughts = _thoughts(run.trace.parent.parent / "agent_log") if run.trace else {}
    step_rows = []
    previous = start
    for i, s in enumerate(trace_steps):
        action = s.get("action") or {}
        stamp = s.get("timestamp")
        args = action.get("args")
        step_rows.append(
            {
                "step": i + 1,
                "action": action.get("name"),
                "args": json.dumps(args) if not isinstance(args, str) else args,
                "thought": thoughts.get(i + 1, ""),
                "observation": s.get("observation"),
                "started_at": previous,
                "duration_s": (stamp - previous) if stamp is not None and previous else None,
                "error_kind": _error_kind(str(s.get("observation") or "")),
            }
        )
        previous = stamp if stamp is not None else previous
    n_steps = len(step_rows)

    # grades: the per-step scores MLAgentBench evaluated, then the final one
    grades: dict[int, tuple[str, Grade]] = {}
    scores = list(result.get("score") or [])
    score_steps = list(result.get("score_steps") or [])
    spec, anchors = _scoring_spec(run)
    name = spec.metric.name
    for k, value in zip(score_steps, scores, strict=False):
        v = _valid(value, UNIT_SCALE.get(run.task, 1.0))
        grades[int(k) + 1] = (
            f"step_{k}_files",
            Grade(v is not None, "" if v else "no score", {name: v} if v else {}),
        )
    final_step = max(n_steps, max(grades, default=0))
    final_reason = "" if run.final is not None else "no final score (MLAgentBench wrote -1)"
    grades[final_step] = (
        "step_final_files",
        Grade(run.final is not None, final_reason, {name: run.final} if run.final else {}),
    )
    anchors = Anchors(
        naive_fixed=anchors.naive_fixed if anchors else None,
        human=anchors.human if anchors else None,
    )
    score_summary, score_rows = summarize(spec, grades, anchors)  # type: ignore[arg-type]

    extra = {k for k, v in (result.get("extra") or {}).items() if v}
    error = str(result.get("error") or "").strip() or None
    if result.get("submitted_final_answer"):
        status, exit_reason = "completed", "final_answer"
    elif error:
        status, exit_reason = "failed", "agent_error"
    elif "connection_error" in extra:
        status, exit_reason = "llm_error", "agent_error"
    elif "oom_error" in extra:
        status, exit_reason = "failed", "out_of_memory"
    elif n_steps >= max_steps:
        status, exit_reason = "completed", "max_steps"
    else:
        status, exit_reason = "timeout", "max_time"
    if extra:
        error = (
            ((error + "\n") if error else "") + "MLAgentBench flags: " + ", ".join(sorted(extra))
        )

    calls = (
        _llm_calls(run.trace, [str((s.get("action") or {}).get("name")) for s in trace_steps])
        if run.trace
        else []
    )
    row = {
        **constants,
        "task_version": "mlagentbench",
        "agent": agent,
        "model": "",
        "seed": None,
        "status": status,
        "exit_reason": exit_reason,
        "error": error,
        "started_at": start,
        "ended_at": stamps[-1] if stamps else None,
        "wall_s": total_s,
        "n_steps": n_steps,
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls) if calls else None,
        "completion_tokens": sum(c["completion_tokens"] for c in calls) if calls else None,
        "cost_usd": None,
        "sandbox": "mlagentbench",
        "harness_version": "mlagentbench",
        **score_summary,
    }
    tables.write_table(
        root.table_file("steps", campaign, run.task, run_id), "steps", step_rows, constants
    )
    tables.write_table(
        root.table_file("scores", campaign, run.task, run_id), "scores", score_rows, constants
    )
    if calls:
        tables.write_table(
            root.table_file("llm_calls", campaign, run.task, run_id), "llm_calls", calls, constants
        )
    tables.write_table(
        root.table_file("runs", campaign, run.task, run_id), "runs", [row], constants
    )
    summary.runs += 1
    summary.steps += n_steps
    summary.llm_calls += len(calls)
    summary.run_ids.append(run_id)


def _error_kind(observation: str) -> str | None:
    """MLAgentBench's error observations, in the categories of the steps table."""
    if (
        observation.startswith("ActionInputParsingError")
        or "needs to be a valid json" in observation
    ):
        return "bad_arguments"
    if observation.startswith("Invalid action"):
        return "unknown_action"
    if observation.startswith("LLMError"):
        return "llm_error"
    if "too long input for the tool" in observation:
        return "llm_too_long"
    if observation.startswith("EnvError"):
        return "env_error"
    if "CUDA out of memory" in observation:
        return "oom"
    return None
