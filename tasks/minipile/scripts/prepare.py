"""Data preparation for the minipile task (both forms: full and mini-minipile).

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the [[data.files]] downloads
    python scripts/prepare.py --generated --out DIR    # tiny sets of the same schemas, offline

Layout written (both modes):

    DIR/public/corpus/train/minipile.txt    MiniPile training documents, a blank line between two
    DIR/public/corpus/dev/minipile.txt      MiniPile validation documents, the same way
    DIR/private/boolq_test.jsonl            SuperGLUE BoolQ: passage, question, label, idx
    DIR/private/rte_test.jsonl              SuperGLUE RTE: premise, hypothesis, label, idx
    DIR/private/perplexity_test.jsonl       MiniPile test documents, {"text": ...} a line

Real mode: the parquet shards of MiniPile's train split the form fetched (mini: the first,
about a twelfth of the 1M documents; full: all), its validation and test splits
(PERPLEXITY_DOCUMENTS test documents drawn with a fixed seed), and the validation splits of
BoolQ and RTE (SuperGLUE's test labels are not public). --generated writes a toy corpus and 40
BoolQ-schema and 40 RTE-schema rows; the output is byte-identical on every run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

try:
    from mlab_hpc.grader_lib import mlab_model_eval_data as data
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 29
PERPLEXITY_DOCUMENTS = 500


def prepare_generated(out: Path) -> None:
    """Toy documents, BoolQ- and RTE-schema rows, held-out documents."""
    corpus = out / "public" / "corpus"
    data.write_documents(corpus / "train" / "minipile.txt", data.corpus(SEED, 300))
    data.write_documents(corpus / "dev" / "minipile.txt", data.corpus(SEED + 1, 30))
    data.write_jsonl(out / "private" / "boolq_test.jsonl", data.boolq_rows(SEED + 2, 40))
    data.write_jsonl(out / "private" / "rte_test.jsonl", data.rte_rows(SEED + 3, 40))
    data.write_jsonl(
        out / "private" / "perplexity_test.jsonl", data.text_rows(data.corpus(SEED + 4, 20))
    )


def need(path: Path) -> Path:
    if not path.is_file():
        raise PrepareError(f"{path} is missing; run prepare again")
    return path


def prepare_raw(raw: Path, out: Path) -> None:
    """The real form from the downloaded files (see task.toml's [[data.files]])."""
    corpus = out / "public" / "corpus"
    # the form's training shards: every minipile_train*.parquet its [[data.files]] fetched
    shards = sorted(raw.glob("minipile_train*.parquet"))
    if not shards:
        raise PrepareError(f"no minipile_train*.parquet in {raw}; run prepare again")
    texts = [r["text"] for shard in shards for r in data.parquet_rows(shard, ["text"])]
    data.write_documents(corpus / "train" / "minipile.txt", texts)
    texts = [r["text"] for r in data.parquet_rows(need(raw / "minipile_validation.parquet"),
                                                  ["text"])]  # fmt: skip
    data.write_documents(corpus / "dev" / "minipile.txt", texts)
    test = [r["text"] for r in data.parquet_rows(need(raw / "minipile_test.parquet"), ["text"])]
    chosen = np.sort(np.random.default_rng(SEED).choice(len(test), PERPLEXITY_DOCUMENTS, False))
    data.write_jsonl(out / "private" / "perplexity_test.jsonl",
                     data.text_rows(test[i] for i in chosen))  # fmt: skip
    boolq = data.parquet_rows(need(raw / "boolq_validation.parquet"),
                              ["question", "passage", "idx", "label"])  # fmt: skip
    data.write_jsonl(out / "private" / "boolq_test.jsonl", boolq)
    rte = data.parquet_rows(need(raw / "rte_validation.parquet"),
                            ["premise", "hypothesis", "idx", "label"])  # fmt: skip
    data.write_jsonl(out / "private" / "rte_test.jsonl", rte)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
