"""Grader for the ogbn-arxiv task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Compares WS/submission.csv (columns node and label, one row per node of the test split, in
any order; other columns are ignored) with the answer key ANS/answer.csv and reports

    accuracy    the percentage of test nodes whose label is right (OGB's evaluator: the mean
                of y_true == y_pred over the test nodes, here times 100)

The submission is invalid, with a one-line reason, when the file is missing or unreadable,
lacks a column, has missing, extra or repeated nodes, or a label that is empty, NaN, not a
whole number or not a class (0 to 39). A missing answer key is the grader's own fault: it
exits non-zero.
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
NODE = "node"
LABEL = "label"
NUM_CLASSES = 40


def read_submission(path: Path) -> pd.DataFrame:
    """The node and label columns of the submission, as stripped text."""
    table = read_csv_submission(path, (NODE, LABEL))
    return table[[NODE, LABEL]]


def whole_numbers(column: pd.Series) -> np.ndarray:
    """The values as floats; NaN where a value is empty, not a number or not whole."""
    values = np.array(pd.to_numeric(column, errors="coerce"), dtype=float)  # a writable copy
    values[~np.isfinite(values) | (values != np.round(values))] = np.nan
    return values


def node_ids(submission: pd.DataFrame, expected: np.ndarray) -> np.ndarray:
    """The submission's node indices, checked: whole numbers, each test node exactly once."""
    nodes = whole_numbers(submission[NODE])
    bad = submission[NODE][np.isnan(nodes)]
    if len(bad):
        raise InvalidSubmission(
            f"{NODE} is not a node index in {count(len(bad), 'row')} ({examples(bad)})"
        )
    ids = pd.Series(nodes.astype(np.int64))
    repeated = ids[ids.duplicated()].unique()
    if len(repeated):
        raise InvalidSubmission(
            f"{count(len(repeated), NODE)} repeated: {examples(repeated)} (each must appear once)"
        )
    absent = sorted(set(expected.tolist()) - set(ids))
    extra = sorted(set(ids) - set(expected.tolist()))
    if absent or extra:
        problems = []
        if absent:
            problems.append(f"{count(len(absent), 'test node')} missing ({examples(absent)})")
        if extra:
            problems.append(f"{count(len(extra), NODE)} not in the test split ({examples(extra)})")
        raise InvalidSubmission(
            f"{SUBMISSION_NAME} has {count(len(ids), 'row')} for the {len(expected)} test "
            "nodes: " + "; ".join(problems)
        )
    return ids.to_numpy()


def score(submission: pd.DataFrame, answers: pd.DataFrame) -> dict[str, float]:
    """The accuracy in percent of a checked submission."""
    nodes = node_ids(submission, answers[NODE].to_numpy())
    labels = whole_numbers(submission[LABEL])
    bad = np.isnan(labels) | (labels < 0) | (labels >= NUM_CLASSES)
    if bad.any():
        raise InvalidSubmission(
            f"{LABEL} is empty, NaN, not a whole number or not a class 0 to {NUM_CLASSES - 1} "
            f"in {count(int(bad.sum()), 'row')} ({NODE} {examples(nodes[bad])}: "
            f"{examples(submission[LABEL][bad])})"
        )
    predicted = pd.Series(labels.astype(np.int64), index=nodes).loc[answers[NODE]].to_numpy()
    truth = answers[LABEL].to_numpy(dtype=np.int64)
    return {"accuracy": float(100.0 * np.mean(predicted == truth))}


def grade(workspace: Path, answers_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answer_path = answers_dir / ANSWER_NAME
    if not answer_path.is_file():
        sys.exit(f"eval.py: the answer key {answer_path} is missing; run prepare first")
    answers = pd.read_csv(answer_path, dtype=np.int64)
    try:
        metrics = score(read_submission(workspace / SUBMISSION_NAME), answers)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


if __name__ == "__main__":
    main(grade, __doc__)
