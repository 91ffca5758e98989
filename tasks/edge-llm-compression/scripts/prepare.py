"""Data preparation for the edge-llm-compression task (both forms: full and mini-).

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the [[data.files]] downloads
    python scripts/prepare.py --generated --out DIR    # a tiny model and tiny sets, offline

Layout written (both modes):

    DIR/public/base_model/          the approved base model (Hugging Face directory)
    DIR/public/data/calibration.jsonl   texts for calibration or recovery training, {"text": ...}
    DIR/public/data/caps.json       the form's caps: max_bytes, max_parameters, allowed_dtypes
    DIR/private/mmlu_test.jsonl     MMLU questions: question, subject, choices, answer
    DIR/private/perplexity_test.jsonl   held-out texts for perplexity, {"text": ...} a line

Real mode: the base model's files are copied from RAW/base_model/; MMLU's test split
(cais/mmlu, "all", parquet) is cut to the form's mmlu_questions ([params]) drawn with a fixed
seed; public/data/caps.json holds the form's caps (both modes); the perplexity texts are the
non-blank lines of WikiText-2's test split; the training texts are Alpaca's
instruction/response pairs written as one text each (for calibration or a short recovery fine-
tune). --generated writes a random-initialised 2-layer Llama model with a byte-level BPE
tokenizer trained on a toy corpus, and sets of the same schemas; the output is byte-identical
on every run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

try:
    from mlab_hpc.grader_lib import mlab_model_eval_data as data
    from mlab_hpc.grader_lib.mlab_prepare import prepare_main, task_params
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 37
PERPLEXITY_LINES = 500


def write_caps(out: Path) -> None:
    """public/data/caps.json: the form's size caps, which the starter compresses to."""
    params = task_params(("max_bytes", "max_parameters"))
    caps = {key: params[key] for key in ("max_bytes", "max_parameters", "allowed_dtypes")
            if key in params}  # fmt: skip
    path = out / "public" / "data" / "caps.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(caps, sort_keys=True, indent=1) + "\n")


def prepare_generated(out: Path) -> None:
    """The tiny offline form: a random tiny model, toy texts, MMLU-schema questions."""
    texts = data.corpus(SEED, 200)
    data.tiny_model(out / "public" / "base_model", texts)
    write_caps(out)
    data.write_jsonl(out / "public" / "data" / "calibration.jsonl", data.text_rows(texts))
    data.write_jsonl(out / "private" / "mmlu_test.jsonl", data.mmlu_rows(SEED + 1, 40))
    data.write_jsonl(
        out / "private" / "perplexity_test.jsonl", data.text_rows(data.corpus(SEED + 2, 20))
    )


def prepare_raw(raw: Path, out: Path) -> None:
    """The real form from the downloaded files (see task.toml's [[data.files]])."""
    data.copy_model(raw / "base_model", out / "public" / "base_model")
    write_caps(out)
    mmlu = data.mmlu_questions(raw / "mmlu_test.parquet", SEED)
    data.write_jsonl(out / "private" / "mmlu_test.jsonl", mmlu)
    kept = data.wikitext_lines(raw / "wikitext_test.parquet")[:PERPLEXITY_LINES]
    data.write_jsonl(out / "private" / "perplexity_test.jsonl", data.text_rows(kept))
    texts = data.alpaca_texts(raw / "alpaca_train.parquet")
    data.write_jsonl(out / "public" / "data" / "calibration.jsonl", data.text_rows(texts))


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
