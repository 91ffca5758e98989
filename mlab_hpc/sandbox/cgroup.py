"""A memory cap on a command's whole process tree: a memory cgroup of its own.

RLIMIT_AS caps each process; a cgroup caps all of a command's processes together (what Slurm's
cgroup does for a whole job). One is made per command, under this process's own memory cgroup,
where this process may write there: cgroup v1 (``/sys/fs/cgroup/memory/...``, as root) or a
delegated cgroup v2 subtree whose ``cgroup.subtree_control`` enables ``memory``. Elsewhere
(:meth:`MemoryCgroup.create` returns None) only the per-process cap holds.

The command enters its cgroup before it execs (the child writes its own pid), so every process
it starts is inside from the first byte; going over the cap gets them OOM-killed by the kernel.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import time
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_warned: list[bool] = []


def _own_paths() -> tuple[str | None, str | None]:
    """This process's cgroup v2 path and its cgroup v1 memory path (None where absent)."""
    v2 = v1 = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _candidates() -> list[tuple[Path, str]]:
    """Folders a command's cgroup may be made in, with their version ('v1' | 'v2')."""
    v2, v1 = _own_paths()
    found: list[tuple[Path, str]] = []
    if v1 is not None:
        found.append((CGROUP_ROOT / "memory" / v1.lstrip("/"), "v1"))
    if v2 is not None:
        for mount in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
            parent = mount / v2.lstrip("/")
            try:
                control = (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            if "memory" in control:
                found.append((parent, "v2"))
    return found


class MemoryCgroup:
    """One command's memory cgroup; :meth:`remove` it when the command has ended."""

    def __init__(self, path: Path, version: str, limit_bytes: int) -> None:
        self.path = path
        self.version = version
        self.limit_bytes = limit_bytes

    @classmethod
    def create(cls, limit_bytes: int) -> MemoryCgroup | None:
        """A new cgroup capped at ``limit_bytes``; None where this machine offers none."""
        for parent, version in _candidates():
            path = parent / f"mlab-{os.getpid()}-{secrets.token_hex(3)}"
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                if version == "v1":
                    (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                    swap = path / "memory.memsw.limit_in_bytes"  # no escape into swap
                    if swap.exists():
                        swap.write_text(str(limit_bytes))
                else:
                    (path / "memory.max").write_text(str(limit_bytes))
                    (path / "memory.swap.max").write_text("0")
            except OSError:
                _rmdir(path)
                continue
            return cls(path, version, limit_bytes)
        return None

    @staticmethod
    def warn_unavailable() -> None:
        """Say once per process that a whole-sandbox cap was asked for and cannot be had."""
        if not _warned:
            _warned.append(True)
            log.warning(
                "MLAB_SANDBOX_CGROUP: no memory cgroup can be made here (needs cgroup v1 as "
                "root or a delegated cgroup v2 subtree): only the per-process cap holds"
            )

    def enter(self) -> None:
        """Move the calling process in (called in the command's child, before exec)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for going over the cap."""
        try:
            if self.version == "v1":
                control = (self.path / "memory.oom_control").read_text()
                kills = [ln for ln in control.splitlines() if ln.startswith("oom_kill ")]
                if kills:
                    return int(kills[0].split()[1]) > 0
                return int((self.path / "memory.failcnt").read_text()) > 0
            for line in (self.path / "memory.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
        except (OSError, ValueError):
            pass
        return False

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (waits up to 5 s for them)."""
        _rmdir(self.path)


def _rmdir(path: Path) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                return  # left behind: an empty cgroup costs nothing, and is easy to find
            time.sleep(0.05)
