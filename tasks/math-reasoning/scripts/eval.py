"""Grader for the math-reasoning task (Lean 4 autoformalisation; both forms: full and
mini-math-reasoning).

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the Hugging Face model directory WS/output/ in a nested sandbox (no network, the answer
key hidden) through mlab_model_eval, and has lm-eval-harness ask it, for every problem of
ANS/problems.jsonl, for a greedy continuation of

    {header}{informal_prefix}theorem {name}

(the Lean file's imports, the problem in words as a doc comment, the theorem's name), cut at
the first blank line or after max_new_tokens tokens: the rest of the statement and its proof.

Scores:
- ``compile_rate`` (the task's metric): the share of problems whose file (header, problem,
  "theorem name", continuation) Lean 4 with Mathlib accepts without an error, `sorry`
  allowed (a well-formed statement); ``proved_rate``: the share accepted without `sorry`.
  Lean runs in the same kind of nested sandbox as the model (the answer key hidden), one
  process per problem, at most compile_timeout_s seconds each.
- ``rouge_l`` (mean ROUGE-L F1 per problem) and ``bleu`` (corpus BLEU-4) of the generated
  statement against the reference formal statement, both cut before their first ":=" (the
  proof is not compared: the references have none); tokens as mlab_text_metrics splits them.
- the generic figures of mlab_model_eval (parameters, tokens per second, latency...).

Lean: ANS/lean.json (written by prepare.py) names the toolchain. Without one, compile_rate and
proved_rate are NOT MEASURED: on generated data the result is valid without them (its reason
says so, ``compile_measured`` = 0); on real data the grader stops with an error naming the
fix, rather than rank models on ROUGE-L alone.

The caps (max_parameters, max_bytes, budget_s) and settings (max_new_tokens,
compile_timeout_s) are the task form's [params] in task.toml, which the harness passes in
$MLAB_TASK_PARAMS.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from mlab_model_eval import LocalTask, grade_model, model_rules, task_params
    from mlab_text_metrics import corpus_bleu, rouge_l
    from mlab_untrusted import run_captured, untrusted_command
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_model_eval import (
        LocalTask,
        grade_model,
        model_rules,
        task_params,
    )
    from mlab_hpc.grader_lib.mlab_text_metrics import corpus_bleu, rouge_l
    from mlab_hpc.grader_lib.mlab_untrusted import run_captured, untrusted_command

PARAMS = ("max_parameters", "max_bytes", "max_new_tokens", "compile_timeout_s")
STOP = "\n\n"
COMPILE_WORKERS = max(1, min(8, os.cpu_count() or 1))
LEAN_OUTPUT_BYTES = 1 << 20  # Lean printing more than this on one file: not accepted
PROMPT = "{{header}}{{informal_prefix}}theorem {{name}}"
LEAN_FIX = (
    "build a Lake project with Mathlib under /opt (README, 'Lean'), then run `mlab-hpc "
    f"prepare --tasks {os.environ.get('MLAB_TASK_ID', 'math-reasoning')}` again with "
    "MLAB_LEAN_PROJECT=<that project>"
)


def statement(text: str) -> str:
    """The statement part of a Lean theorem: the text before its first ":=", stripped."""
    cut = text.find(":=")
    return (text if cut < 0 else text[:cut]).strip()


def lean_source(doc: dict[str, Any], continuation: str) -> str:
    """The Lean file compiled for one problem: the prompt, then the model's continuation."""
    return f"{doc['header']}{doc['informal_prefix']}theorem {doc['name']}{continuation}\n"


@dataclass(frozen=True)
class Autoformalisation(LocalTask):
    """An lm-eval generate_until task over miniF2F-schema problems; keeps every generation
    (problem name -> continuation) in ``outputs`` for the compile step."""

    max_new_tokens: int = 256
    outputs: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def config(self, answers: Path) -> dict[str, Any]:
        """lm-eval's task configuration: greedy generation, ROUGE-L and corpus BLEU."""

        def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
            continuation = str(results[0])
            self.outputs[doc["name"]] = continuation
            reference = statement(doc["formal_statement"])
            candidate = statement(f"theorem {doc['name']}{continuation}")
            return {"rouge_l": rouge_l(reference, candidate), "bleu": (reference, candidate)}

        return {
            "task": self.name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(answers / self.data)}},
            "test_split": "test",
            "output_type": "generate_until",
            "doc_to_text": PROMPT,
            "doc_to_target": "{{formal_statement}}",
            "generation_kwargs": {
                "until": [STOP],
                "max_gen_toks": self.max_new_tokens,
                "do_sample": False,
            },
            "process_results": process_results,
            "metric_list": [
                {"metric": "rouge_l", "aggregation": "mean", "higher_is_better": True},
                {"metric": "bleu", "aggregation": corpus_bleu, "higher_is_better": True},
            ],
            "metadata": {"version": 1.0},
        }


PRIMARY = ("rouge_l", "minif2f_rouge_l")  # copied under its plain name; not the task metric


# --- Lean ----------------------------------------------------------------------------------------


def lean_settings(answers: Path) -> dict[str, Any]:
    """ANS/lean.json; exits naming the fix when it is missing or lacks a toolchain on real data."""
    path = answers / "lean.json"
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError):
        sys.exit(f"{path} is missing or unreadable: run `mlab-hpc prepare` for this task again")
    if settings.get("lean") is None and not settings.get("generated"):
        sys.exit(
            "compile_rate cannot be measured: this answer key names no Lean 4 toolchain "
            f"({settings.get('why', 'none recorded')}); {LEAN_FIX}"
        )
    return settings


@dataclass(frozen=True)
class Compiled:
    """Lean's verdict on one problem's file."""

    accepted: bool  # no error (sorry allowed)
    proved: bool  # accepted, and no declaration uses sorry
    hidden: bool  # Lean ran in a sandbox without the answer key


def compile_one(
    source: str, settings: dict[str, Any], scratch: Path, hide: list[Path], timeout_s: float
) -> Compiled:
    """Run Lean on one file in a nested sandbox (answer key and grader output hidden)."""
    scratch.mkdir(parents=True, exist_ok=True)
    file = scratch / "Problem.lean"
    file.write_text(source, encoding="utf-8")
    child = untrusted_command(
        [settings["lean"], str(file)], hide=hide, scratch=scratch, cwd=Path(settings["project"])
    )
    env = {**child.env, "LEAN_PATH": settings.get("lean_path", "")}
    done = run_captured(child.argv, env=env, timeout_s=timeout_s, max_bytes=LEAN_OUTPUT_BYTES)
    if done.returncode is None or done.overflow:  # unread output may hold the error or sorry
        return Compiled(False, False, child.hidden)
    output = done.stdout + done.stderr
    accepted = done.returncode == 0 and ": error" not in output
    return Compiled(accepted, accepted and "declaration uses 'sorry'" not in output, child.hidden)


def compile_all(
    docs: list[dict[str, Any]], outputs: dict[str, str], settings: dict[str, Any],
    answers: Path, out_dir: Path, timeout_s: float,
) -> dict[str, float]:  # fmt: skip
    """compile_rate, proved_rate, compile_s and compile_hidden over every problem."""
    scratch = out_dir / "lean-scratch"
    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(COMPILE_WORKERS) as pool:
            verdicts = list(pool.map(
                lambda item: compile_one(
                    lean_source(item[1], outputs.get(item[1]["name"], "")), settings,
                    scratch / str(item[0]), [answers, out_dir], timeout_s,
                ),
                enumerate(docs),
            ))  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    count = max(1, len(verdicts))
    return {
        "compile_rate": sum(v.accepted for v in verdicts) / count,
        "proved_rate": sum(v.proved for v in verdicts) / count,
        "compile_s": time.perf_counter() - start,
        "compile_hidden": float(all(v.hidden for v in verdicts)),
        "compile_measured": 1.0,
    }


def grade(workspace: Path, answers: Path, out_dir: Path) -> dict[str, Any]:
    """The grader's JSON document (see the module's docstring)."""
    answers = answers.resolve()
    params = task_params(PARAMS)
    settings = lean_settings(answers)
    task = Autoformalisation(
        "minif2f", "generate_until", "problems.jsonl", int(params["max_new_tokens"])
    )
    result = grade_model(workspace, answers, out_dir, model_rules((task,), PRIMARY, params))
    if not result["valid"]:
        return result
    metrics = result["metrics"]
    metrics["bleu"] = metrics["minif2f_bleu"]
    docs = [json.loads(line) for line in (answers / task.data).read_text().splitlines() if line]
    if settings.get("lean") is None:
        metrics["compile_measured"] = 0.0
        result["reason"] = (
            "compile_rate NOT MEASURED (no Lean 4 toolchain; generated data): rouge_l and bleu only"
        )
        return result
    timeout_s = float(params["compile_timeout_s"])
    metrics.update(compile_all(docs, task.outputs, settings, answers, out_dir.resolve(), timeout_s))
    return result


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out = args.out.resolve()
    result = grade(args.workspace, args.answers, out.parent)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
