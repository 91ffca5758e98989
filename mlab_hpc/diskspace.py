"""A full results disk: telling it apart, keeping room to record it, and saying the fix.

A run writes its trace (steps.jsonl, snapshot blobs, run.json) under the results root, on the
same filesystem as its workspace: an agent that fills the workspace fills the trace's disk too.
So a running run holds a small reserve file (:data:`RESERVE_BYTES`, real bytes); when a trace
write fails for want of space, the reserve is released and the step in flight is recorded in
the room it leaves, then the run ends with exit reason ``disk_full`` and :class:`DiskFull`, one
line naming the results root and the fix.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

from . import jsonl
from .errors import PrerequisiteError

log = logging.getLogger(__name__)

# Room kept for the last records of a run on a full disk: one step line (an observation is at
# most 1,000,000 characters, its arguments and thought 200,000 each) and run.json.
RESERVE_BYTES = 4 << 20

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for want of space (or of quota)."""
    return isinstance(exc, OSError) and exc.errno in NO_SPACE


def results_root_of(run_dir: Path) -> Path:
    """The results root of a run folder (``ROOT/runs/RUN_ID``)."""
    return run_dir.parent.parent


class DiskFull(PrerequisiteError):
    """The results disk filled up while a run recorded its trace; one line with the fix."""

    def __init__(self, run_dir: Path, cause: OSError, what: str) -> None:
        self.run_dir = run_dir
        self.cause = cause
        root = results_root_of(run_dir)
        reason = cause.strerror or str(cause)
        super().__init__(
            f"the results root {root} is full ({reason}) while {what} of run {run_dir.name}: "
            f"free space there (the run's workspace is {run_dir / 'workspace'}) or use a "
            "larger filesystem (--results / MLAB_RESULTS), then `mlab-hpc recover "
            f"{run_dir.name}` grades the steps it recorded"
        )


class SpaceReserve:
    """A file of ``size`` real bytes, deleted when room is needed (:meth:`release`).

    Holding it is best effort: on a disk already too full for it, the run goes on without one.
    """

    def __init__(self, path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = path
        self.size = size
        self.held = False

    def hold(self) -> SpaceReserve:
        """Write the reserve (if not already there); returns self."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not (self.path.is_file() and self.path.stat().st_blocks * 512 >= self.size):
                block = b"\xa5" * (1 << 20)  # not zeros: no filesystem may skip storing them
                with self.path.open("wb") as fh:
                    for _ in range(0, self.size, len(block)):
                        fh.write(block)
            self.held = True
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            log.warning("no space reserve at %s (%s): a full disk may lose a step", self.path, exc)
        return self

    def release(self) -> bool:
        """Delete the reserve; True if there was one to free."""
        had = self.held or self.path.exists()
        self.path.unlink(missing_ok=True)
        self.held = False
        return had


def append_record(
    log_file: jsonl.Appender,
    row: dict[str, Any],
    reserve: SpaceReserve | None,
    run_dir: Path,
    what: str,
) -> jsonl.Appender:
    """Append ``row`` to a trace log; returns the appender to use from now on.

    On a full disk the reserve is released and the record written again in the room freed
    (once: a torn line is cut first, and a line the retry finds complete is not doubled).
    :class:`DiskFull` if it still does not fit.
    """
    try:
        log_file.append(row)
        return log_file
    except OSError as exc:
        if not is_disk_full(exc):
            raise
    if reserve is not None:
        reserve.release()
    try:
        log_file.close()  # flushes what the failed write left buffered, if it now fits
    except OSError:
        pass
    fresh = jsonl.Appender(log_file.path, fsync=log_file.fsync)  # cuts a torn last line
    if _last_record(log_file.path) == json.loads(json.dumps(row)):
        return fresh
    try:
        fresh.append(row)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        try:
            fresh.close()
        except OSError:
            pass
        jsonl.repair(log_file.path)
        raise DiskFull(run_dir, exc, what) from exc
    return fresh


def _last_record(path: Path) -> Any:
    """The last complete line of a JSON-lines file, parsed (None: none, or not JSON)."""
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - (8 << 20)))
        lines = fh.read().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
