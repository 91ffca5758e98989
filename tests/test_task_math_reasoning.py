"""The math-reasoning task (Lean 4 autoformalisation) and its text metrics.

ROUGE-L and BLEU are checked on strings small enough to count by hand, and against the
reference implementations installed with lm-eval (sacreBLEU, rouge-score). The grader runs for
real: the model in a nested bwrap sandbox through lm-eval's HFLM, lm-eval's generate_until
requests, on the tiny generated data. No Lean toolchain can be installed on this machine, so
the compile path is exercised up to the point where it must find one.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlab_hpc.grader_lib.mlab_text_metrics import corpus_bleu, lcs_length, rouge_l, tokens

TASK = "mini-math-reasoning"

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
    # Clipped precisions 5/6, 3/5, 2/4, 1/3 (counted in the docstring of corpus_bleu's test);
    # equal lengths, no brevity penalty: BLEU = (1/12) ** (1/4).
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
