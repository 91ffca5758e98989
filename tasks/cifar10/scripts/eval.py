"""Grader for the cifar10 task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Reads WS/submission.csv: one row per test image and the columns 0 to 9, the probability (or
any score) of each class; the predicted class of a row is the column with the largest value
(the first one on a tie). The first column, unless it is one of 0..9, is the image's index:
each of 0 .. n-1 once, rows in any order. Without it, the rows are taken in the order of
data/test_images.npy. Other columns are ignored. Compares with ANS/answer.csv (index, label)
and reports

    accuracy    the share of test images whose predicted class is their label, in percent

The submission is invalid, with a one-line reason, when the file is missing or unreadable,
lacks a class column, has the wrong number of rows, an index that is not each of 0 .. n-1
once, or a value that is empty, NaN, not a number or infinite. A missing answer key is the
grader's own fault: it exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:
    from mlab_grading import InvalidSubmission, count, examples, main, read_csv_submission
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_grading import (
        InvalidSubmission,
        count,
        examples,
        main,
        read_csv_submission,
    )

SUBMISSION_NAME = "submission.csv"
ANSWER_NAME = "answer.csv"
CLASSES = tuple(str(number) for number in range(10))


def read_submission(path: Path) -> pd.DataFrame:
    """The submission as stripped text, with column names stripped too."""
    table = read_csv_submission(path, CLASSES, strip_names=True, hint="it needs the columns 0 to 9")
    return table


def in_test_order(table: pd.DataFrame, n_test: int) -> pd.DataFrame:
    """The rows ordered as the test images, by the index column when there is one."""
    if len(table) != n_test:
        raise InvalidSubmission(
            f"{SUBMISSION_NAME} has {count(len(table), 'row')}; it needs one for each of the "
            f"{n_test} test images"
        )
    first = table.columns[0]
    if first in CLASSES:
        return table
    index = pd.to_numeric(table[first], errors="coerce")
    expected = np.arange(n_test)
    if index.isna().any() or sorted(index) != list(expected):
        repeated = table[first][table[first].duplicated()].unique()
        detail = (
            f"repeated: {examples(repeated)}"
            if len(repeated)
            else f"values: {examples(table[first])}"
        )
        raise InvalidSubmission(
            f"the index column {first or '(unnamed)'!r} must hold each of 0 .. {n_test - 1} "
            f"once ({detail})"
        )
    return table.set_index(index.astype(int)).loc[expected]


def class_scores(table: pd.DataFrame) -> np.ndarray:
    """The (n, 10) class columns as finite floats."""
    scores = np.column_stack(
        [pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float) for name in CLASSES]
    )
    bad = ~np.isfinite(scores)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        columns = [CLASSES[column] for column in np.flatnonzero(bad.any(axis=0))]
        raise InvalidSubmission(
            f"a class value is empty, NaN, infinite or not a number in "
            f"{count(len(rows), 'row')} (test images {examples(rows)}; "
            f"column{'s' if len(columns) > 1 else ''} {', '.join(columns)})"
        )
    return scores


def score(submission: pd.DataFrame, labels: np.ndarray) -> dict[str, float]:
    """The accuracy, in percent, of a checked submission."""
    predicted = class_scores(in_test_order(submission, len(labels))).argmax(axis=1)
    return {"accuracy": float(100.0 * np.mean(predicted == labels))}


def grade(workspace: Path, answers_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answer_path = answers_dir / ANSWER_NAME
    if not answer_path.is_file():
        sys.exit(f"eval.py: the answer key {answer_path} is missing; run prepare first")
    answers = pd.read_csv(answer_path)
    labels = answers.sort_values("index")["label"].to_numpy(dtype=int)
    try:
        metrics = score(read_submission(workspace / SUBMISSION_NAME), labels)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


if __name__ == "__main__":
    main(grade, __doc__)
