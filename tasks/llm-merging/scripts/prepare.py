"""Data preparation for the llm-merging task (both forms: full and mini-llm-merging).

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the [[data.files]] downloads
    python scripts/prepare.py --generated --out DIR    # tiny experts and tiny sets, offline

Layout written (both modes):

    DIR/public/experts/<name>/          the expert models to merge (Hugging Face directories)
    DIR/private/mmlu_test.jsonl         MMLU questions: question, subject, choices, answer
    DIR/private/perplexity_test.jsonl   held-out texts for perplexity, {"text": ...} a line

Real mode: the experts' files are copied from RAW/experts/<name>/ (every folder the form's
[[data.files]] fill); MMLU's test split is cut to the form's mmlu_questions ([params]) drawn
with a fixed seed; the perplexity texts are WikiText-2's test lines. --generated writes two
random-initialised 2-layer Llama experts of different seeds that share one byte-level BPE
tokenizer, and the same sets as mini-llm-efficiency's; the output is byte-identical on every
run."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from mlab_hpc.grader_lib import mlab_model_eval_data as data
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 31
PERPLEXITY_LINES = 500


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
    experts = sorted(p for p in (raw / "experts").glob("*") if p.is_dir())
    if len(experts) < 2:
        raise PrepareError(f"{raw}/experts holds {len(experts)} expert folders, not 2 or more")
    for folder in experts:  # the form's experts: the folders its [[data.files]] fill
        data.copy_model(folder, out / "public" / "experts" / folder.name)
    mmlu = data.mmlu_questions(raw / "mmlu_test.parquet", SEED)
    data.write_jsonl(out / "private" / "mmlu_test.jsonl", mmlu)
    kept = data.wikitext_lines(raw / "wikitext_test.parquet")[:PERPLEXITY_LINES]
    data.write_jsonl(out / "private" / "perplexity_test.jsonl", data.text_rows(kept))


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
