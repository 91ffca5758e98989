"""Data preparation for the edge-llm-training task (both forms: full and mini-edge-llm-training).

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the [[data.files]] downloads
    python scripts/prepare.py --generated --out DIR    # tiny sets of the same schemas, offline

Layout written (both modes):

    DIR/public/corpus/train/c4.txt, alpaca.txt   training documents, a blank line between two
    DIR/public/corpus/dev/c4.txt                 validation documents, the same way
    DIR/private/mmlu_test.jsonl                  MMLU questions: question, subject, choices, answer
    DIR/private/perplexity_test.jsonl            held-out texts, {"text": ...} a line

Real mode: the shards of C4's English training split the form fetched (mini: the first,
c4-train.00000-of-01024, 356k documents) and the first of its validation split, Alpaca's 52k
instruction/response pairs written as one document each, MMLU's test split cut to the form's
mmlu_questions ([params]) with a fixed seed, and
PERPLEXITY_DOCUMENTS C4 validation documents (kept out of the dev file). --generated writes a
toy corpus, 40 MMLU-schema questions and 20 texts; byte-identical on every run.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np

try:
    from mlab_hpc.grader_lib import mlab_model_eval_data as data
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 41
PERPLEXITY_DOCUMENTS = 500


def prepare_generated(out: Path) -> None:
    corpus = out / "public" / "corpus"
    data.write_documents(corpus / "train" / "c4.txt", data.corpus(SEED, 200))
    data.write_documents(corpus / "train" / "alpaca.txt", data.corpus(SEED + 1, 50))
    data.write_documents(corpus / "dev" / "c4.txt", data.corpus(SEED + 2, 20))
    data.write_jsonl(out / "private" / "mmlu_test.jsonl", data.mmlu_rows(SEED + 3, 40))
    data.write_jsonl(
        out / "private" / "perplexity_test.jsonl", data.text_rows(data.corpus(SEED + 4, 20))
    )


def c4_texts(path: Path) -> list[str]:
    if not path.is_file():
        raise PrepareError(f"{path} is missing; run prepare again")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines if line.strip()]


def prepare_raw(raw: Path, out: Path) -> None:
    corpus = out / "public" / "corpus"
    shards = sorted(raw.glob("c4-train.*.json.gz"))
    if not shards:
        raise PrepareError(f"no c4-train.*.json.gz in {raw}; run prepare again")
    data.write_documents(corpus / "train" / "c4.txt", [t for s in shards for t in c4_texts(s)])
    data.write_documents(
        corpus / "train" / "alpaca.txt", data.alpaca_texts(raw / "alpaca_train.parquet")
    )
    validation = c4_texts(raw / "c4-validation.00000-of-00008.json.gz")  # both forms
    held = set(np.random.default_rng(SEED).choice(len(validation), PERPLEXITY_DOCUMENTS, False))
    data.write_documents(corpus / "dev" / "c4.txt",
                         [t for i, t in enumerate(validation) if i not in held])  # fmt: skip
    data.write_jsonl(out / "private" / "perplexity_test.jsonl",
                     data.text_rows(validation[i] for i in sorted(held)))  # fmt: skip
    mmlu = data.mmlu_questions(raw / "mmlu_test.parquet", SEED)
    data.write_jsonl(out / "private" / "mmlu_test.jsonl", mmlu)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
