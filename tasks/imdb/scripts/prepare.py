"""Data preparation for the imdb task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW holds the Hub's files (below)
    python scripts/prepare.py --generated --out DIR       # a small synthetic data set, offline

RAW holds the files exactly as the Hugging Face Hub serves them:

    plain_text/train-00000-of-00001.parquet          dataset stanfordnlp/imdb (text, label)
    plain_text/test-00000-of-00001.parquet
    plain_text/unsupervised-00000-of-00001.parquet   unlabelled reviews (label -1)
    distilbert-base-uncased/config.json, vocab.txt, tokenizer.json, tokenizer_config.json,
                            model.safetensors        the pretrained model, for offline use

The published split is kept: the official train split becomes DIR/public/train.parquet
(text, label), the official test split DIR/public/test.parquet (idx, text: idx is the row's
position in the official test split, 0, 1, ...) with its labels in DIR/private/answer.csv
(idx, label), and the unlabelled reviews DIR/public/unsupervised.parquet (text, label).
DIR/public/sample_submission.csv gives every test review the probabilities 0.5 and 0.5.
The model's files are copied unchanged to DIR/public/distilbert-base-uncased/. Review texts
are copied unchanged (they keep their "<br />" tags).

--generated writes a few hundred short synthetic reviews in the same files and schema
(without the model: its weights cannot be made up); each review's words lean towards its
label, so a model has something to learn. The output is byte-identical on every run.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main, write_csv

SPLITS = {
    "train": "plain_text/train-00000-of-00001.parquet",
    "test": "plain_text/test-00000-of-00001.parquet",
    "unsupervised": "plain_text/unsupervised-00000-of-00001.parquet",
}
MODEL_DIR = "distilbert-base-uncased"
MODEL_FILES = (
    "config.json",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "model.safetensors",
)
LABELLED = pa.schema([("text", pa.string()), ("label", pa.int64())])
TEST = pa.schema([("idx", pa.int64()), ("text", pa.string())])
GENERATED_SIZES = {"train": 600, "test": 200, "unsupervised": 100}
GENERATED_SEED = 20_110_619


def write_parquet(path: Path, table: pa.Table) -> None:
    """Write `table` as one Parquet file (same bytes for the same table and pyarrow)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")


def labelled(texts: Sequence[str], labels: Sequence[int]) -> pa.Table:
    """A (text, label) table in the Hub's schema."""
    return pa.table([pa.array(texts, pa.string()), pa.array(labels, pa.int64())], LABELLED)


def write_splits(train: pa.Table, test: pa.Table, unsupervised: pa.Table, out: Path) -> None:
    """Write the public parquet files, the sample submission and private/answer.csv."""
    public = out / "public"
    write_parquet(public / "train.parquet", train)
    write_parquet(public / "unsupervised.parquet", unsupervised)
    idx = list(range(test.num_rows))
    test_texts = pa.table([pa.array(idx, pa.int64()), test.column("text")], TEST)
    write_parquet(public / "test.parquet", test_texts)
    write_csv(public / "sample_submission.csv", ("idx", "0", "1"), ((i, 0.5, 0.5) for i in idx))
    answers = zip(idx, test.column("label").to_pylist(), strict=True)
    write_csv(out / "private" / "answer.csv", ("idx", "label"), answers)


# --- --raw -------------------------------------------------------------------------------------


def read_split(raw: Path, split: str) -> pa.Table:
    """One split of the Hub's parquet files as a (text, label) table, checked."""
    path = raw / SPLITS[split]
    if not path.is_file():
        raise PrepareError(f"{SPLITS[split]} is missing from {raw}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise PrepareError(f"{SPLITS[split]} is not a parquet file: {error}") from None
    missing = [name for name in LABELLED.names if name not in table.column_names]
    if missing:
        raise PrepareError(f"{SPLITS[split]} has no {', '.join(missing)} column")
    try:
        table = table.select(LABELLED.names).cast(LABELLED)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise PrepareError(
            f"{SPLITS[split]}: text must be text, label an integer ({error})"
        ) from None
    if table.num_rows == 0:
        raise PrepareError(f"{SPLITS[split]} has no reviews")
    if table.column("text").null_count or table.column("label").null_count:
        raise PrepareError(f"{SPLITS[split]} has a review without its text or label")
    allowed = {-1} if split == "unsupervised" else {0, 1}
    found = set(table.column("label").to_pylist())
    if not found <= allowed:
        raise PrepareError(
            f"{SPLITS[split]} has labels {sorted(found - allowed)} (expected {sorted(allowed)})"
        )
    return table


def copy_model(raw: Path, out: Path) -> None:
    """Copy the pretrained model's files, unchanged, to public/distilbert-base-uncased/."""
    missing = [name for name in MODEL_FILES if not (raw / MODEL_DIR / name).is_file()]
    if missing:
        raise PrepareError(f"{MODEL_DIR}/ lacks {', '.join(missing)} in {raw}")
    target = out / "public" / MODEL_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copyfile(raw / MODEL_DIR / name, target / name)


def prepare_raw(raw: Path, out: Path) -> None:
    """The published split of the Hub's files, and the model for offline fine-tuning."""
    tables = {split: read_split(raw, split) for split in SPLITS}
    copy_model(raw, out)
    write_splits(tables["train"], tables["test"], tables["unsupervised"], out)


# --- --generated -------------------------------------------------------------------------------

POSITIVE = (
    "wonderful", "brilliant", "moving", "superb", "delightful", "gripping", "charming",
    "masterful", "beautiful", "hilarious", "touching", "excellent",
)  # fmt: skip
NEGATIVE = (
    "boring", "awful", "dull", "clumsy", "terrible", "pointless", "tedious", "wooden",
    "predictable", "dreadful", "bland", "messy",
)  # fmt: skip
SUBJECTS = (
    "the acting", "the plot", "the script", "the soundtrack", "the ending", "the director's work",
    "the cast", "the dialogue", "the camera work", "the pacing", "this film", "the story",
)  # fmt: skip
FILLERS = (
    "I saw it last week", "my friends came along", "it runs about two hours",
    "it was made in the eighties", "the cinema was half empty", "I rented it on a whim",
    "it is based on a novel", "there is a long flashback",
)  # fmt: skip
VERDICTS = ("was", "felt", "seemed", "is")


def review(rng: np.random.Generator, label: int) -> str:
    """A short review whose sentiment words mostly (not always) follow `label`."""
    sentences = []
    for _ in range(int(rng.integers(3, 7))):
        if rng.random() < 0.3:
            sentences.append(str(rng.choice(FILLERS)))
            continue
        agrees = rng.random() < 0.8
        words = POSITIVE if (label == 1) == agrees else NEGATIVE
        subject, verb = str(rng.choice(SUBJECTS)), str(rng.choice(VERDICTS))
        sentences.append(f"{subject} {verb} {rng.choice(words)}")
    text = ". ".join(sentence[0].upper() + sentence[1:] for sentence in sentences) + "."
    if rng.random() < 0.2:
        text = text.replace(". ", ".<br /><br />", 1)  # the real reviews keep such tags
    return text


def generated_split(rng: np.random.Generator, n: int, unlabelled: bool) -> pa.Table:
    """`n` synthetic reviews, labels balanced at random (-1 for the unlabelled split)."""
    labels = [int(value) for value in rng.integers(0, 2, size=n)]
    texts = [review(rng, label) for label in labels]
    return labelled(texts, [-1] * n if unlabelled else labels)


def prepare_generated(out: Path) -> None:
    """A small synthetic data set in the real files and schema (no model files)."""
    rng = np.random.default_rng(GENERATED_SEED)
    tables = {
        split: generated_split(rng, n, split == "unsupervised")
        for split, n in GENERATED_SIZES.items()
    }
    write_splits(tables["train"], tables["test"], tables["unsupervised"], out)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
