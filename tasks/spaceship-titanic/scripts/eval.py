"""Grader for the spaceship-titanic task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Compares WS/submission.csv (columns PassengerId and Transported, one row per passenger of
test.csv, in any order; other columns are ignored) with the answer key ANS/answer.csv and
reports

    accuracy  the share of passengers whose Transported value is right, in % (0 to 100)

Transported may be written True/False (any case) or 1/0. The submission is invalid, with a
one-line reason, when the file is missing or unreadable, lacks a column, has missing, extra
or repeated ids, or an outcome that is empty, NaN or anything else. A missing answer key is
the grader's own fault: it exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
ID, TARGET = "PassengerId", "Transported"
TRUTH = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}


def read_submission(path: Path) -> pd.DataFrame:
    """The PassengerId and Transported columns of the submission, as stripped text."""
    table = read_csv_submission(path, (ID, TARGET))
    return table[[ID, TARGET]]


def score(submission: pd.DataFrame, answers: pd.DataFrame) -> dict[str, float]:
    """Accuracy in % of a checked submission against the answer key."""
    check_ids(submission[ID], answers[ID], id_name=ID, item="test passenger", source="test.csv")
    outcome = submission[TARGET].str.lower().map(TRUTH)
    bad = submission.loc[outcome.isna(), [ID, TARGET]]
    if len(bad):
        shown = examples(f"{row[ID]}: {row[TARGET]!r}" for _, row in bad.iterrows())
        raise InvalidSubmission(
            f"{TARGET} is not True/False (or 1/0) in {count(len(bad), 'row')} ({shown})"
        )
    predicted = pd.Series(outcome.to_numpy(dtype=bool), index=submission[ID].to_numpy())
    guess = predicted.loc[answers[ID].to_numpy()].to_numpy()
    truth = answers[TARGET].to_numpy(dtype=bool)
    return {"accuracy": float((guess == truth).mean() * 100)}


def grade(workspace: Path, answers_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answer_path = answers_dir / ANSWER_NAME
    if not answer_path.is_file():
        sys.exit(f"eval.py: the answer key {answer_path} is missing; run prepare first")
    answers = pd.read_csv(answer_path, dtype={ID: str}, keep_default_na=False)
    answers[TARGET] = answers[TARGET].astype(str).str.lower().map(TRUTH)
    try:
        metrics = score(read_submission(workspace / SUBMISSION_NAME), answers)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


if __name__ == "__main__":
    main(grade, __doc__)
