"""The agent's workspace: a folder of its own, with path confinement and read-only files.

Every path the agent names goes through :meth:`Workspace.resolve`, which follows symlinks and
refuses anything that lands outside the folder. Read-only globs are matched against the
*normalised* path after symlinks are followed, so ``./train.csv``, ``a/../train.csv`` and a
symlink to ``train.csv`` are all the same protected file.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from .errors import PrerequisiteError


def glob_match(rel: str, globs: Sequence[str]) -> bool:
    """Whether a workspace-relative POSIX path matches one of the globs.

    ``*`` may cross folders (fnmatch); a leading ``**/`` also matches at the top level, and a
    leading ``./`` is ignored, so ``./train.csv`` and ``train.csv`` are the same pattern.
    """
    for g in globs:
        g = g.removeprefix("./")
        if fnmatch.fnmatchcase(rel, g) or (g.startswith("**/") and fnmatch.fnmatchcase(rel, g[3:])):
            return True
    return False


LINK_MIN_BYTES = 1 << 20  # protected data files at least this large may be hard-linked
# The agent's files may use this many bytes of disk (allocated blocks: a sparse file counts for
# what it holds). Set per run with MLAB_WORKSPACE_QUOTA_GB; the task's read-only data is free.
DEFAULT_QUOTA_GB = 100.0


def default_quota_bytes() -> int:
    """The workspace quota from MLAB_WORKSPACE_QUOTA_GB (default 100 GB)."""
    raw = os.environ.get("MLAB_WORKSPACE_QUOTA_GB", "")
    try:
        gb = float(raw) if raw else DEFAULT_QUOTA_GB
    except ValueError:
        gb = DEFAULT_QUOTA_GB
    return int(gb * 2**30) if gb > 0 and gb == gb else int(DEFAULT_QUOTA_GB * 2**30)


def _hard_link(src: Path, dest: Path) -> bool:
    """Hard-link ``dest`` to ``src``; False where the filesystem cannot (then copy)."""
    try:
        os.link(src, dest)
    except OSError:
        return False
    return True


class WorkspaceError(Exception):
    """An agent-supplied path that cannot be used; ``kind`` goes into the trace."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Workspace:
    """A workspace folder and its read-only rules."""

    def __init__(self, root: Path, read_only: Sequence[str] = ()) -> None:
        self.root = Path(root).resolve()
        # "data/" and "data" mean the same folder
        self.read_only_globs = tuple(g.rstrip("/") for g in read_only if g.rstrip("/"))
        self._mounts: list[Path] | None = None
        self.quota_bytes = default_quota_bytes()

    @classmethod
    def create(
        cls,
        root: Path,
        env_dir: Path,
        data_dir: Path | None,
        read_only: Sequence[str],
        *,
        link_protected_data: bool = False,
    ) -> Workspace:
        """Lay out a new workspace: the task's env/ files, then the public data files.

        Data files are copied, so nothing the agent's scripts do can reach the prepared data;
        read-only files are made 0444 as a second line of defence. With
        ``link_protected_data`` (for sandboxes that bind protected files read-only, where a
        script cannot write them), large protected files are hard-linked instead when the data
        root is on the same filesystem: a run of a task with hundreds of GB of data then costs
        no copy. Small or unprotected files are always copied.
        """
        root.mkdir(parents=True, exist_ok=False)
        try:
            shutil.copytree(env_dir, root, dirs_exist_ok=True, symlinks=False)
        except shutil.Error as exc:  # one (src, dst, why) per file that failed
            src, _dst, why = exc.args[0][0]
            raise PrerequisiteError(
                f"the task's files in {env_dir} cannot be copied: {src}: {why}; "
                "fix or remove that file in the task folder"
            ) from None
        except OSError as exc:
            raise PrerequisiteError(
                f"the task's files in {env_dir} cannot be copied: {exc}; fix the task folder"
            ) from None
        ws = cls(root, read_only)
        if data_dir is not None:
            for src in sorted(data_dir.rglob("*")):
                rel = src.relative_to(data_dir)
                dest = root / rel
                if src.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                if (
                    link_protected_data
                    and src.stat().st_size >= LINK_MIN_BYTES
                    and ws.is_read_only_rel(rel.as_posix())
                    and _hard_link(src, dest)
                ):
                    continue
                shutil.copy2(src, dest)
        for path in ws.read_only_files():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return ws

    def resolve(self, name: str, *, must_exist: bool = False) -> Path:
        """The host path of a workspace path the agent gave; WorkspaceError if it escapes."""
        if not isinstance(name, str) or not name.strip():
            raise WorkspaceError("bad_arguments", "the file name is empty")
        if "\x00" in name:
            raise WorkspaceError("bad_arguments", "the file name contains a NUL byte")
        raw = Path(name.strip())
        candidate = raw if raw.is_absolute() else self.root / raw
        try:
            resolved = candidate.resolve(strict=False)
        except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError before 3.13)
            raise WorkspaceError("bad_arguments", f"'{name}' cannot be resolved: {exc}") from None
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise WorkspaceError(
                "path_escape",
                f"'{name}' is outside the workspace: only files inside the current directory "
                "can be used",
            )
        if must_exist and not resolved.exists():
            raise WorkspaceError("not_found", f"'{name}' does not exist in the workspace")
        return resolved

    def relative(self, path: Path) -> str:
        """The workspace-relative POSIX path of a resolved host path ('.' for the root)."""
        rel = path.relative_to(self.root).as_posix()
        return rel or "."

    def is_read_only(self, path: Path) -> bool:
        """Whether a resolved path is protected (itself or a folder above it matches a glob)."""
        if path == self.root:
            return False
        return self.is_read_only_rel(self.relative(path))

    def is_read_only_rel(self, rel: str) -> bool:
        """Whether a normalised workspace-relative path is protected (no symlinks followed)."""
        if not self.read_only_globs:
            return False
        p = PurePosixPath(rel)
        candidates = [rel, *(str(q) for q in p.parents if str(q) != ".")]
        return any(glob_match(c, self.read_only_globs) for c in candidates)

    def check_writable(self, path: Path, name: str) -> None:
        """Raise WorkspaceError(kind='read_only') when the agent may not change ``path``."""
        if self.is_read_only(path):
            raise WorkspaceError(
                "read_only", f"'{name}' is read-only: it cannot be changed, overwritten or deleted"
            )

    def files(self) -> Iterator[Path]:
        """Every regular file and symlink under the workspace (not following symlinked folders)."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            base = Path(dirpath)
            for d in list(dirnames):
                if (base / d).is_symlink():
                    dirnames.remove(d)
                    yield base / d
            for f in filenames:
                yield base / f

    def read_only_files(self) -> list[Path]:
        """Existing files that read-only globs protect."""
        if not self.read_only_globs:
            return []
        return [p for p in self.files() if not p.is_symlink() and self.is_read_only(p)]

    def usage(self) -> tuple[int, list[tuple[int, str]]]:
        """Allocated bytes of the agent's files (read-only data excluded), and the largest ten
        as ``(bytes, relative path)``. Symlinks are not followed."""
        total = 0
        largest: list[tuple[int, str]] = []
        stack = [(str(self.root), "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                rel = prefix + entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if not self.covers_folder(rel):
                        stack.append((entry.path, rel + "/"))
                    continue
                if self.read_only_globs and self.is_read_only_rel(rel):
                    continue
                used = st.st_blocks * 512
                total += used
                largest.append((used, rel))
                if len(largest) > 50:
                    largest = sorted(largest, reverse=True)[:10]
        return total, sorted(largest, reverse=True)[:10]

    def used_bytes(self) -> int:
        """Allocated bytes of the agent's files (see usage)."""
        return self.usage()[0]

    def over_quota(self) -> str | None:
        """None within the quota; else a message for the agent naming the largest files."""
        used, largest = self.usage()
        if used <= self.quota_bytes:
            return None
        names = ", ".join(f"{rel} ({size / 2**20:.0f} MiB)" for size, rel in largest[:5])
        return (
            f"the workspace now uses {used / 2**20:.0f} MiB of disk, over its quota of "
            f"{self.quota_bytes / 2**20:.0f} MiB. Largest files: {names}. Delete or shrink "
            "files before going on: snapshots of the workspace are kept for grading."
        )

    def covers_folder(self, rel: str) -> bool:
        """Whether the globs protect a folder's every entry (``images/*`` covers ``images``).

        Such a folder is bound whole: one mount instead of one per file.
        """
        return self.is_read_only_rel(rel) or glob_match(f"{rel}/*", self.read_only_globs)

    def read_only_mounts(self) -> list[Path]:
        """The top-most protected files and folders, to bind read-only in isolating sandboxes.

        A protected folder, or one whose every entry a glob protects, is bound whole, so a
        script cannot add files inside it either. Computed once per Workspace object (once per
        run attempt): the protected files are the task's, laid out before the agent starts,
        and the agent cannot add any (writes to protected paths are refused).
        """
        if self._mounts is None:
            self._mounts = self._find_read_only_mounts()
        return [p for p in self._mounts if os.path.lexists(p)]

    def _find_read_only_mounts(self) -> list[Path]:
        if not self.read_only_globs:
            return []
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            base = Path(dirpath)
            for d in list(dirnames):
                rel = self.relative(base / d)
                if (base / d).is_symlink():
                    dirnames.remove(d)
                elif self.covers_folder(rel):
                    found.append(base / d)
                    dirnames.remove(d)
            for f in filenames:
                path = base / f
                if not path.is_symlink() and self.is_read_only_rel(self.relative(path)):
                    found.append(path)
        return found
