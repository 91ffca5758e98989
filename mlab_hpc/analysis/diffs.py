"""What each step changed in the workspace, read from a run's snapshot store.

The store (mlab_hpc/snapshots.py) is an ``index.jsonl`` of deltas, one line per step that
changed something, and content-addressed blobs under ``blobs/<first two hex>/<sha256>``. This
module only reads it: opening a SnapshotStore would append to the index.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from .. import jsonl
from ..paths import RunPaths

MAX_DIFF_BYTES = 256_000  # larger files are listed, not diffed
MAX_DIFF_LINES = 400


@dataclass
class FileChange:
    """One file a step added, modified or deleted, with its unified diff where it is text."""

    path: str
    kind: str  # added | modified | deleted | mode
    diff: str  # unified diff, or a note ("binary file", "too large to show")


def _read_blob(blobs: Path, blob: str) -> bytes | None:
    try:
        return (blobs / blob[:2] / blob).read_bytes()
    except OSError:
        return None


def _text(data: bytes | None) -> list[str] | None:
    if data is None or len(data) > MAX_DIFF_BYTES or b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _diff(blobs: Path, rel: str, old: str | None, new: str | None) -> str:
    before = _text(_read_blob(blobs, old)) if old else []
    after = _text(_read_blob(blobs, new)) if new else []
    if before is None or after is None:
        return "(binary or too large to show)"
    lines = list(difflib.unified_diff(before, after, f"a/{rel}", f"b/{rel}", n=3))
    if len(lines) > MAX_DIFF_LINES:
        cut = len(lines) - MAX_DIFF_LINES
        lines = lines[:MAX_DIFF_LINES] + [f"\n... ({cut} more diff lines)\n"]
    return "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines)


def step_changes(run_dir: Path, diffs: bool = True) -> dict[int, list[FileChange]] | None:
    """``{step: changes}`` for every step that changed the workspace (step 0: the start).

    None when the run has no snapshot store here (imported runs, tables copied without runs/).
    """
    index = RunPaths(run_dir).snapshot_index
    if not index.is_file():
        return None
    blobs = RunPaths(run_dir).blobs
    files: dict[str, tuple[str, int]] = {}
    out: dict[int, list[FileChange]] = {}
    for record in jsonl.read(index):
        step = int(record.get("step", 0))
        changes = out.setdefault(step, [])
        for rel, (blob, mode, *_sig) in sorted(record.get("set", {}).items()):
            old = files.get(rel)
            files[rel] = (blob, mode)
            if old is None:
                kind = "added"
            elif old[0] != blob:
                kind = "modified"
            else:
                changes.append(FileChange(rel, "mode", f"mode {old[1]:o} -> {mode:o}\n"))
                continue
            text = _diff(blobs, rel, old[0] if old else None, blob) if diffs and mode else ""
            changes.append(FileChange(rel, kind, text))
        for rel in sorted(record.get("del", [])):
            old = files.pop(rel, None)
            text = _diff(blobs, rel, old[0], None) if diffs and old and old[1] else ""
            changes.append(FileChange(rel, "deleted", text))
    return out
