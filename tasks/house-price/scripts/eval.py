"""Grader for the house-price task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Compares WS/submission.csv (columns Id and SalePrice, one row per house of test.csv, in any
order; other columns are ignored) with the answer key ANS/answer.csv and reports

    mae       mean absolute error of SalePrice, in dollars (the MLAgentBench score)
    rmse_log  root mean squared error between the logarithms of predicted and true prices
              (the human-relative score)

The submission is invalid, with a one-line reason, when the file is missing or unreadable,
lacks a column, has missing, extra or repeated Ids, or a price that is missing, not a
finite number, or not positive (rmse_log needs its logarithm). A missing answer key is the
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
ID, PRICE = "Id", "SalePrice"


def read_submission(path: Path) -> pd.DataFrame:
    """The Id and SalePrice columns of the submission, as raw text."""
    table = read_csv_submission(path, (ID, PRICE), strip_values=False)
    return table[[ID, PRICE]]


def parse_ids(raw: pd.Series) -> pd.Series:
    """Ids as integers; raises InvalidSubmission on text or fractions ("12.0" is accepted)."""
    numbers = pd.to_numeric(raw.str.strip(), errors="coerce").astype(float)
    bad = raw[~np.isfinite(numbers) | (numbers != np.round(numbers))]
    if len(bad):
        raise InvalidSubmission(
            f"{count(len(bad), 'Id value')} not a whole number: "
            + examples(repr(value) for value in bad)
        )
    return numbers.astype(np.int64)


def parse_prices(raw: pd.Series, ids: pd.Series) -> pd.Series:
    """Prices as floats; raises InvalidSubmission unless all are finite and positive."""
    prices = pd.to_numeric(raw.str.strip(), errors="coerce").astype(float)
    not_numbers = ids[prices.isna()]
    if len(not_numbers):
        raise InvalidSubmission(
            f"SalePrice is empty, NaN or not a number in {count(len(not_numbers), 'row')} "
            f"(Id {examples(not_numbers)})"
        )
    infinite = ids[~np.isfinite(prices)]
    if len(infinite):
        raise InvalidSubmission(
            f"SalePrice is infinite in {count(len(infinite), 'row')} (Id {examples(infinite)})"
        )
    not_positive = ids[prices <= 0]
    if len(not_positive):
        raise InvalidSubmission(
            f"SalePrice is zero or negative in {count(len(not_positive), 'row')} "
            f"(Id {examples(not_positive)}); prices must be positive"
        )
    return prices


def score(submission: pd.DataFrame, answers: pd.DataFrame) -> dict[str, float]:
    """MAE and RMSE of log prices of a checked submission against the answer key."""
    ids = parse_ids(submission[ID])
    prices = parse_prices(submission[PRICE], ids)
    check_ids(ids, answers[ID], id_name=ID, item="test house", source="test.csv")
    predicted = pd.Series(prices.to_numpy(), index=ids.to_numpy())
    truth = answers[PRICE].to_numpy(dtype=float)
    guess = predicted.loc[answers[ID].to_numpy()].to_numpy()
    return {
        "mae": float(np.mean(np.abs(guess - truth))),
        "rmse_log": float(np.sqrt(np.mean((np.log(guess) - np.log(truth)) ** 2))),
    }


def grade(workspace: Path, answers_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answer_path = answers_dir / ANSWER_NAME
    if not answer_path.is_file():
        sys.exit(f"eval.py: the answer key {answer_path} is missing; run prepare first")
    answers = pd.read_csv(answer_path, dtype={ID: np.int64, PRICE: float})
    try:
        metrics = score(read_submission(workspace / SUBMISSION_NAME), answers)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


if __name__ == "__main__":
    main(grade, __doc__)
