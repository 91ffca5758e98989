"""The math-reasoning task (Lean 4 autoformalisation) and its text metrics.

ROUGE-L and BLEU are checked on strings small enough to count by hand, and against the
reference implementations installed with lm-eval (sacreBLEU, rouge-score). The grader runs for
real: the model in a nested bwrap sandbox through lm-eval's HFLM, lm-eval's generate_until
requests, on the tiny generated data. No Lean toolchain can be installed on this machine, so
the compile path is exercised up to the point where it must find one.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlab_hpc.grader_lib.mlab_text_metrics import corpus_bleu, lcs_length, rouge_l, tokens
from mlab_hpc.taskspec import get_task
from tests.task_helpers import baseline_run, generated_twice, run_grader

TASK = "mini-math-reasoning"  # the mini form of tasks/math-reasoning

# --- the text metrics, by hand ------------------------------------------------------------------


def test_tokens_split_code_into_words_and_single_symbols() -> None:
    assert tokens("theorem t (h₀ : x = 2) := by") == [
        "theorem", "t", "(", "h₀", ":", "x", "=", "2", ")", ":", "=", "by",
    ]  # fmt: skip


def test_lcs_by_hand() -> None:
    assert lcs_length(list("abcd"), list("acde")) == 3  # a c d
    assert lcs_length([], list("abc")) == 0


def test_rouge_l_by_hand() -> None:
    # LCS of "a b c d" and "a c d e" is "a c d": precision 3/4, recall 3/4, F1 3/4.
    assert rouge_l("a b c d", "a c d e") == pytest.approx(0.75)
    # LCS 2 ("a b"), candidate 2 tokens, reference 4: P = 1, R = 1/2, F1 = 2/3.
    assert rouge_l("a b c d", "a b") == pytest.approx(2 / 3)
    assert rouge_l("x = 1", "x = 1") == 1.0
    assert rouge_l("x = 1", "") == 0.0
    assert rouge_l("", "") == 1.0
    assert rouge_l("a b", "c d") == 0.0


def test_bleu_by_hand() -> None:
    # Clipped precisions: unigrams 5/6 ("the" twice, once in the reference), bigrams 3/5
    # (the cat, cat sat, sat on), trigrams 2/4, 4-grams 1/3 (the cat sat on); equal lengths,
    # no brevity penalty: BLEU = (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = (1/12) ** (1/4).
    reference, candidate = "the cat sat on a mat", "the cat sat on the mat"
    assert corpus_bleu([(reference, candidate)]) == pytest.approx((1 / 12) ** 0.25)
    assert corpus_bleu([("a b c d e", "a b c d e")]) == 1.0
    # The same candidate cut to 4 of 5 tokens: precisions 1, brevity penalty exp(1 - 5/4).
    assert corpus_bleu([("a b c d e", "a b c d")]) == pytest.approx(math.exp(-0.25))
    assert corpus_bleu([("a b c d", "x y z w")]) == 0.0  # no matching n-gram: no smoothing
    assert corpus_bleu([("a b c d", "")]) == 0.0
    assert corpus_bleu([]) == 0.0


def test_bleu_is_pooled_over_the_corpus_not_averaged() -> None:
    # Alone, the second pair has no 4-gram at all (BLEU 0); pooled, its unigrams still count:
    # matches 6/6, 4/4, 3/3, 2/2 -> 1.0 and equal total lengths.
    pairs = [("a b c d e", "a b c d e"), ("x", "x")]
    assert corpus_bleu(pairs[1:]) == 0.0
    assert corpus_bleu(pairs) == 1.0


CASES = [
    ("theorem foo (x : ℝ) (h : x = 2) : x ^ 2 = 4 := by", "theorem foo (x : ℝ) : x ^ 2 = 4 := by"),
    ("theorem bar (n : ℕ) : n + 0 = n := by", "theorem bar (n : ℕ) : 0 + n = n := by simp"),
    ("a b c d e f g", "a b x d e f g h"),
]


def test_bleu_agrees_with_sacrebleu() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    refs = [" ".join(tokens(r)) for r, _ in CASES]
    hyps = [" ".join(tokens(h)) for _, h in CASES]
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none", smooth_method="none").score

    assert corpus_bleu(CASES) == pytest.approx(expected / 100)


def test_rouge_l_agrees_with_rouge_score() -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

    class Tokenizer:
        def tokenize(self, text: str) -> list[str]:
            return tokens(text)

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Tokenizer())
    for reference, candidate in CASES:
        expected = scorer.score(reference, candidate)["rougeL"].fmeasure
        assert rouge_l(reference, candidate) == pytest.approx(expected)


# --- the grader -----------------------------------------------------------------------------------

HEADER = "import Mathlib\n\n"
PROBLEMS = [
    ("add_two", "(x : ℝ) (h₀ : x + 2 = 5) : x = 3 ", "\n  sorry"),  # accepted, not proved
    ("mod_five", ": 13 % 5 = 3 ", "\n  norm_num"),  # accepted and proved
    ("sq_four", "(x : ℕ) (h₀ : x ^ 2 = 16) : x = 4 ", "\n  exact BAD"),  # rejected
]


def answer_key(folder: Path, lean: dict[str, Any]) -> Path:
    """An answer key of PROBLEMS (miniF2F's schema) and the given lean.json."""
    folder.mkdir(parents=True)
    rows = [
        {"name": name, "split": "test", "informal_prefix": f"/-- Problem {name}. -/\n",
         "formal_statement": f"theorem {name} {rest}:= by\n", "goal": "", "header": HEADER}
        for name, rest, _ in PROBLEMS
    ]  # fmt: skip
    (folder / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "lean.json").write_text(json.dumps(lean))
    return folder


def test_real_data_without_lean_is_a_grader_error_naming_the_fix(tmp_path: Path) -> None:
    answers = answer_key(tmp_path / "answers", {"generated": False, "lean": None, "why": "unset"})
    workspace = tmp_path / "ws"
    (workspace / "output").mkdir(parents=True)
    out = tmp_path / "out" / "out.json"
    out.parent.mkdir()

    task = get_task(TASK)
    done = subprocess.run(
        [sys.executable, str(task.eval_script), "--workspace", str(workspace), "--answers",
         str(answers), "--out", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **task.script_env()},
    )  # fmt: skip

    assert done.returncode != 0
    assert "compile_rate cannot be measured" in done.stderr
    assert "MLAB_LEAN_PROJECT" in done.stderr  # the fix
    assert not out.exists()  # no score at all, rather than one on ROUGE-L alone


# A model that knows the answers: its generate() returns, after each prompt, the continuation
# this test chose for the problem it names. It also checks, when it loads, that the answer key
# is hidden from it (it would refuse to load otherwise, and the grade would be invalid).
ECHO = """
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

CONTINUATIONS = {continuations!r}
try:
    KEY = Path({key!r}).read_text()
except OSError:
    KEY = ""
if KEY.strip():
    raise RuntimeError("the answer key is readable from the model's sandbox")


class Echo(LlamaForCausalLM):
    def generate(self, input_ids=None, attention_mask=None, **kwargs):
        tokenizer = AutoTokenizer.from_pretrained(self.config._name_or_path)
        rows = []
        for ids in input_ids.tolist():
            prompt = tokenizer.decode(ids, skip_special_tokens=True)
            name = prompt.rsplit("theorem ", 1)[-1]
            text = CONTINUATIONS[name] + "\\n\\n" if name in CONTINUATIONS else ""
            extra = tokenizer.encode(text) if text else []
            rows.append(ids + extra + [tokenizer.pad_token_id] * 32)
        width = max(len(row) for row in rows)
        return torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in rows])
"""

# A stand-in for the `lean` binary, which cannot be installed here: it follows Lean's command
# line contract (a file argument; "error" lines and exit 1 on a rejected file, a "declaration
# uses 'sorry'" warning on an accepted one with sorry) for the files this test writes, and
# rejects everything if it can read the answer key. It tests the grader's plumbing (sandbox,
# LEAN_PATH, verdict parsing), not Lean.
STAND_IN_LEAN = """#!{python}
import os
import sys
from pathlib import Path

source = Path(sys.argv[1]).read_text()
try:
    leaked = Path({key!r}).read_text()
except OSError:
    leaked = ""
if leaked.strip() or os.environ.get("LEAN_PATH") != "/opt/project/lib":
    print("Problem.lean:1:0: error: the answer key is readable, or LEAN_PATH is wrong")
    sys.exit(1)
if "BAD" in source:
    print("Problem.lean:7:8: error: unknown identifier 'BAD'")
    sys.exit(1)
if "FLOOD" in source:  # pages of messages before the verdict
    sys.stdout.write(("Problem.lean:1:0: info: " + "x" * 200 + "\\n") * 10000)
if "sorry" in source:
    print("Problem.lean:5:8: warning: declaration uses 'sorry'")
"""


def stand_in_lean(folder: Path, key: Path) -> Path:
    """STAND_IN_LEAN as an executable `lean` in `folder`/bin."""
    lean = folder / "bin" / "lean"
    lean.parent.mkdir(parents=True)
    lean.write_text(STAND_IN_LEAN.format(python=sys.executable, key=str(key)))
    lean.chmod(0o755)
    return lean


def test_lean_output_beyond_what_the_grader_keeps_is_not_accepted(tmp_path: Path) -> None:
    # The grader keeps the first MiB of Lean's output (a file that makes Lean print without
    # end cannot exhaust its memory). A verdict it did not read could be the sorry warning or
    # an error: such a file is neither accepted nor proved.
    spec = importlib.util.spec_from_file_location("math_eval", get_task(TASK).eval_script)
    assert spec is not None and spec.loader is not None
    grader = importlib.util.module_from_spec(spec)
    sys.modules["math_eval"] = grader  # its dataclasses look their module up
    spec.loader.exec_module(grader)
    lean = stand_in_lean(tmp_path, tmp_path / "no-key")
    settings = {"lean": str(lean), "lean_path": "/opt/project/lib", "project": str(tmp_path)}
    source = HEADER + "theorem t : 1 = 1 := by\n  sorry -- FLOOD\n"

    quiet = grader.compile_one(source.replace("FLOOD", ""), settings, tmp_path / "a", [], 60)
    flooded = grader.compile_one(source, settings, tmp_path / "b", [], 60)

    assert (quiet.accepted, quiet.proved) == (True, False)  # the warning was read
    assert (flooded.accepted, flooded.proved) == (False, False)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlab_hpc.grader_lib.mlab_model_eval_data import tiny_model as build

    folder = tmp_path_factory.mktemp("model") / "base"
    build(folder, [HEADER + f"theorem {name} {rest}:= by" for name, rest, _ in PROBLEMS])
    return folder


@pytest.mark.slow
def test_a_model_echoing_the_references_scores_one_and_lean_judges_each_file(
    tmp_path: Path, tiny_model: Path, bwrap: Any
) -> None:
    import shutil

    lean = tmp_path / "bin" / "lean"
    answers = answer_key(tmp_path / "answers", {"generated": True, "lean": str(lean),
                         "lean_path": "/opt/project/lib", "project": str(tmp_path)})  # fmt: skip
    key = str(answers / "problems.jsonl")
    stand_in_lean(tmp_path, Path(key))
    workspace = tmp_path / "ws"
    output = workspace / "output"
    shutil.copytree(tiny_model, output)
    continuations = {name: f" {rest}:= by{proof}" for name, rest, proof in PROBLEMS}
    (output / "echo.py").write_text(ECHO.format(continuations=continuations, key=key))
    config = json.loads((output / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "echo.Echo"}
    (output / "config.json").write_text(json.dumps(config))

    result = run_grader(TASK, workspace, answers, timeout=600)

    assert result["valid"], result["reason"]
    metrics = result["metrics"]
    assert metrics["answers_hidden"] == 1.0 and metrics["compile_hidden"] == 1.0
    assert metrics["rouge_l"] == 1.0 and metrics["bleu"] == 1.0  # every statement echoed
    assert metrics["compile_rate"] == pytest.approx(2 / 3)  # sorry accepted, BAD rejected
    assert metrics["proved_rate"] == pytest.approx(1 / 3)  # only norm_num proves
    assert metrics["compile_measured"] == 1.0 and result["reason"] == ""


@pytest.mark.slow
def test_generated_data_is_byte_identical(tmp_path: Path) -> None:
    first = generated_twice(TASK, tmp_path)

    rows = [json.loads(line) for line in (first / "private" / "problems.jsonl").open()]
    assert rows and all(r["formal_statement"].startswith(f"theorem {r['name']} ") for r in rows)
    assert json.loads((first / "private" / "lean.json").read_text())["lean"] is None


@pytest.mark.slow
@pytest.mark.parametrize("task_id", [TASK, "math-reasoning"])
def test_smoke_run_lands_its_scores_in_parquet_with_compile_rate_not_measured(
    task_id: str, results: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLAB_LEAN_PROJECT", raising=False)
    row = baseline_run(task_id, results, "--smoke")

    assert (row["status"], row["final_valid"], row["data_mode"]) == ("completed", True, "generated")
    assert row["final_score"] is None  # compile_rate: not measured, never made up
    from mlab_hpc.analysis.db import connect

    graded = (
        connect(results, cache=False)
        .execute(
            "SELECT raw_score, reason, metrics FROM scores WHERE valid ORDER BY step DESC LIMIT 1"
        )
        .fetchone()
    )
    assert graded is not None
    raw, reason, metrics = graded
    assert raw is None and "NOT MEASURED" in reason
    metrics = json.loads(metrics)
    assert 0.0 <= metrics["rouge_l"] <= 1.0 and 0.0 <= metrics["bleu"] <= 1.0
    assert metrics["compile_measured"] == 0.0 and "compile_rate" not in metrics


def test_prepare_raw_splits_minif2f_valid_for_training_and_test_for_grading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    (raw / "base_model").mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (raw / "base_model" / name).write_text("{}")
    rows = [
        {"name": name, "split": split, "informal_prefix": f"/-- {name} -/\n",
         "formal_statement": f"theorem {name} : 1 + 1 = 2 := by\n", "goal": "⊢ 1 + 1 = 2",
         "header": HEADER, "extra": "dropped"}
        for name, split in (("a", "valid"), ("b", "test"), ("c", "valid"))
    ]  # fmt: skip
    (raw / "minif2f.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.delenv("MLAB_LEAN_PROJECT", raising=False)
    task = get_task(TASK)

    done = subprocess.run(
        [sys.executable, str(task.prepare_script), "--raw", str(raw), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120, env={**os.environ, **task.script_env()},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    out = tmp_path / "o"
    train = [json.loads(x) for x in (out / "public" / "data" / "train.jsonl").open()]
    graded = [json.loads(x) for x in (out / "private" / "problems.jsonl").open()]
    assert [r["name"] for r in train] == ["a", "c"] and [r["name"] for r in graded] == ["b"]
    assert "extra" not in graded[0]
    assert (out / "public" / "base_model" / "model.safetensors").is_file()
    lean = json.loads((out / "private" / "lean.json").read_text())
    assert lean["lean"] is None and lean["generated"] is False
    assert "no Lean toolchain" in done.stderr  # warned at prepare time, not only when grading


@pytest.mark.slow
def test_eval_model_says_why_compile_rate_has_no_value(
    tmp_path: Path, tiny_model: Path, results: Path, data_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from click.testing import CliRunner

    from mlab_hpc.cli import main

    monkeypatch.delenv("MLAB_LEAN_PROJECT", raising=False)
    args = ["eval-model", "--task", TASK, "--data", "generated", str(tiny_model)]

    done = CliRunner().invoke(main, args)

    assert done.exit_code == 0, done.output
    assert "compile_rate: compile_rate NOT MEASURED (no Lean 4 toolchain" in done.output
    assert "rouge_l" in done.output
