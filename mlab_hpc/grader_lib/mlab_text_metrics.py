"""Text-overlap metrics of a generated text against a reference: ROUGE-L and BLEU.

Both work on the same tokens: ``tokens`` splits a text into runs of word characters and single
other non-space characters, so that code such as Lean's ``(h₀ : x = 2) := by`` becomes
``( h₀ : x = 2 ) : = by``; case is kept (code is case-sensitive).

- ``rouge_l(reference, candidate)``: the F1 of the longest common subsequence of tokens
  (precision LCS / candidate length, recall LCS / reference length), as the ROUGE-L of Lin
  (2004) with equal weights; 1.0 when both are empty, 0.0 when only one is.
- ``corpus_bleu(pairs)``: BLEU-4 of Papineni et al. (2002) over a whole corpus of
  (reference, candidate) pairs, one reference each: clipped n-gram precisions for n = 1..4
  summed over the corpus, their geometric mean, times the brevity penalty
  exp(1 - r / c) when the candidates' total length c is below the references' total r.
  No smoothing: a corpus without a single matching 4-gram scores 0. The value is in [0, 1]
  (sacreBLEU prints the same number times 100).

Used by graders (the harness mounts this folder on the grader's PYTHONPATH); pure Python,
no dependencies.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

TOKEN = re.compile(r"\w+|[^\w\s]")
BLEU_ORDER = 4


def tokens(text: str) -> list[str]:
    """The text's tokens: runs of word characters, and every other non-space character alone."""
    return TOKEN.findall(text)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """The length of the longest common subsequence of two token lists (O(len a * len b))."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F1 of ``candidate`` against ``reference`` (token LCS), in [0, 1]."""
    ref, cand = tokens(reference), tokens(candidate)
    if not ref and not cand:
        return 1.0
    common = lcs_length(ref, cand)
    if common == 0:
        return 0.0
    precision, recall = common / len(cand), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """The multiset of n-grams of a token list."""
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(pairs: Iterable[tuple[str, str]]) -> float:
    """Corpus BLEU-4 (no smoothing) of (reference, candidate) pairs, in [0, 1]; 0.0 for none."""
    matches = [0] * BLEU_ORDER
    totals = [0] * BLEU_ORDER
    ref_length = cand_length = 0
    for reference, candidate in pairs:
        ref, cand = tokens(reference), tokens(candidate)
        ref_length += len(ref)
        cand_length += len(cand)
        for n in range(1, BLEU_ORDER + 1):
            cand_grams, ref_grams = ngrams(cand, n), ngrams(ref, n)
            matches[n - 1] += sum(min(c, ref_grams[g]) for g, c in cand_grams.items())
            totals[n - 1] += max(0, len(cand) - n + 1)
    if cand_length == 0 or any(m == 0 for m in matches):
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True))
    penalty = 1.0 if cand_length > ref_length else math.exp(1 - ref_length / cand_length)
    return penalty * math.exp(log_precision / BLEU_ORDER)
