"""Grader for the imdb task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Compares WS/submission.csv (the index column idx and the columns 0 and 1, the probabilities
of the negative and the positive class, one row per review of test.parquet; rows in any
order, other columns ignored) with the answer key ANS/answer.csv (idx, label) and reports

    accuracy  the share of test reviews whose more probable class is their label, in %

A review whose two values are equal counts as negative (class 0), as numpy's argmax would
have it. The values are not required to be normalised: only which one is larger matters.
The submission is invalid, with a one-line reason, when the file is missing or unreadable,
lacks a column, has an idx that is not a whole number, missing, extra or repeated idx
values, or a value that is empty, NaN, infinite or not a number. A missing answer key is the
grader's own fault: it exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:
    from mlab_grading import (
        InvalidSubmission,
        check_ids,
        count,
        examples,
        main,
        read_csv_submission,
    )
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_grading import (
        InvalidSubmission,
        check_ids,
        count,
        examples,
        main,
        read_csv_submission,
    )

SUBMISSION_NAME = "submission.csv"
ANSWER_NAME = "answer.csv"
ID = "idx"
CLASSES = ("0", "1")


def read_submission(path: Path) -> pd.DataFrame:
    """The idx and class columns of the submission, as stripped text."""
    table = read_csv_submission(path, (ID, *CLASSES), strip_names=True)
    return table[[ID, *CLASSES]]


def parse_ids(texts: pd.Series) -> pd.Series:
    """The idx values as integers; InvalidSubmission for one that is not a whole number."""
    numbers = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=float)
    whole = np.isfinite(numbers) & (numbers == np.round(numbers))
    if not whole.all():
        bad = texts[~whole]
        raise InvalidSubmission(
            f"{ID} is not a whole number in {count(len(bad), 'row')} "
            f"({examples(repr(value) for value in bad)})"
        )
    return pd.Series(numbers.astype(np.int64), index=texts.index)


def probabilities(submission: pd.DataFrame) -> np.ndarray:
    """The two class columns as finite numbers, one row per review."""
    columns = []
    for name in CLASSES:
        values = pd.to_numeric(submission[name], errors="coerce").to_numpy(dtype=float)
        bad = submission.index[~np.isfinite(values)]
        if len(bad):
            raise InvalidSubmission(
                f"column {name} is empty, NaN, infinite or not a number in "
                f"{count(len(bad), 'row')} ({ID} {examples(bad)})"
            )
        columns.append(values)
    return np.stack(columns, axis=1)


def score(submission: pd.DataFrame, answers: pd.DataFrame) -> dict[str, float]:
    """Accuracy, in %, of a checked submission."""
    submission = submission.set_index(parse_ids(submission[ID]))
    check_ids(
        submission.index.to_series(),
        answers[ID],
        id_name=ID,
        item="test review",
        source="test.parquet",
    )
    predicted = probabilities(submission.loc[answers[ID]]).argmax(axis=1)
    right = predicted == answers["label"].to_numpy()
    return {"accuracy": float(100 * right.mean())}


def grade(workspace: Path, answers_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answer_path = answers_dir / ANSWER_NAME
    if not answer_path.is_file():
        sys.exit(f"eval.py: the answer key {answer_path} is missing; run prepare first")
    answers = pd.read_csv(answer_path, dtype={ID: np.int64, "label": np.int64})
    try:
        metrics = score(read_submission(workspace / SUBMISSION_NAME), answers)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


if __name__ == "__main__":
    main(grade, __doc__)
