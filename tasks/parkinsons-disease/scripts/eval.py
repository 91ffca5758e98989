"""Grader for the parkinsons-disease task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Compares WS/submission.csv (columns prediction_id and rating, in any order; other columns
are ignored) with the answer key ANS/answer.csv and reports

    smapep1  SMAPE of the ratings plus one, in % (0 best, 200 worst), over the predictions
             of the answer key: mean of |f - a| / ((|a| + |f|) / 2) * 100 with a = truth + 1,
             f = prediction + 1, a term being 0 when a and f are both 0 (the published 0/0
             rule; it cannot arise with ratings that are not negative)

Every prediction id of the answer key must be there exactly once; rows for ids the key lacks
(visits whose later rating is unknown) are accepted and ignored. The submission is invalid,
with a one-line reason, when the file is missing or unreadable, lacks a column, misses or
repeats an id of the key, or has a rating there that is empty, NaN, not a finite number or
negative (as the published metric refuses). A missing answer key is the grader's own fault:
it exits non-zero.
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
ID, RATING = "prediction_id", "rating"


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric mean absolute percentage error in %, a 0/0 term counting as 0."""
    denominator = (np.abs(actual) + np.abs(forecast)) / 2
    both_zero = denominator == 0
    terms = np.abs(forecast - actual) / np.where(both_zero, 1.0, denominator)
    return float(np.mean(np.where(both_zero, 0.0, terms)) * 100)


def smapep1(truth: np.ndarray, prediction: np.ndarray) -> float:
    """SMAPE of y + 1, the competition's metric."""
    return smape(truth + 1, prediction + 1)


def read_submission(path: Path) -> pd.DataFrame:
    """The prediction_id and rating columns of the submission, as stripped text."""
    table = read_csv_submission(path, (ID, RATING))
    return table[[ID, RATING]]


def score(submission: pd.DataFrame, answers: pd.DataFrame) -> dict[str, float]:
    """smapep1 of a checked submission against the answer key."""
    scored = submission[submission[ID].isin(set(answers[ID]))]
    repeated = scored[ID][scored[ID].duplicated()].unique()
    if len(repeated):
        raise InvalidSubmission(
            f"{count(len(repeated), 'prediction_id')} repeated: {examples(repeated)} "
            "(each must appear once)"
        )
    absent = [name for name in answers[ID] if name not in set(scored[ID])]
    if absent:
        raise InvalidSubmission(
            f"{SUBMISSION_NAME} lacks {count(len(absent), 'prediction')} that are scored "
            f"({examples(absent)})"
        )
    ratings = pd.to_numeric(scored[RATING], errors="coerce").astype(float)
    bad = scored[ID][~np.isfinite(ratings)]
    if len(bad):
        raise InvalidSubmission(
            f"rating is empty, NaN, infinite or not a number in {count(len(bad), 'row')} "
            f"({examples(bad)})"
        )
    negative = scored[ID][ratings < 0]
    if len(negative):
        raise InvalidSubmission(
            f"rating is negative in {count(len(negative), 'row')} ({examples(negative)}); "
            "ratings must not be negative"
        )
    predicted = pd.Series(ratings.to_numpy(), index=scored[ID].to_numpy())
    guess = predicted.loc[answers[ID].to_numpy()].to_numpy()
    return {"smapep1": smapep1(answers[RATING].to_numpy(dtype=float), guess)}


def grade(workspace: Path, answers_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answer_path = answers_dir / ANSWER_NAME
    if not answer_path.is_file():
        sys.exit(f"eval.py: the answer key {answer_path} is missing; run prepare first")
    answers = pd.read_csv(answer_path, dtype={ID: str, RATING: float})
    try:
        metrics = score(read_submission(workspace / SUBMISSION_NAME), answers)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


if __name__ == "__main__":
    main(grade, __doc__)
