"""Grader for the fathomnet task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Compares WS/submission.csv (id, categories, osd: one row per held-out image, in any order;
other columns are ignored) with the answer key ANS/answer.csv (id, categories as space-separated
ids, osd 0 or 1) and reports

    score    (sauc + map20) / 2, the task's metric (higher is better)
    sauc     2 AUC - 1 of the osd column against the out-of-sample truth (ties count half)
    auc      the ROC AUC itself
    map20    the mean over the images of the average precision at 20 of the ranked categories

The categories of a row are space-separated integer ids, most likely first; only the first 20
count and a repeated id scores once. An empty categories cell is allowed (it scores 0 for that
image). The osd cell is any finite number (higher means "more likely out-of-sample").

The submission is invalid, with a one-line reason, when the file is missing or unreadable,
lacks a column, has missing, extra or repeated ids, a category that is not an integer, or an
osd that is empty, NaN, infinite or not a number. A missing answer key, or one without both
in-sample and out-of-sample images, is the grader's own fault: it exits non-zero.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
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
COLUMNS = ("id", "categories", "osd")
TOP_K = 20


def read_submission(path: Path) -> pd.DataFrame:
    """The id, categories and osd columns of the submission, as stripped text."""
    table = read_csv_submission(path, COLUMNS)
    return table[list(COLUMNS)]


def parse_ranking(text: str, image_id: str) -> list[int]:
    """The category ids of a submission cell, in order."""
    ranking = []
    for token in text.split():
        try:
            ranking.append(int(token))
        except ValueError:
            raise InvalidSubmission(
                f"categories of id {image_id} has {token!r}, not an integer category id "
                "(write space-separated ids such as '1 146 10')"
            ) from None
    return ranking


def average_precision(truth: set[int], ranking: Sequence[int], k: int = TOP_K) -> float:
    """Average precision at k: the precisions at first hits in the top k over min(|truth|, k)."""
    hits, total, seen = 0, 0.0, set()
    for rank, category in enumerate(ranking[:k], start=1):
        if category in truth and category not in seen:
            hits += 1
            total += hits / rank
        seen.add(category)
    return total / min(len(truth), k) if truth else 0.0


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (tied scores share their average rank)."""
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    positives = int(truth.sum())
    negatives = len(truth) - positives
    rank_sum = float(ranks[truth == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def score(submission: pd.DataFrame, answers: pd.DataFrame) -> dict[str, float]:
    """The metrics of a checked submission."""
    check_ids(
        submission["id"], answers["id"], id_name="id", item="held-out image", source="eval.json"
    )
    predicted = submission.set_index("id").loc[answers["id"]]
    osd = pd.to_numeric(predicted["osd"], errors="coerce").to_numpy(dtype=float)
    bad = predicted.index[~np.isfinite(osd)]
    if len(bad):
        raise InvalidSubmission(
            f"osd is empty, NaN, infinite or not a number in {count(len(bad), 'row')} "
            f"(id {examples(bad)})"
        )
    precisions = []
    for image_id, truth_text, cell in zip(
        answers["id"], answers["categories"], predicted["categories"], strict=True
    ):
        truth = {int(token) for token in str(truth_text).split()}
        precisions.append(average_precision(truth, parse_ranking(cell, image_id)))
    auc = roc_auc(answers["osd"].to_numpy(dtype=int), osd)
    map20 = float(np.mean(precisions))
    sauc = 2 * auc - 1
    return {"score": (sauc + map20) / 2, "sauc": sauc, "auc": auc, "map20": map20}


def read_answers(answers_dir: Path) -> pd.DataFrame:
    """The answer key; exits non-zero when it is missing or cannot give an AUC."""
    path = answers_dir / ANSWER_NAME
    if not path.is_file():
        sys.exit(f"eval.py: the answer key {path} is missing; run prepare first")
    answers = pd.read_csv(path, dtype={"id": str, "categories": str, "osd": int})
    if set(answers["osd"]) != {0, 1}:
        sys.exit(f"eval.py: the answer key {path} needs both in-sample and out-of-sample images")
    return answers


def grade(workspace: Path, answers_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answers = read_answers(answers_dir)
    try:
        metrics = score(read_submission(workspace / SUBMISSION_NAME), answers)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


if __name__ == "__main__":
    main(grade, __doc__)
