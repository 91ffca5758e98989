"""What the graders of submission tasks share: how an invalid submission is said, and the
command line the harness calls.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

A task's scripts/eval.py defines ``grade(workspace, answers_dir) -> document`` and ends with
``main(grade, __doc__)``. The document is ``{"valid", "reason", "metrics", "agent_reported"}``.
Reasons are one line (``InvalidSubmission``'s message), with a few examples of what is wrong
(``examples``) and counts in words (``count``).

The harness mounts this folder read-only and puts it on the grader's PYTHONPATH; run by hand,
a grader imports it from mlab_hpc.grader_lib instead.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class InvalidSubmission(Exception):
    """The submission cannot be scored; the message is the one-line reason."""


def examples(values: Iterable[Any], limit: int = 3) -> str:
    """A few values of a collection, for a reason: "5, 7, 9, ..."."""
    listed = [str(value) for value in values]
    return ", ".join(listed[:limit]) + (", ..." if len(listed) > limit else "")


def count(number: int, noun: str) -> str:
    """ "1 row", "2 rows"."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def read_csv_submission(
    path: Path,
    required: Sequence[str],
    *,
    strip_values: bool = True,
    strip_names: bool = False,
    hint: str = "",
) -> pd.DataFrame:
    """A CSV submission as text exactly as written (no NA parsing), every column kept.

    InvalidSubmission when the file is missing or not CSV, or lacks a ``required`` column
    (the reason lists the columns found, then ``hint``). ``strip_values`` strips the values'
    surrounding blanks, ``strip_names`` the column names'.
    """
    import pandas as pd

    name = path.name
    if not path.is_file():
        raise InvalidSubmission(f"{name} is missing from the workspace")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise InvalidSubmission(f"{name} cannot be read as CSV: {reason}") from None
    if strip_names:
        table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in required if column not in table.columns]
    if missing:
        found = examples(table.columns, limit=max(8, len(required) + 1)) or "none"
        raise InvalidSubmission(
            f"{name} has no {' and no '.join(missing)} column (columns: {found})"
            + (f"; {hint}" if hint else "")
        )
    return table.apply(lambda column: column.str.strip()) if strip_values else table


def check_ids(
    ids: pd.Series,
    expected: Iterable[Any],
    *,
    id_name: str,
    item: str,
    source: str,
    file: str = "submission.csv",
) -> None:
    """InvalidSubmission unless ``ids`` holds every expected id exactly once.

    ``id_name`` names the id column ("text_id"), ``item`` one expected row ("test essay"),
    ``source`` where the agent finds the expected ids ("test.csv").
    """
    expected = list(expected)
    repeated = ids[ids.duplicated()].unique()
    if len(repeated):
        raise InvalidSubmission(
            f"{count(len(repeated), id_name + ' value')} repeated: {examples(sorted(repeated))} "
            "(each must appear once)"
        )
    absent = sorted(set(expected) - set(ids))
    extra = sorted(set(ids) - set(expected))
    if absent or extra:
        problems = []
        if absent:
            problems.append(f"{count(len(absent), item)} missing ({id_name} {examples(absent)})")
        if extra:
            noun = id_name + " value"
            problems.append(f"{count(len(extra), noun)} not in {source} ({examples(extra)})")
        raise InvalidSubmission(
            f"{file} has {count(len(ids), 'row')} for the {count(len(expected), item)}: "
            + "; ".join(problems)
        )


def main(grade: Callable[[Path, Path], dict[str, Any]], doc: str | None = None) -> None:
    """Parse --workspace, --answers and --out, grade, write OUT.json."""
    first_line = (doc or "Grade a workspace.").strip().splitlines()[0]
    parser = argparse.ArgumentParser(description=first_line)
    parser.add_argument("--workspace", type=Path, required=True, help="the snapshot to grade")
    parser.add_argument("--answers", type=Path, required=True, help="the answer key's folder")
    parser.add_argument("--out", type=Path, required=True, help="where OUT.json goes")
    args = parser.parse_args()
    result = grade(args.workspace, args.answers)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
