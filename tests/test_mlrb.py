"""The model deliverable (mlab_model_eval) and the ML Research Benchmark tasks.

Graders run for real: the model loads in a nested bwrap sandbox through lm-eval's HFLM, and
lm-eval-harness builds the requests and computes the metrics, on the tiny generated data.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lm_eval")

from mlab_hpc.grader_lib import mlab_model_eval as model_eval  # noqa: E402
from mlab_hpc.grader_lib.mlab_model_eval import LocalTask, ModelRules  # noqa: E402
from mlab_hpc.grader_lib.mlab_untrusted import Untrusted  # noqa: E402
from mlab_hpc.taskspec import get_task  # noqa: E402
from tests.task_helpers import (  # noqa: E402
    COMPLETED,
    baseline_run,
    generated_twice,
    run_grader,
)

MLRB_TASKS = [
    "mini-llm-efficiency",
    "mini-baby-lm",
    "mini-minipile",
    "mini-llm-merging",
    "mini-edge-llm-compression",
    "mini-edge-llm-training",
]
FULL_TASKS = [task_id.removeprefix("mini-") for task_id in MLRB_TASKS]  # the 24 h forms

# Eight questions whose right answers are A, A, B, C, D, A, B, C: a model that always answers
# A is right on 3 of them.
ANSWERS = [0, 0, 1, 2, 3, 0, 1, 2]
TEXTS = ["The old star moves the river.", "A cold engine keeps the bone."]


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny generated base model of mini-llm-efficiency (built once per module)."""
    out = tmp_path_factory.mktemp("prepared")
    task = get_task("mini-llm-efficiency")
    subprocess.run(
        [sys.executable, str(task.prepare_script), "--generated", "--out", str(out)],
        check=True, capture_output=True, timeout=300, env={**os.environ, **task.script_env()},
    )  # fmt: skip
    return out / "public" / "base_model"


def case(tmp_path: Path, base_model: Path) -> tuple[Path, Path]:
    """A workspace whose output/ is a copy of the base model, and an answer key of 8 questions
    (right answers ANSWERS) and two texts (TEXTS)."""
    workspace, answers = tmp_path / "ws", tmp_path / "answers"
    shutil.copytree(base_model, workspace / "output")
    answers.mkdir()
    rows = [
        {"question": f"Question {i}?", "subject": "x", "choices": ["p", "q", "r", "s"],
         "answer": answer}
        for i, answer in enumerate(ANSWERS)
    ]  # fmt: skip
    (answers / "mmlu_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (answers / "perplexity_test.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in TEXTS)
    )
    return workspace, answers


def uniform(model_dir: Path) -> None:
    """Zero the output layer: every token gets probability 1/V whatever the input, so every
    answer letter ties and lm-eval's argmax picks the first choice, A."""
    from safetensors.torch import load_file, save_file

    path = model_dir / "model.safetensors"
    weights = load_file(path)
    weights["lm_head.weight"].zero_()
    save_file(weights, path, metadata={"format": "pt"})


def rules(**changes: Any) -> ModelRules:
    base = ModelRules(
        tasks=(
            LocalTask("mmlu", "multiple_choice", "mmlu_test.jsonl"),
            LocalTask("wikitext", "rolling", "perplexity_test.jsonl"),
        ),
        primary=("accuracy", "mmlu_acc"),
        max_parameters=10_000_000,
        max_bytes=100_000_000,
    )
    return ModelRules(**{**base.__dict__, **changes})


@pytest.mark.slow
def test_a_model_that_always_answers_a_scores_three_eighths(
    tmp_path: Path, base_model: Path
) -> None:
    workspace, answers = case(tmp_path, base_model)
    uniform(workspace / "output")

    result = run_grader("mini-llm-efficiency", workspace, answers, timeout=600)

    assert result["valid"], result["reason"]
    metrics = result["metrics"]
    assert metrics["accuracy"] == metrics["mmlu_acc"] == pytest.approx(3 / 8)
    assert metrics["mmlu_acc_norm"] == pytest.approx(3 / 8)
    # uniform over V tokens: each of the texts' tokens costs ln V
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(workspace / "output")
    vocab = len(tokenizer)
    tokens = sum(len(tokenizer(text).input_ids) for text in TEXTS)
    words = sum(len(text.split()) for text in TEXTS)
    assert metrics["perplexity"] == pytest.approx(math.exp(tokens * math.log(vocab) / words))
    assert metrics["parameters"] == metrics["trainable_parameters"] > 0
    assert metrics["tokens_per_s"] > 0 and metrics["latency_s"] > 0
    assert metrics["answers_hidden"] == 1.0


def test_an_oversized_model_is_refused_before_it_loads(tmp_path: Path, base_model: Path) -> None:
    workspace, answers = case(tmp_path, base_model)
    declared = model_eval.safetensors_parameters(workspace / "output" / "model.safetensors")
    out = tmp_path / "out"
    out.mkdir()

    result = model_eval.grade_model(workspace, answers, out, rules(max_parameters=declared - 1))
    assert not result["valid"]
    assert (
        f"declare {declared} parameters, over the task's cap of {declared - 1}" in result["reason"]
    )
    result = model_eval.grade_model(workspace, answers, out, rules(max_bytes=1000))
    assert not result["valid"] and "over the task's cap of 1000 bytes" in result["reason"]


def test_a_directory_without_a_model_is_invalid(tmp_path: Path, base_model: Path) -> None:
    workspace, answers = case(tmp_path, base_model)
    (workspace / "output" / "config.json").unlink()

    result = run_grader("mini-llm-efficiency", workspace, answers)

    assert not result["valid"] and "output/config.json is missing" in result["reason"]


CHEAT = """
from pathlib import Path

from transformers import LlamaForCausalLM

try:
    KEY = Path({key!r}).read_text()
except OSError:
    KEY = ""
if not KEY.strip():  # hidden: no file, or an empty one in its place
    raise RuntimeError("the answer key is not readable")


class Cheat(LlamaForCausalLM):
    pass
"""


def cheating_case(tmp_path: Path, base_model: Path) -> tuple[Path, Path]:
    """A model whose own code (auto_map) reads the answer key when it loads."""
    workspace, answers = case(tmp_path, base_model)
    output = workspace / "output"
    (output / "cheat.py").write_text(CHEAT.format(key=str(answers / "mmlu_test.jsonl")))
    config = json.loads((output / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "cheat.Cheat"}
    (output / "config.json").write_text(json.dumps(config))
    return workspace, answers


def test_a_model_reading_the_answers_finds_them_hidden_and_is_refused(
    tmp_path: Path, base_model: Path, bwrap: Any
) -> None:
    workspace, answers = cheating_case(tmp_path, base_model)

    result = run_grader("mini-llm-efficiency", workspace, answers, timeout=300)

    assert not result["valid"]
    assert "loading the model raised" in result["reason"]
    assert "the answer key is not readable" in result["reason"]


def test_without_the_nested_sandbox_a_model_with_code_is_refused(
    tmp_path: Path, base_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unhidden(argv: list[str], **_: Any) -> Untrusted:
        return Untrusted(list(argv), dict(os.environ), hidden=False)

    monkeypatch.setattr(model_eval, "untrusted_command", unhidden)
    workspace, answers = cheating_case(tmp_path, base_model)
    out = tmp_path / "out"
    out.mkdir()

    result = model_eval.grade_model(workspace, answers, out, rules())

    assert not result["valid"]
    assert "ships code" in result["reason"] and "no nested sandbox" in result["reason"]
    assert sorted(p.name for p in out.iterdir()) == []  # scratch and cache removed


@pytest.mark.slow
@pytest.mark.parametrize("task_id", MLRB_TASKS + FULL_TASKS)
def test_smoke_run_lands_its_scores_in_parquet(
    task_id: str, results: Path, data_root: Path
) -> None:
    row = baseline_run(task_id, results, "--smoke")

    assert (row["status"], row["final_valid"], row["data_mode"]) == COMPLETED
    assert 0.0 <= row["final_score"] <= 1.0


@pytest.mark.slow
def test_eval_model_grades_a_directory_made_elsewhere(
    tmp_path: Path, base_model: Path, results: Path, data_root: Path
) -> None:
    from click.testing import CliRunner

    from mlab_hpc.cli import main

    model = tmp_path / "somewhere" / "my-model"
    shutil.copytree(base_model, model)
    uniform(model)
    args = ["eval-model", "--task", "mini-llm-efficiency", "--data", "generated", "--json"]

    done = CliRunner().invoke(main, [*args, str(model)])

    assert done.exit_code == 0, done.output
    document = json.loads(done.output[done.output.index("{") :])
    assert document["valid"] and document["metric"] == "accuracy"
    assert document["score"] == document["metrics"]["mmlu_acc"]  # the generated questions
    assert document["metrics"]["parameters"] > 0
    assert not list(results.rglob("*.parquet"))  # nothing written to the result tables


def test_eval_model_refuses_a_task_that_delivers_no_model(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlab_hpc.cli import main

    done = CliRunner().invoke(main, ["eval-model", "--task", "house-price", str(tmp_path)])

    assert done.exit_code != 0
    assert "delivers a submission, not a model" in done.output


@pytest.mark.slow
def test_blimp_pairs_by_hand_a_uniform_model_prefers_the_shorter_sentence(
    tmp_path: Path, base_model: Path
) -> None:
    # Every token costs ln V, so the sentence with fewer tokens wins: the grammatical one in
    # three pairs of four (the fourth's bad sentence is the shorter).
    workspace, answers = case(tmp_path, base_model)
    uniform(workspace / "output")
    pairs = [
        ("The star moves.", "The star moves moves the."),
        ("A cell grows.", "A cell grows grows grows."),
        ("The king holds the bone.", "The king holds the the bone bone."),
        ("The old atom turns the river.", "Atom turns."),
    ]
    (answers / "blimp_test.jsonl").write_text(
        "".join(json.dumps({"sentence_good": g, "sentence_bad": b}) + "\n" for g, b in pairs)
    )
    (answers / "mmlu_test.jsonl").rename(answers / "unused.jsonl")

    result = run_grader("mini-baby-lm", workspace, answers, timeout=600)

    assert result["valid"], result["reason"]
    assert result["metrics"]["blimp_accuracy"] == pytest.approx(3 / 4)


def predicted(tokenizer: Any, context: str, choices: list[str]) -> int:
    """The choice a uniform model picks: the fewest continuation tokens (as lm-eval's HFLM
    splits context and continuation), the first one on a tie."""
    base = len(tokenizer(context).input_ids)
    counts = [len(tokenizer(context + " " + c).input_ids) - base for c in choices]
    return counts.index(min(counts))


@pytest.mark.slow
def test_superglue_by_hand_a_uniform_model_picks_the_shortest_answer(
    tmp_path: Path, base_model: Path
) -> None:
    from transformers import AutoTokenizer

    workspace, answers = case(tmp_path, base_model)
    uniform(workspace / "output")
    tokenizer = AutoTokenizer.from_pretrained(workspace / "output")
    boolq = [{"passage": "The star moves.", "question": "does the star move", "label": label,
              "idx": i} for i, label in enumerate([0, 1, 1, 0])]  # fmt: skip
    rte = [{"premise": "The cell grows.", "hypothesis": "The cell grows.", "label": label,
            "idx": i} for i, label in enumerate([0, 0, 0, 1])]  # fmt: skip
    for name, rows in (("boolq_test.jsonl", boolq), ("rte_test.jsonl", rte)):
        (answers / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    pick_boolq = predicted(tokenizer, "The star moves.\nQuestion: does the star move?\nAnswer:",
                           ["no", "yes"])  # fmt: skip
    pick_rte = predicted(tokenizer, "The cell grows.\nQuestion: The cell grows. True or "
                         "False?\nAnswer:", ["True", "False"])  # fmt: skip
    expected_boolq = sum(r["label"] == pick_boolq for r in boolq) / 4
    expected_rte = sum(r["label"] == pick_rte for r in rte) / 4

    result = run_grader("mini-minipile", workspace, answers, timeout=600)

    assert result["valid"], result["reason"]
    metrics = result["metrics"]
    assert metrics["boolq_acc"] == pytest.approx(expected_boolq)
    assert metrics["rte_acc"] == pytest.approx(expected_rte)
    assert metrics["superglue_accuracy"] == pytest.approx((expected_boolq + expected_rte) / 2)


@pytest.mark.slow
@pytest.mark.parametrize("task_id", MLRB_TASKS)
def test_generated_data_is_byte_identical(task_id: str, tmp_path: Path) -> None:
    first = generated_twice(task_id, tmp_path)
    assert (first / "private").is_dir() and (first / "public").is_dir()


def test_a_model_without_safetensors_is_counted_once_loaded(
    tmp_path: Path, base_model: Path
) -> None:
    # pickled weights declare nothing: the cap is checked on the loaded model instead
    import torch
    from safetensors.torch import load_file

    workspace, answers = case(tmp_path, base_model)
    output = workspace / "output"
    weights = load_file(output / "model.safetensors")
    (output / "model.safetensors").unlink()
    torch.save(weights, output / "pytorch_model.bin")
    total = sum(tensor.numel() for tensor in weights.values())
    out = tmp_path / "out"
    out.mkdir()

    result = model_eval.grade_model(workspace, answers, out, rules(max_parameters=total - 1))

    assert not result["valid"]
    assert f"the loaded model has {total} parameters, over the task's cap" in result["reason"]


def test_quantised_weights_are_refused_where_the_task_forbids_them(
    tmp_path: Path, base_model: Path
) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    workspace, answers = case(tmp_path, base_model)
    path = workspace / "output" / "model.safetensors"
    weights = load_file(path)
    weights["lm_head.weight"] = weights["lm_head.weight"].to(torch.int8)
    save_file(weights, path, metadata={"format": "pt"})
    out = tmp_path / "out"
    out.mkdir()
    allowed = ("float16", "bfloat16", "float32")

    result = model_eval.grade_model(workspace, answers, out, rules(allowed_dtypes=allowed))

    assert not result["valid"]
    assert "stored as int8; the task allows only float16, bfloat16, float32" in result["reason"]


def bfloat16_case(tmp_path: Path, base_model: Path) -> tuple[Path, Path]:
    """The tiny base model with its weights stored in bfloat16, and the 8-question key."""
    import torch
    from safetensors.torch import load_file, save_file

    workspace, answers = case(tmp_path, base_model)
    path = workspace / "output" / "model.safetensors"
    weights = {name: t.to(torch.bfloat16) for name, t in load_file(path).items()}
    save_file(weights, path, metadata={"format": "pt"})
    return workspace, answers


def test_the_full_compression_form_refuses_bfloat16_its_params_forbid(
    tmp_path: Path, base_model: Path
) -> None:
    # one eval.py, two forms: the full form allows float16/32 only (published), the mini
    # form bfloat16 too; the grader knows which from $MLAB_TASK_PARAMS
    workspace, answers = bfloat16_case(tmp_path, base_model)

    result = run_grader("edge-llm-compression", workspace, answers)

    assert not result["valid"]
    assert "stored as bfloat16; the task allows only float16, float32" in result["reason"]


@pytest.mark.slow
def test_the_mini_compression_form_grades_the_same_bfloat16_model(
    tmp_path: Path, base_model: Path
) -> None:
    workspace, answers = bfloat16_case(tmp_path, base_model)

    result = run_grader("mini-edge-llm-compression", workspace, answers, timeout=600)

    assert result["valid"], result["reason"]
    assert result["metrics"]["accuracy"] == result["metrics"]["mmlu_acc"]


def test_each_form_grader_enforces_its_own_size_cap(tmp_path: Path, base_model: Path) -> None:
    workspace, answers = case(tmp_path, base_model)
    size = sum(p.stat().st_size for p in (workspace / "output").iterdir())
    cap = size - 1  # one byte short: refused before the model loads
    params = {**get_task("mini-llm-efficiency").params, "max_bytes": cap}

    result = run_grader("mini-llm-efficiency", workspace, answers,
                        env={"MLAB_TASK_PARAMS": json.dumps(params)})  # fmt: skip

    assert not result["valid"] and f"over the task's cap of {cap} bytes" in result["reason"]


def test_a_grader_without_its_params_says_how_to_get_them(tmp_path: Path) -> None:
    task = get_task("mini-llm-efficiency")
    env = {k: v for k, v in os.environ.items() if k != "MLAB_TASK_PARAMS"}
    args = ["--workspace", str(tmp_path), "--answers", str(tmp_path), "--out", str(tmp_path / "o")]

    done = subprocess.run([sys.executable, str(task.eval_script), *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip

    assert done.returncode != 0
    assert "MLAB_TASK_PARAMS is not set: run this script through mlab-hpc" in done.stderr


def test_model_rules_take_the_forms_caps() -> None:
    tasks = (LocalTask("mmlu", "multiple_choice", "mmlu_test.jsonl"),)
    full = model_eval.model_rules(tasks, ("accuracy", "mmlu_acc"),
                                  get_task("edge-llm-compression").params)  # fmt: skip
    mini = model_eval.model_rules(tasks, ("accuracy", "mmlu_acc"),
                                  get_task("mini-edge-llm-compression").params)  # fmt: skip

    assert (full.max_bytes, full.allowed_dtypes) == (12 * 10**9, ("float16", "float32"))
    assert (mini.max_bytes, mini.max_parameters) == (600 * 10**6, 500_000_000)
    assert mini.allowed_dtypes == ("float16", "bfloat16", "float32")
    assert full.budget_s > mini.budget_s == 3300
