"""Grader for the feedback task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Compares WS/submission.csv (text_id and the six measures, one row per essay of test.csv, in
any order; other columns are ignored) with the answer key ANS/answer.csv and reports

    mcrmse             the mean over the six measures of the root mean squared error
    rmse_<measure>     the root mean squared error of each measure, for people

The submission is invalid, with a one-line reason, when the file is missing or unreadable,
lacks a column, has missing, extra or repeated text_ids, or a score that is empty, NaN, not
a number or infinite. A missing answer key is the grader's own fault: it exits non-zero.
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
ID = "text_id"
MEASURES = ("cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions")


def read_submission(path: Path) -> pd.DataFrame:
    """The text_id and score columns of the submission, as stripped text."""
    table = read_csv_submission(path, (ID, *MEASURES))
    return table[[ID, *MEASURES]]


def score(submission: pd.DataFrame, answers: pd.DataFrame) -> dict[str, float]:
    """MCRMSE and the RMSE of each measure of a checked submission."""
    check_ids(submission[ID], answers[ID], id_name=ID, item="test essay", source="test.csv")
    predicted = submission.set_index(ID).loc[answers[ID]]
    metrics: dict[str, float] = {}
    for measure in MEASURES:
        values = pd.to_numeric(predicted[measure], errors="coerce").to_numpy(dtype=float)
        bad = predicted.index[~np.isfinite(values)]
        if len(bad):
            raise InvalidSubmission(
                f"{measure} is empty, NaN, infinite or not a number in "
                f"{count(len(bad), 'row')} ({ID} {examples(bad)})"
            )
        truth = answers[measure].to_numpy(dtype=float)
        metrics[f"rmse_{measure}"] = float(np.sqrt(np.mean((values - truth) ** 2)))
    metrics["mcrmse"] = float(np.mean([metrics[f"rmse_{measure}"] for measure in MEASURES]))
    return metrics


def grade(workspace: Path, answers_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answer_path = answers_dir / ANSWER_NAME
    if not answer_path.is_file():
        sys.exit(f"eval.py: the answer key {answer_path} is missing; run prepare first")
    answers = pd.read_csv(answer_path, dtype={ID: str})
    try:
        metrics = score(read_submission(workspace / SUBMISSION_NAME), answers)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


if __name__ == "__main__":
    main(grade, __doc__)
