"""Data preparation for the mini-llm-merging task.

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the [[data.files]] downloads
    python scripts/prepare.py --generated --out DIR    # tiny experts and tiny sets, offline

Layout written (both modes):

    DIR/public/experts/<name>/          the expert models to merge (Hugging Face directories)
    DIR/private/mmlu_test.jsonl         MMLU questions: question, subject, choices, answer
    DIR/private/perplexity_test.jsonl   held-out texts for perplexity, {"text": ...} a line

Real mode: the experts' files are copied from RAW/experts/<name>/; MMLU's test split is cut to
MMLU_QUESTIONS questions drawn with a fixed seed; the perplexity texts are WikiText-2's test
lines. --generated writes two random-initialised 2-layer Llama experts of different seeds that
share one byte-level BPE tokenizer, and the same sets as mini-llm-efficiency's; the output is
byte-identical on every run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

try:
    from mlab_hpc.grader_lib import mlab_model_eval_data as data
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 31
MMLU_QUESTIONS = 1000
PERPLEXITY_LINES = 500
EXPERTS = ("qwen2.5-0.5b", "qwen2.5-0.5b-instruct")
EXPERT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def prepare_generated(out: Path) -> None:
    """Two tiny experts with one tokenizer, MMLU-schema questions, held-out texts."""
    texts = data.corpus(SEED, 200)
    for seed, name in enumerate(("expert_a", "expert_b")):
        data.tiny_model(out / "public" / "experts" / name, texts, seed=seed)
    data.write_jsonl(out / "private" / "mmlu_test.jsonl", data.mmlu_rows(SEED + 1, 40))
    data.write_jsonl(
        out / "private" / "perplexity_test.jsonl", data.text_rows(data.corpus(SEED + 2, 20))
    )


def prepare_raw(raw: Path, out: Path) -> None:
    """The real form from the downloaded files (see task.toml's [[data.files]])."""
    for name in EXPERTS:
        missing = [f for f in EXPERT_FILES if not (raw / "experts" / name / f).is_file()]
        if missing:
            sys.exit(f"prepare.py: {raw}/experts/{name}/{missing[0]} is missing")
        shutil.copytree(raw / "experts" / name, out / "public" / "experts" / name)
    rows = data.parquet_rows(raw / "mmlu_test.parquet", ["question", "subject", "choices",
                                                          "answer"])  # fmt: skip
    chosen = np.sort(np.random.default_rng(SEED).choice(len(rows), MMLU_QUESTIONS, replace=False))
    data.write_jsonl(out / "private" / "mmlu_test.jsonl", [rows[i] for i in chosen])
    lines = [r["text"].strip() for r in data.parquet_rows(raw / "wikitext_test.parquet", ["text"])]
    kept = [line for line in lines if line and not line.startswith("=")]
    data.write_jsonl(out / "private" / "perplexity_test.jsonl",
                     data.text_rows(kept[:PERPLEXITY_LINES]))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--raw", type=Path)
    group.add_argument("--generated", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.generated:
        prepare_generated(args.out)
    else:
        prepare_raw(args.raw, args.out)


if __name__ == "__main__":
    main()
