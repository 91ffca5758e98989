"""The one command line of every task's ``scripts/prepare.py``.

A task's prepare.py defines how it builds its dataset and ends with::

    if __name__ == "__main__":
        prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)

where ``prepare_raw(raw, out)`` makes the dataset from the source's files as downloaded into
``raw`` and ``prepare_generated(out)`` makes the small offline dataset. ``prepare_main`` owns
what every task would otherwise repeat:

- the arguments the harness passes (mlab_hpc/data.py): ``--raw RAW`` or ``--generated``, and
  ``--out OUT``; a task with options of its own adds them through ``extra_args`` and then gets
  the parsed namespace as its builder's last argument;
- the task form's [params] ($MLAB_TASK_PARAMS, JSON), checked before any work when set;
  builders read them with ``task_params`` (re-exported here);
- the folders: OUT, OUT/public (what the agent sees) and OUT/private (the answer key) exist
  before the builder runs;
- ``read_delivered_csv`` and ``write_csv``, the CSV reader (a file as delivered, or inside
  the competition's zip) and writer of the tabular tasks' splits;
- errors as one line on stderr: a usage error exits 2; a ``PrepareError`` (or one of the
  task's ``errors``) and a missing file exit 1, naming the file and what to do about it.

Used by the harness on the login node (not sandboxed) as ``mlab_hpc.grader_lib.mlab_prepare``;
like every module here it imports nothing of mlab_hpc, so it also works with this folder on
PYTHONPATH.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

try:
    from mlab_model_eval import PARAMS_ENV, task_params
except ModuleNotFoundError:  # imported as mlab_hpc.grader_lib.mlab_prepare
    from mlab_hpc.grader_lib.mlab_model_eval import PARAMS_ENV, task_params

__all__ = ["PrepareError", "prepare_main", "read_delivered_csv", "task_params", "write_csv"]

USAGE_EXIT = 2
FAILURE_EXIT = 1
RAW_FIX = (
    "the download is incomplete: prepare again (mlab-hpc prepare --tasks ID --force), or give "
    "--from the folder that holds every file of the task's [[data.files]]"
)

RawBuilder = Callable[..., None]  # (raw: Path, out: Path[, args: Namespace]) -> None
GeneratedBuilder = Callable[..., None]  # (out: Path[, args: Namespace]) -> None


class PrepareError(Exception):
    """The data cannot be prepared; the message says why and, where it can, what to do."""


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write ``rows`` under ``header`` as UTF-8 CSV with "\\n" line ends (parents made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def read_delivered_csv(raw: Path, name: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows (blank rows dropped) of the CSV file ``name`` as a competition delivers
    it: ``RAW/name``, or else the member of that name in the first zip in RAW (sorted) holding
    one. UTF-8 with or without a byte-order mark; quoted fields keep their line breaks.
    PrepareError when no such file is there or it is empty."""
    path = raw / name
    if path.is_file():
        data = path.read_bytes()
    else:
        for archive in sorted(raw.glob("*.zip")):
            with zipfile.ZipFile(archive) as zipped:
                members = [member for member in zipped.namelist() if Path(member).name == name]
                if members:
                    data = zipped.read(members[0])
                    break
        else:
            raise PrepareError(f"no {name} in {raw} (nor in a zip file there)")
    table = [row for row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if row]
    if not table:
        raise PrepareError(f"{name} is empty")
    return table[0], table[1:]


def _program() -> str:
    return Path(sys.argv[0]).name or "prepare.py"


def _fail(message: str, code: int) -> NoReturn:
    """Print ``message`` as the one line ``prepare.py: error: ...`` and exit with ``code``."""
    one_line = " ".join(str(message).split())
    print(f"{_program()}: error: {one_line}", file=sys.stderr)
    raise SystemExit(code)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (exit 2) pointing at --help."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see {self.prog} --help)", USAGE_EXIT)


def build_parser(
    doc: str | None, extra_args: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.ArgumentParser:
    """The standard prepare.py parser (plus the task's own arguments), described by the first
    line of ``doc`` with the rest of it as the help's epilogue."""
    lines = (doc or "").strip().splitlines()
    parser = _Parser(
        prog=_program(),
        description=lines[0] if lines else None,
        epilog="\n".join(lines[1:]).strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--raw", type=Path, metavar="RAW", help="folder holding the source's files as downloaded"
    )
    source.add_argument(
        "--generated", action="store_true", help="make the small deterministic dataset, offline"
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="OUT", help="writes OUT/public and OUT/private"
    )
    if extra_args is not None:
        extra_args(parser)
    return parser


def _make_out(out: Path) -> None:
    """Create OUT, OUT/public and OUT/private, or exit 2 naming what is in the way."""
    for folder in (out, out / "public", out / "private"):
        if folder.exists() and not folder.is_dir():
            _fail(f"--out {out}: {folder} is a file, not a folder; choose another --out", 2)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            _fail(f"--out {out}: cannot create {folder} ({error.strerror}); choose another --out",
                  USAGE_EXIT)  # fmt: skip


def _missing_file(error: FileNotFoundError, raw: Path | None) -> str:
    """The one line for a file a builder needed and did not find."""
    name = error.filename or str(error)
    if raw is not None and Path(name).resolve().is_relative_to(raw.resolve()):
        return f"{name} is missing from the raw files: {RAW_FIX}"
    return f"{name} is missing ({error.strerror or 'no such file'})"


def prepare_main(
    doc: str | None,
    *,
    from_raw: RawBuilder,
    generated: GeneratedBuilder,
    extra_args: Callable[[argparse.ArgumentParser], None] | None = None,
    errors: tuple[type[Exception], ...] = (),
    argv: Sequence[str] | None = None,
) -> None:
    """Run a task's data preparation from the command line (``argv``, default sys.argv[1:]).

    Promises: a bad command line, a --raw that is not a folder, an unusable --out or a
    malformed $MLAB_TASK_PARAMS is one line on stderr and exit 2, before any builder runs;
    otherwise OUT/public and OUT/private exist and exactly one builder is called, as
    ``from_raw(raw, out)`` or ``generated(out)`` (with the parsed namespace as a last argument
    when ``extra_args`` is given). A ``PrepareError``, one of ``errors`` or a missing file it
    raises is one line on stderr and exit 1 (a missing file under RAW says how to fetch it
    again); anything else propagates with its traceback, as a bug should.
    """
    parser = build_parser(doc, extra_args)
    args = parser.parse_args(argv)
    raw: Path | None = args.raw
    if raw is not None and not raw.is_dir():
        what = "does not exist" if not raw.exists() else "is not a folder"
        parser.error(f"--raw {raw} {what}; give the folder the source's files were downloaded to")
    if os.environ.get(PARAMS_ENV) is not None:
        try:
            task_params()
        except SystemExit as exit_:
            _fail(str(exit_.code), USAGE_EXIT)
    out: Path = args.out
    _make_out(out)
    extra: tuple[Any, ...] = (args,) if extra_args is not None else ()
    handled: tuple[type[Exception], ...] = (PrepareError, *errors)
    try:
        if raw is None:
            generated(out, *extra)
        else:
            from_raw(raw, out, *extra)
    except FileNotFoundError as error:
        _fail(_missing_file(error, raw), FAILURE_EXIT)
    except handled as error:
        _fail(str(error), FAILURE_EXIT)
