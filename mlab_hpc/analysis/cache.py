"""A compacted copy of the result tables, refreshed incrementally, for fast analysis.

Every run writes one small Parquet file per table; DuckDB spends about a quarter of a
millisecond opening each, so 10,000 runs cost seconds per query before any work is done. The
cache keeps, for each partition folder (``campaign=<c>/task=<t>``) of each table, a few larger
Parquet files ("chunks") holding the rows of its run files, with each source file's
``(size, mtime_ns, inode)`` in a manifest. A refresh lists the source files (cheap), keeps the
chunks whose sources are unchanged, rebuilds the chunks of a partition where a file changed or
vanished, and writes one new chunk for the files that appeared. It is a cache: deleting it
(``<results>/.analysis-cache``) is always safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from ..paths import TABLES, ResultsRoot

CACHE_FORMAT = 2
RACY_NS = 2 * 10**9  # folder mtimes this close to a check may hide a later change
MAX_CHUNKS_PER_PARTITION = 4
NOTICE_FILES = 500  # compacting this many files takes long enough to say so

Signature = tuple[int, int, int]


def sql_string(value: object) -> str:
    """A SQL string literal of ``str(value)``."""
    return "'" + str(value).replace("'", "''") + "'"


def default_cache_dir(results: Path) -> Path:
    """<results>/.analysis-cache where it can be written, else a per-user cache folder."""
    env = os.environ.get("MLAB_ANALYSIS_CACHE")
    if env:
        return Path(env)
    preferred = results / ".analysis-cache"
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        probe = preferred / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return preferred
    except OSError:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        key = hashlib.sha256(str(results.resolve()).encode()).hexdigest()[:16]
        return Path(base) / "mlab-hpc" / "analysis" / key


def warn(message: str) -> None:
    """Where skipped files are reported when the caller gave no notice function."""
    print(f"warning: {message}", file=sys.stderr)


def readable(files: list[str], notice: Callable[[str], None] | None = None) -> list[str]:
    """The files whose Parquet footer reads; each other one is named in a warning and left out.

    A truncated or half-copied file (a full disk, an interrupted rsync) must not stop every
    query over the results root: its rows are missing, and the warning says which file.
    """
    import pyarrow.parquet as pq

    good = []
    for file in files:
        try:
            pq.read_metadata(file)
        except Exception as exc:  # noqa: BLE001  (pyarrow raises several kinds)
            (notice or warn)(
                f"skipped unreadable table file {file} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else 'unreadable'}); "
                "delete it or re-run `mlab-hpc recover` for its run"
            )
            continue
        good.append(file)
    return good


def scan_sources(
    table_dir: Path, trusted: dict[str, tuple[int, dict[str, Signature]]] | None = None
) -> tuple[dict[str, Signature], dict[str, int]]:
    """Every ``*.parquet`` under a table's folder, and each folder's mtime.

    Returns ``{relative path: (size, mtime_ns, inode)}`` and ``{folder: mtime_ns}``. A folder in
    ``trusted`` (``{folder: (mtime_ns, signatures)}``) whose mtime is unchanged keeps its
    files' recorded signatures without a stat each: a file is only ever replaced by a rename
    into its folder (mlab_hpc.tables writes so), which changes the folder's mtime.
    """
    found: dict[str, Signature] = {}
    folders: dict[str, int] = {}
    if not table_dir.is_dir():
        return found, folders
    stack = [(str(table_dir), "")]
    while stack:
        folder, prefix = stack.pop()
        part = prefix.rstrip("/")
        mtime = os.stat(folder).st_mtime_ns
        folders[part] = mtime
        known = trusted.get(part) if trusted else None
        same = known[1] if known is not None and known[0] == mtime else None
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # writers' temporary files
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, rel + "/"))
                elif entry.name.endswith(".parquet"):
                    if same is not None and rel in same:
                        found[rel] = same[rel]
                    else:
                        st = entry.stat()
                        found[rel] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return found, folders


def _partition(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


class TableCache:
    """The compacted copies of one results root's tables."""

    def __init__(
        self,
        results: Path,
        directory: Path | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.results = results
        self.dir = directory or default_cache_dir(results)
        self.notice = notice

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _manifest_path(self, table: str) -> Path:
        return self.dir / f"{table}.json"

    def _load(self, table: str) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
        """The table's chunks and the folder mtimes recorded with them."""
        path = self._manifest_path(table)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return [], {}
        if data.get("format") != CACHE_FORMAT:
            return [], {}
        chunks = data.get("chunks", [])
        if not all((self.dir / c["file"]).is_file() for c in chunks):
            return [], {}  # someone removed chunk files: start again
        return chunks, data.get("folders", {})

    def _save(
        self, table: str, chunks: list[dict[str, Any]], folders: dict[str, list[int]]
    ) -> None:
        path = self._manifest_path(table)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "chunks": chunks, "folders": folders}))
        tmp.replace(path)

    def _write_chunk(self, con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> str:
        name = f"{table}-{secrets.token_hex(6)}.parquet"
        tmp = self.dir / f".{name}.tmp"
        con.execute(
            f"COPY (SELECT * FROM read_parquet(?, union_by_name = true)) TO {sql_string(tmp)} "
            "(FORMAT parquet, COMPRESSION zstd)",
            [files],
        )
        tmp.replace(self.dir / name)
        return name

    def refresh(self, table: str) -> list[str]:
        """Bring the table's chunks up to date; returns their paths (empty: no rows)."""
        table_dir = ResultsRoot(self.results).table_dir(table)
        with self._locked():
            old, old_folders = self._load(table)
            trusted: dict[str, tuple[int, dict[str, Signature]]] = {}
            for part, (mtime, checked) in old_folders.items():
                if checked - mtime > RACY_NS:
                    sigs = {
                        rel: tuple(sig)
                        for c in old
                        if c["partition"] == part
                        for rel, sig in c["sources"].items()
                    }
                    trusted[part] = (mtime, sigs)  # type: ignore[assignment]
            checked_ns = time.time_ns()
            current, folder_mtimes = scan_sources(table_dir, trusted)
            folders = {  # a folder trusted and unchanged keeps the time it was last checked
                part: old_folders[part]
                if part in trusted and trusted[part][0] == mtime
                else [mtime, checked_ns]
                for part, mtime in folder_mtimes.items()
            }
            by_partition: dict[str, list[dict[str, Any]]] = {}
            for chunk in old:
                by_partition.setdefault(chunk["partition"], []).append(chunk)
            wanted: dict[str, dict[str, Signature]] = {}
            for rel, sig in current.items():
                wanted.setdefault(_partition(rel), {})[rel] = sig

            kept: list[dict[str, Any]] = []
            dropped: list[str] = []
            con: duckdb.DuckDBPyConnection | None = None
            for part in sorted(set(by_partition) | set(wanted)):
                chunks = by_partition.get(part, [])
                sources = wanted.get(part, {})
                covered = {rel for c in chunks for rel in c["sources"]}
                intact = all(
                    sources.get(rel) == tuple(sig)
                    for c in chunks
                    for rel, sig in c["sources"].items()
                )
                if not intact:  # a file changed or vanished: this partition is rebuilt
                    dropped += [c["file"] for c in chunks]
                    chunks, covered = [], set()
                new = {rel: sig for rel, sig in sources.items() if rel not in covered}
                ok = set(readable([str(table_dir / rel) for rel in sorted(new)], self.notice))
                new = {rel: sig for rel, sig in new.items() if str(table_dir / rel) in ok}
                if new:
                    inputs = [str(table_dir / rel) for rel in sorted(new)]
                    if len(chunks) + 1 > MAX_CHUNKS_PER_PARTITION:
                        # merge the partition's chunks and the new files into one chunk
                        inputs = [str(self.dir / c["file"]) for c in chunks] + inputs
                        new = {rel: sig for c in chunks for rel, sig in c["sources"].items()} | new
                        dropped += [c["file"] for c in chunks]
                        chunks = []
                    if self.notice is not None and len(inputs) >= NOTICE_FILES:
                        self.notice(
                            f"compacting {len(inputs)} files of {table}/{part} into the "
                            f"analysis cache {self.dir} (once; later runs add to it)"
                        )
                    con = con or duckdb.connect()
                    name = self._write_chunk(con, table, inputs)
                    chunks = [*chunks, {"file": name, "partition": part, "sources": new}]
                kept += chunks
            if con is not None:
                con.close()
            if dropped or kept != old or folders != old_folders:
                self._save(table, kept, folders)
            for name in dropped:
                with contextlib.suppress(FileNotFoundError):
                    (self.dir / name).unlink()
            return [str(self.dir / c["file"]) for c in kept]

    def refresh_all(self) -> dict[str, list[str]]:
        """Every table's chunks, refreshed."""
        return {table: self.refresh(table) for table in TABLES}
