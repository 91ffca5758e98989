"""Append-only JSON-lines files that survive a kill -9 between any two bytes."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def repair(path: Path) -> int:
    """Cut a torn last line (a write interrupted by a kill); returns the bytes removed."""
    if not path.exists():
        return 0
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # walk back to the last newline
        pos = size
        while pos > 0:
            step = min(65536, pos)
            fh.seek(pos - step)
            chunk = fh.read(step)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = pos - step + idx + 1
                fh.truncate(keep)
                return size - keep
            pos -= step
        fh.truncate(0)
        return size


def read(path: Path, bad: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """The complete records of a JSON-lines file (a torn last line is skipped).

    A line that is not a JSON object (corrupted on disk, edited by hand) never stops the
    reading: it is skipped with a warning naming the file and line, and its line number is
    appended to ``bad`` when given, so callers can count what was lost.
    """
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not (line.endswith("\n") and line.strip()):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                log.warning("%s line %d is not a JSON record: skipped", path, number)
                if bad is not None:
                    bad.append(number)
                continue
            yield record


class Appender:
    """Appends one record per call; each is on disk (in the OS) when the call returns.

    ``fsync=True`` also survives a node crash, at the cost of a disk round trip per record.
    """

    def __init__(self, path: Path, fsync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        repair(path)
        self.path = path
        self.fsync = fsync
        self._fh = path.open("a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        """Append one record. Text that is not valid Unicode (a file name's undecodable bytes,
        kept as lone surrogates by Python) is written as JSON escapes, so it reads back the same.
        """
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            line = json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n"
        self._fh.write(line)
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()
