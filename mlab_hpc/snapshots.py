"""Content-addressed snapshots of the workspace, one per step, stored as deltas.

A blob is stored once per distinct content (``blobs/ab/abcdef...``); each snapshot is one JSON
line of ``index.jsonl`` holding only what changed since the previous one. So a step that edits a
1 KB file costs about 1 KB on disk, whatever the size of the workspace, and any step's workspace
can be rebuilt with :meth:`SnapshotStore.materialize`.

Change detection is by ``(size, mtime_ns, inode)``; files are hashed only when those differ.
When the caller knows which files an action touched it passes them, and nothing else is looked at.

Sparse files (fewer bytes allocated than half their size, over 1 MiB) are read, hashed and
stored by their data segments only (``SEEK_DATA`` / ``SEEK_HOLE``): a 5 GiB file of holes costs
what it holds, in time and in blob bytes, and is written back with its holes. Its blob id is the
SHA-256 of its size and of its data segments with their offsets (another namespace than the
plain SHA-256 of dense files: the same content stored both ways is merely stored twice).

A file holding more than :func:`max_file_bytes` (``MLAB_SNAPSHOT_MAX_FILE_GB``, default 10 GiB;
counted in data bytes, so holes are free) is never read nor stored: the snapshot records it
under ``skip`` (path: apparent size) and leaves it out (a version stored earlier is dropped, as
stale), :attr:`SnapshotStore.skipped_now` lists it for the step's observation, graders do not
see it, and a resumed run leaves it in the workspace as it is.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import jsonl
from .diskspace import DiskFull, SpaceReserve, is_disk_full
from .workspace import Workspace

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


DEFAULT_MAX_FILE_GB = 10.0


def max_file_bytes() -> int:
    """The largest file a snapshot stores, from MLAB_SNAPSHOT_MAX_FILE_GB (default 10 GiB)."""
    raw = os.environ.get("MLAB_SNAPSHOT_MAX_FILE_GB", "")
    try:
        gb = float(raw) if raw.strip() else DEFAULT_MAX_FILE_GB
    except ValueError:
        gb = DEFAULT_MAX_FILE_GB
    if not (gb > 0 and gb != float("inf")):  # NaN, 0, negative: the default, never "no cap"
        gb = DEFAULT_MAX_FILE_GB
    return int(gb * 2**30)


def data_bytes(st: os.stat_result) -> int:
    """What storing a regular file costs: its allocated bytes if sparse, else its size."""
    return st.st_blocks * 512 if is_sparse(st) else st.st_size


def is_sparse(st: os.stat_result) -> bool:
    """Whether a regular file is stored and copied by its data segments (see the module doc)."""
    return st.st_size > _CHUNK and st.st_blocks * 512 < st.st_size // 2


def data_segments(fd: int, size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of the data of an open file, holes left out (the whole file where
    the filesystem cannot tell holes apart)."""
    segments: list[tuple[int, int]] = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                break
            return [(0, size)]  # no SEEK_DATA here: every byte is data
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        if end > start:
            segments.append((start, end - start))
        pos = max(end, start + 1)
    return segments


def _copy_segments(
    src: int, dst: int | None, segments: list[tuple[int, int]], h: Any | None
) -> None:
    """Read each data segment of ``src`` (hashing it into ``h``, writing it at the same offset
    of ``dst``)."""
    for offset, length in segments:
        if h is not None:
            h.update(f"{offset}:{length}\0".encode())
        done = 0
        while done < length:
            chunk = os.pread(src, min(_CHUNK, length - done), offset + done)
            if not chunk:  # the file shrank while read
                break
            if h is not None:
                h.update(chunk)
            if dst is not None:
                os.pwrite(dst, chunk, offset + done)
            done += len(chunk)


def sparse_digest(path: Path | str, size: int, dest: Path | None = None) -> str:
    """The blob id of a sparse file; with ``dest``, also a copy of it there, holes kept."""
    h = hashlib.sha256(f"mlab-sparse-v1\0{size}\0".encode())
    fd = os.open(path, os.O_RDONLY)
    try:
        segments = data_segments(fd, size)
        if dest is None:
            _copy_segments(fd, None, segments, h)
        else:
            out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _copy_segments(fd, out, segments, h)
                os.ftruncate(out, size)
            finally:
                os.close(out)
    finally:
        os.close(fd)
    return h.hexdigest()


def copy_file(src: Path | str, dst: Path | str) -> None:
    """``shutil.copyfile``, but a sparse source gives a sparse copy (its holes not written)."""
    st = os.stat(src)
    if not is_sparse(st):
        shutil.copyfile(src, dst)
        return
    if os.path.lexists(dst):
        os.unlink(dst)  # never write through a link the agent left there
    sparse_digest(src, st.st_size, Path(dst))


def content_id(path: Path, st: os.stat_result) -> str:
    """The blob id a regular file's content would be stored under."""
    if is_sparse(st):
        return sparse_digest(path, st.st_size)
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    blob: str
    mode: int  # permission bits; 0 means "symlink" (the blob holds the link text)
    sig: tuple[int, int, int]  # (size, mtime_ns, inode) when it was stored


def _well_formed(record: dict) -> bool:
    """Whether an index record has the shape take() writes (id, step, set, del)."""
    changes = record.get("set")
    return (
        isinstance(record.get("id"), str)
        and isinstance(changes, dict)
        and isinstance(record.get("del"), list)
        and all(isinstance(v, list) and len(v) >= 2 for v in changes.values())
    )


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def racy_window_ns(folder: Path) -> int:
    """How recently a file must have changed for its mtime not to prove a later rewrite.

    Two same-size writes within one timestamp tick leave the same (size, mtime): a file stored
    within that window of its last change is hashed again at the next scan (as git does). The
    window is 2 s where the filesystem keeps whole seconds (some NFS, Lustre set-ups), else
    50 ms, well above the kernel's coarse clock tick.
    """
    probe = folder / f".mtime-probe-{os.getpid()}"
    probe.write_bytes(b"")
    try:
        whole_seconds = probe.stat().st_mtime_ns % 10**9 == 0
    finally:
        probe.unlink()
    return 2 * 10**9 if whole_seconds else 50 * 10**6


class SnapshotStore:
    """Snapshots of one workspace; ``exclude(rel)`` names files never stored (read-only data)."""

    def __init__(
        self,
        directory: Path,
        workspace: Workspace,
        exclude: Callable[[str], bool] | None = None,
        racy_ns: int | None = None,
    ) -> None:
        self.dir = directory
        self.blobs = directory / "blobs"
        self.index = directory / "index.jsonl"
        self.workspace = workspace
        self._exclude = exclude or (lambda rel: False)
        self._excluded: dict[str, bool] = {}
        self.current_id = ""
        self._files: dict[str, Entry] = {}
        self._skipped: dict[str, int] = {}  # too large to store: apparent size when seen
        self._known_blobs: set[str] = set()
        self.blobs.mkdir(parents=True, exist_ok=True)
        self._racy_ns = racy_window_ns(self.blobs) if racy_ns is None else racy_ns
        jsonl.repair(self.index)
        for record in self._records():
            self._apply(record)
        self._index_log = jsonl.Appender(self.index)
        # room kept for recording the step in flight on a full disk (set by a running run)
        self.reserve: SpaceReserve | None = None
        self.max_file_bytes = max_file_bytes()
        # files too large to store, newly found by the last take(): (path, apparent size)
        self.skipped_now: list[tuple[str, int]] = []

    # ------------------------------------------------------------------ taking snapshots
    def take(self, step: int, changed: Iterable[str] | None = None) -> str:
        """Record the workspace after ``step``; returns the snapshot id.

        ``changed``: workspace-relative paths the step may have touched; None scans everything.
        A disk too full for the blobs or the index raises :class:`DiskFull` after removing any
        partial blob and releasing the reserve: the snapshot is not taken (the latest one
        stays current) and the caller can still record the step in the room freed.
        """
        self.skipped_now = []
        try:
            return self._take(step, changed)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            if self.reserve is not None:
                self.reserve.release()
            raise DiskFull(self.dir.parent, exc, f"storing the snapshot of step {step}") from exc

    def _take(self, step: int, changed: Iterable[str] | None) -> str:
        updates: dict[str, Entry] = {}
        deleted: list[str] = []
        skipped: dict[str, int] = {}
        if changed is None:
            seen: set[str] = set()
            for rel, entry in self._scan():
                if self.excluded(rel):
                    continue
                seen.add(rel)
                st = entry.stat(follow_symlinks=False)
                self._consider(rel, entry.path, st, updates, skipped)
            deleted.extend(rel for rel in self._files if rel not in seen)
            for rel in [r for r in self._skipped if r not in seen]:
                del self._skipped[rel]
        else:
            for rel in changed:
                path = self.workspace.root / rel
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    if rel in self._files:
                        deleted.append(rel)
                    self._skipped.pop(rel, None)
                    continue
                if not self.excluded(rel):
                    self._consider(rel, str(path), st, updates, skipped)
        deleted.extend(rel for rel in skipped if rel in self._files)  # its stored copy is stale
        new_skips = {r: n for r, n in skipped.items() if self._skipped.get(r) != n}
        self.skipped_now = sorted(new_skips.items())
        if not updates and not deleted and not new_skips:
            return self.current_id
        digest = hashlib.sha256(self.current_id.encode())
        for rel in sorted(updates):
            new = updates[rel]
            digest.update(os.fsencode(f"\0{rel}\0{new.blob}\0{new.mode}"))
        for rel in sorted(deleted):
            digest.update(os.fsencode(f"\0-{rel}"))
        for rel in sorted(new_skips):
            digest.update(os.fsencode(f"\0!{rel}\0{new_skips[rel]}"))
        snapshot_id = digest.hexdigest()[:16]
        record = {
            "step": step,
            "id": snapshot_id,
            "parent": self.current_id,
            "set": {rel: [e.blob, e.mode, *e.sig] for rel, e in updates.items()},
            "del": sorted(deleted),
        }
        if new_skips:
            record["skip"] = new_skips
        self._index_log.append(record)
        self._apply(record)
        return snapshot_id

    def skipped_note(self) -> str | None:
        """For the step's observation: the files the last take() found too large to store."""
        if not self.skipped_now:
            return None
        names = ", ".join(f"{rel} ({size / 2**30:.2f} GiB)" for rel, size in self.skipped_now[:5])
        more = f" and {len(self.skipped_now) - 5} more" if len(self.skipped_now) > 5 else ""
        return (
            f"{names}{more} holds more than {self.max_file_bytes / 2**30:g} GiB of data, too "
            "much to snapshot: it stays in the workspace, but graders will not see it and a "
            "resumed run keeps it as it is. Make it smaller, or delete it."
        )

    def excluded(self, rel: str) -> bool:
        """Whether a workspace-relative path is left out of snapshots (memoised: names recur)."""
        hit = self._excluded.get(rel)
        if hit is None:
            hit = self._excluded[rel] = self._exclude(rel)
        return hit

    def _scan(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """Every non-folder entry under the workspace with its relative path (symlinks as links)."""
        stack = [(str(self.workspace.root), "")]
        while stack:
            folder, prefix = stack.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    rel = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, rel + "/"))
                    else:
                        yield rel, entry

    def _consider(
        self,
        rel: str,
        path: str,
        st: os.stat_result,
        updates: dict[str, Entry],
        skipped: dict[str, int],
    ) -> None:
        if stat.S_ISREG(st.st_mode) and data_bytes(st) > self.max_file_bytes:
            skipped[rel] = st.st_size  # never read: too large to store
            return
        self._skipped.pop(rel, None)
        old = self._files.get(rel)
        sig = _signature(st)
        now_mode = 0 if stat.S_ISLNK(st.st_mode) else stat.S_IMODE(st.st_mode)
        if old is not None and old.sig == sig and old.mode == now_mode:  # chmod keeps the mtime
            return
        if time.time_ns() - st.st_mtime_ns < self._racy_ns:
            sig = (st.st_size, -1, st.st_ino)  # never equals a real signature: rehash next time
        if stat.S_ISLNK(st.st_mode):
            blob, mode = self._store_bytes(os.fsencode(os.readlink(path))), 0
        elif stat.S_ISREG(st.st_mode):
            blob, mode = self._store_file(Path(path), st), stat.S_IMODE(st.st_mode)
        else:
            return  # folders, sockets, fifos, devices: not workspace content
        if old is None or old.blob != blob or old.mode != mode:
            updates[rel] = Entry(blob, mode, sig)
        else:
            self._files[rel] = Entry(blob, mode, sig)  # touched, same content: remember the sig

    def _blob_path(self, blob: str) -> Path:
        return self.blobs / blob[:2] / blob

    def _store_bytes(self, data: bytes) -> str:
        blob = hashlib.sha256(data).hexdigest()
        if blob not in self._known_blobs:
            target = self._blob_path(blob)
            if not target.exists():
                target.parent.mkdir(exist_ok=True)
                tmp = target.with_suffix(".tmp")
                try:
                    tmp.write_bytes(data)
                    tmp.replace(target)
                finally:
                    tmp.unlink(missing_ok=True)  # a partial blob (a full disk) never stays
            self._known_blobs.add(blob)
        return blob

    def _store_file(self, path: Path, st: os.stat_result) -> str:
        if st.st_size <= _CHUNK:
            return self._store_bytes(path.read_bytes())
        # large file: hash and copy in one pass (a sparse one by its data segments)
        tmp = self.blobs / f"incoming-{os.getpid()}.tmp"
        try:
            if is_sparse(st):
                blob = sparse_digest(path, st.st_size, tmp)
            else:
                h = hashlib.sha256()
                with path.open("rb") as src, tmp.open("wb") as dst:
                    while chunk := src.read(_CHUNK):
                        h.update(chunk)
                        dst.write(chunk)
                blob = h.hexdigest()
        except BaseException:
            tmp.unlink(missing_ok=True)  # a partial blob (a full disk) never stays
            raise
        target = self._blob_path(blob)
        if target.exists():
            tmp.unlink()
        else:
            target.parent.mkdir(exist_ok=True)
            tmp.replace(target)
        self._known_blobs.add(blob)
        return blob

    def restore(self) -> list[str]:
        """Bring the workspace back to the latest snapshot; returns the paths it changed.

        Used when a run resumes: the step that was in flight when the run was stopped may have
        half-changed files, and the agent resumes from the state after its last completed step.
        """
        changed: list[str] = []
        present: set[str] = set()
        for rel, entry in list(self._scan()):
            if self.excluded(rel):
                continue
            present.add(rel)
            want = self._files.get(rel)
            path = Path(entry.path)
            if want is None and rel in self._skipped:
                continue  # too large to snapshot: left as it is
            if want is None:
                path.unlink()
                changed.append(rel)
                continue
            st = entry.stat(follow_symlinks=False)
            mode = 0 if stat.S_ISLNK(st.st_mode) else stat.S_IMODE(st.st_mode)
            if want.sig == _signature(st) and want.mode == mode:
                continue
            same_kind = mode == want.mode and mode != 0 and stat.S_ISREG(st.st_mode)
            if same_kind and content_id(path, st) == want.blob:
                continue  # touched, content unchanged
            path.unlink()
            self._write(rel, want)
            changed.append(rel)
        for rel, want in self._files.items():
            if rel not in present:
                self._write(rel, want)
                changed.append(rel)
        # remember the restored files' signatures, so the next scan does not rehash them
        for rel in changed:
            if rel in self._files:
                st = (self.workspace.root / rel).lstat()
                e = self._files[rel]
                self._files[rel] = Entry(e.blob, e.mode, (st.st_size, -1, st.st_ino))
        return sorted(changed)

    def _write(self, rel: str, entry: Entry) -> None:
        target = self.workspace.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.mode == 0:
            os.symlink(self.blob_bytes(entry.blob).decode(), target)
        else:
            copy_file(self._blob_path(entry.blob), target)
            target.chmod(entry.mode)

    # ------------------------------------------------------------------ reading snapshots
    def current_blob(self, rel: str) -> str | None:
        """The blob of a file in the latest snapshot (None: the file was not there)."""
        entry = self._files.get(rel)
        return entry.blob if entry is not None and entry.mode != 0 else None

    def blob_bytes(self, blob: str) -> bytes:
        return self._blob_path(blob).read_bytes()

    def _apply(self, record: dict) -> None:
        for rel, (blob, mode, *sig) in record["set"].items():
            self._files[rel] = Entry(blob, mode, tuple(sig))  # type: ignore[arg-type]
            self._known_blobs.add(blob)
        for rel in record["del"]:
            self._files.pop(rel, None)
        skip = record.get("skip")
        if isinstance(skip, dict):
            self._skipped.update(skip)
        for rel in record["set"]:
            self._skipped.pop(rel, None)
        self.current_id = record["id"]

    def _records(self) -> Iterable[dict]:
        """The index's well-formed records; a damaged line is skipped with a warning."""
        for number, record in enumerate(jsonl.read(self.index), 1):
            if _well_formed(record):
                yield record
            else:
                log.warning("%s: record %d is damaged: skipped", self.index, number)

    def manifest(self, snapshot_id: str) -> dict[str, tuple[str, int]]:
        """``{relative path: (blob, mode)}`` of the workspace at that snapshot."""
        files: dict[str, tuple[str, int]] = {}
        if snapshot_id == "":
            return files
        for record in self._records():
            for rel, (blob, mode, *_sig) in record["set"].items():
                files[rel] = (blob, mode)
            for rel in record["del"]:
                files.pop(rel, None)
            if record["id"] == snapshot_id:
                return files
        raise KeyError(f"no snapshot {snapshot_id!r} in {self.index}")

    def snapshot_ids(self) -> list[tuple[int, str]]:
        """``(step, snapshot id)`` of every stored snapshot, in order."""
        return [(r["step"], r["id"]) for r in self._records()]

    def materialize(
        self,
        snapshot_id: str,
        dest: Path,
        only: Callable[[str], bool] | None = None,
        regular_only: bool = False,
    ) -> list[str]:
        """Write the workspace as it was at ``snapshot_id`` into the empty folder ``dest``.

        With ``regular_only`` (graders' inputs) symlinks are never recreated: the paths of the
        ones left out are returned (otherwise the list is empty).
        """
        dest.mkdir(parents=True, exist_ok=True)
        skipped: list[str] = []
        for rel, (blob, mode) in self.manifest(snapshot_id).items():
            if only is not None and not only(rel):
                continue
            if mode == 0 and regular_only:
                skipped.append(rel)
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if mode == 0:
                os.symlink(self._blob_path(blob).read_bytes().decode(), target)
            else:
                copy_file(self._blob_path(blob), target)
                target.chmod(mode)
        return sorted(skipped)

    def close(self) -> None:
        self._index_log.close()


class EditHistory:
    """What files held before each edit action, for Undo Edit Script.

    The old contents are already in the snapshot store (every step boundary is snapshotted),
    so an edit costs one short JSON line here, not a copy of the file.
    """

    def __init__(self, path: Path, store: SnapshotStore) -> None:
        self.store = store
        self._stacks: dict[str, list[str | None]] = {}
        for record in jsonl.read(path):
            stack = self._stacks.setdefault(record["file"], [])
            if record["op"] == "edit":
                stack.append(record["before"])
            elif stack:
                stack.pop()
        self._log = jsonl.Appender(path)

    def record(self, rel: str) -> None:
        """Remember the file's content at the last step boundary, before it is changed."""
        before = self.store.current_blob(rel)
        self._stacks.setdefault(rel, []).append(before)
        self._log.append({"op": "edit", "file": rel, "before": before})

    def undo(self, rel: str) -> bytes | None:
        """The content to restore (None: the file did not exist); KeyError if nothing to undo."""
        stack = self._stacks.get(rel)
        if not stack:
            raise KeyError(rel)
        before = stack.pop()
        self._log.append({"op": "undo", "file": rel})
        return self.store.blob_bytes(before) if before is not None else None

    def close(self) -> None:
        self._log.close()
