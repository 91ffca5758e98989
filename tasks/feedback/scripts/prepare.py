"""Data preparation for the feedback task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW holds Kaggle's train.csv
    python scripts/prepare.py --generated --out DIR       # a small synthetic data set, offline

Only Kaggle's labelled train.csv is used (its test.csv has no scores). RAW/train.csv is read
as delivered; when the competition zip was left packed, train.csv is read from inside it.
The rows are shuffled with a fixed seed (numpy default_rng(42).permutation); the first 98%
(floor(98 n / 100)) of the shuffled rows become DIR/public/train.csv, the rest
DIR/public/test.csv (text_id, full_text), with their scores in DIR/private/answer.csv
(text_id and the six measures). DIR/public/sample_submission.csv gives every test essay the
score 3.0. Values are copied as text, unchanged (essays keep their line breaks).

--generated writes 500 short synthetic essays with ids and scores in the real format; the
scores follow the length, the variety of words and the number of planted mistakes, so that a
model has something to learn. The output is byte-identical on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import (
    PrepareError,
    prepare_main,
    read_delivered_csv,
    write_csv,
)

SPLIT_SEED = 42
TRAIN_PERCENT = 98
MEASURES = ("cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions")
COLUMNS = ("text_id", "full_text", *MEASURES)
GENERATED_ROWS = 500
GENERATED_SEED = 20_240_604
SCORES = {f"{value / 2:.1f}" for value in range(2, 11)}  # 1.0, 1.5, ..., 5.0


def check_table(header: list[str], rows: list[list[str]]) -> None:
    """Raise PrepareError unless the columns are there, ids unique and scores 1.0 to 5.0."""
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise PrepareError(f"train.csv has no {', '.join(missing)} column")
    if len(rows) < 2:
        raise PrepareError(f"train.csv has {len(rows)} essays; at least 2 are needed")
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise PrepareError(f"train.csv essay {number} has {len(row)} fields, not {len(header)}")
        text_id = row[header.index("text_id")]
        if text_id in seen:
            raise PrepareError(f"train.csv essay {number} repeats text_id {text_id}")
        seen.add(text_id)
        for measure in MEASURES:
            value = row[header.index(measure)]
            try:
                ok = f"{float(value):.1f}" in SCORES
            except ValueError:
                ok = False
            if not ok:
                raise PrepareError(f"train.csv essay {text_id} has {measure} {value!r}")


def split(header: list[str], rows: list[list[str]], out: Path) -> None:
    """Write public/train.csv, test.csv, sample_submission.csv and private/answer.csv."""
    check_table(header, rows)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(rows))
    shuffled = [rows[index] for index in order]
    n_train = len(rows) * TRAIN_PERCENT // 100
    train_rows, test_rows = shuffled[:n_train], shuffled[n_train:]

    def pick(row: Sequence[str], names: Sequence[str]) -> list[str]:
        return [row[header.index(name)] for name in names]

    public = out / "public"
    write_csv(public / "train.csv", header, train_rows)
    write_csv(public / "test.csv", COLUMNS[:2], (pick(row, COLUMNS[:2]) for row in test_rows))
    sample = ([row[header.index("text_id")], *["3.0"] * len(MEASURES)] for row in test_rows)
    write_csv(public / "sample_submission.csv", ("text_id", *MEASURES), sample)
    answers = (pick(row, ("text_id", *MEASURES)) for row in test_rows)
    write_csv(out / "private" / "answer.csv", ("text_id", *MEASURES), answers)


# --- --generated ---------------------------------------------------------------------------

OPENINGS = (
    "I think that", "In my opinion", "Some people believe that", "Many students say that",
    "I agree that", "I disagree that",
)  # fmt: skip
TOPICS = (
    "students should take online classes", "schools should start later in the day",
    "community service should be required", "phones should be allowed in class",
    "summer projects help students learn", "older students make good mentors",
)  # fmt: skip
SIMPLE_WORDS = (
    "good", "bad", "thing", "people", "school", "time", "help", "learn", "work", "friends",
    "teacher", "home", "because", "very", "many", "important", "make", "get", "think", "life",
)  # fmt: skip
RICH_WORDS = (
    "beneficial", "perspective", "consequently", "furthermore", "responsibility",
    "opportunity", "collaborate", "independent", "motivation", "circumstances",
    "significantly", "nevertheless", "environment", "perseverance", "accomplish",
)  # fmt: skip
CONNECTIVES = ("First,", "Second,", "Also,", "However,", "For example,", "In conclusion,")
MISTAKES = ("there", "becuase", "dont", "and i agree")  # planted at the end of a sentence


def essay(rng: np.random.Generator, skill: float) -> tuple[str, int]:
    """A short essay whose length, vocabulary and mistakes follow `skill` (0 to 1)."""
    paragraphs = []
    mistakes = 0
    for paragraph in range(int(2 + 3 * skill + rng.integers(0, 2))):
        sentences = []
        for sentence in range(int(rng.integers(2, 5))):
            n_words = int(rng.integers(5, 9 + 8 * skill))
            rich = rng.random(n_words) < 0.05 + 0.35 * skill
            words = [str(rng.choice(RICH_WORDS if is_rich else SIMPLE_WORDS)) for is_rich in rich]
            if paragraph == 0 and sentence == 0:
                words = [str(rng.choice(OPENINGS)), str(rng.choice(TOPICS)), *words]
            elif rng.random() < 0.2 + 0.6 * skill:
                words = [str(rng.choice(CONNECTIVES)), *words]
            text = " ".join(words)
            if rng.random() < 0.6 * (1 - skill):
                text = f"{text} {MISTAKES[int(rng.integers(0, len(MISTAKES)))]}"
                mistakes += 1
            sentences.append(text[0].upper() + text[1:] + ".")
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs), mistakes


def generated_table(
    n: int = GENERATED_ROWS, seed: int = GENERATED_SEED
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a synthetic train.csv, every value as its CSV text."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        skill = float(rng.beta(2.5, 2.5))
        text, mistakes = essay(rng, skill)
        text_id = "".join(rng.choice(list("0123456789ABCDEF"), size=12))
        scores = []
        for offset in (0.0, 0.1, 0.2, 0.0, -0.1 * mistakes, -0.15 * mistakes):
            value = 1.5 + 3.0 * skill + offset + rng.normal(0, 0.5)
            scores.append(f"{min(max(round(value * 2) / 2, 1.0), 5.0):.1f}")
        rows.append([text_id, text, *scores])
    return list(COLUMNS), rows


if __name__ == "__main__":
    prepare_main(
        __doc__,
        from_raw=lambda raw, out: split(*read_delivered_csv(raw, "train.csv"), out),
        generated=lambda out: split(*generated_table(), out),
    )
