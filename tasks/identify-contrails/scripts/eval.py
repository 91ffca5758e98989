"""Grader for the identify-contrails task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Compares WS/submission.csv (columns record_id and encoded_pixels, one row per record of
test/, in any order; other columns are ignored) with the answer key ANS/test/<record_id>/
human_pixel_masks.npy (H x W x 1, 1 = contrail) and reports

    dice               global Dice: 2 |P and T| / (|P| + |T|), P and T the sets of predicted
                       and true contrail pixels of all test records together (1.0 if both
                       are empty); the task's metric, as on Kaggle
    mean_record_dice   the mean over the records of (2 |P and T| + 1e-6) / (|P| + |T| + 1e-6),
                       the score of the published MLAgentBench grader, for people

encoded_pixels is a run-length encoding: space-separated pairs "start length", pixels
numbered from 1 top to bottom and then left to right (column-major), pairs sorted and not
overlapping; "-" is the empty mask. The submission is invalid, with a one-line reason, when
the file is missing or unreadable, lacks a column, has missing, extra or repeated record_ids,
or an encoding that is empty, not whole numbers, has an odd count, a run of length < 1, a run
outside the image, or runs unsorted or overlapping. A missing answer key is the grader's own
fault: it exits non-zero.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:
    from mlab_grading import InvalidSubmission, check_ids, main, read_csv_submission
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_grading import (
        InvalidSubmission,
        check_ids,
        main,
        read_csv_submission,
    )

SUBMISSION_NAME = "submission.csv"
MASK_NAME = "human_pixel_masks.npy"
ID = "record_id"
PIXELS = "encoded_pixels"
SMOOTH = 1e-6  # the published per-record score's smoothing
WHOLE = re.compile(r"[0-9]+")


def read_answers(answers_dir: Path) -> dict[str, np.ndarray]:
    """record_id -> true mask (H x W, bool) of every test record."""
    folder = answers_dir / "test"
    paths = sorted(folder.glob(f"*/{MASK_NAME}")) if folder.is_dir() else []
    if not paths:
        sys.exit(f"eval.py: no answer key under {folder}; run prepare first")
    return {path.parent.name: np.load(path)[..., 0] > 0 for path in paths}


def read_submission(path: Path) -> pd.DataFrame:
    """The record_id and encoded_pixels columns of the submission, as stripped text."""
    table = read_csv_submission(path, (ID, PIXELS))
    return table[[ID, PIXELS]]


def decode(encoded: str, shape: tuple[int, int]) -> np.ndarray:
    """The mask (H x W, bool) of a run-length encoding; ValueError says what is wrong."""
    n_pixels = shape[0] * shape[1]
    flat = np.zeros(n_pixels, dtype=bool)
    if encoded == "-":
        return flat.reshape(shape, order="F")
    if not encoded:
        raise ValueError("is empty (an empty mask is written '-')")
    tokens = encoded.split()
    bad = [token for token in tokens if not WHOLE.fullmatch(token)]
    if bad:
        raise ValueError(f"holds {bad[0]!r}, not a whole number")
    if len(tokens) % 2:
        raise ValueError(f"has {len(tokens)} numbers, not start-length pairs")
    numbers = [int(token) for token in tokens]
    last_end = 0  # the last pixel (1-based) of the run before
    for start, length in zip(numbers[0::2], numbers[1::2], strict=True):
        if start < 1 or length < 1:
            raise ValueError(f"has the run '{start} {length}': starts and lengths must be >= 1")
        if start <= last_end:
            raise ValueError(
                f"has the run '{start} {length}' unsorted or overlapping the one before"
            )
        last_end = start + length - 1
        if last_end > n_pixels:
            raise ValueError(
                f"has the run '{start} {length}' past pixel {n_pixels} "
                f"(a {shape[0]} x {shape[1]} image)"
            )
        flat[start - 1 : last_end] = True
    return flat.reshape(shape, order="F")


def score(submission: pd.DataFrame, answers: dict[str, np.ndarray]) -> dict[str, float]:
    """Global Dice and mean per-record Dice of a checked submission."""
    check_ids(submission[ID], list(answers), id_name=ID, item="test record", source="test/")
    encodings = dict(zip(submission[ID], submission[PIXELS], strict=True))
    both = total = 0
    per_record = []
    for record_id, truth in answers.items():
        try:
            predicted = decode(encodings[record_id], truth.shape)
        except ValueError as error:
            raise InvalidSubmission(f"{PIXELS} of {ID} {record_id} {error}") from None
        overlap = int(np.count_nonzero(predicted & truth))
        size = int(np.count_nonzero(predicted)) + int(np.count_nonzero(truth))
        both += overlap
        total += size
        per_record.append((2 * overlap + SMOOTH) / (size + SMOOTH))
    return {
        "dice": 1.0 if total == 0 else 2 * both / total,
        "mean_record_dice": float(np.mean(per_record)),
    }


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
