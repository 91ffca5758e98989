"""Run the agent's code from a grader without letting it see the answer key.

Graders of tasks whose deliverable is code (a model to load, an inference script to time)
must run that code, and they run with the answer folder mounted. A child started through
``untrusted_command`` sees the same files as the grader except that:

- every folder in ``hide`` (the answer folder, the grader's output folder) is an empty tmpfs,
  and every file in it is masked (empty or unreadable);
- the whole file system is read-only, except one scratch folder (its TMPDIR);
- it has no network and its own user namespace; the GPU devices the grader sees stay visible.

That takes a nested bubblewrap, which works inside the harness's bwrap sandbox (and on a
plain host with unprivileged user namespaces). Where it does not work (the `process`
sandbox, a container runtime without user namespaces) the child runs unhidden and
``Untrusted.hidden`` is False: graders report it as the metric ``answers_hidden`` (1 or 0), so
that results obtained without the protection can be told apart.

Feed the child its inputs through a pipe after it has started (stdin), never as files in a
hidden folder; ``mlab_channel`` frames messages over such pipes, bounded in time and size.
Used by graders from the task's scripts/eval.py; the harness mounts this folder read-only and
puts it on the grader's PYTHONPATH.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Untrusted:
    """The command to start, and whether the hidden folders are really hidden from it."""

    argv: list[str]
    env: dict[str, str]
    hidden: bool


@functools.cache
def _nested_bwrap() -> str | None:
    """The bwrap binary if a nested, unprivileged sandbox can be made here, else None."""
    exe = shutil.which("bwrap")
    if exe is None:
        return None
    try:
        probe = subprocess.run(
            [exe, *_BASE, "--", "true"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if probe.returncode == 0 else None


_BASE = [
    "--unshare-user",
    "--unshare-ipc",
    "--unshare-net",
    "--unshare-uts",
    "--unshare-pid",  # its PID namespace, killed as a whole when the command ends
    "--die-with-parent",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
]


def _not_dumpable() -> None:
    """Make this (the grader's) process non-dumpable: its /proc/<pid>/mem, environ and maps
    become unreadable to the child, which shares the grader's user id but not its namespace
    (the grader may hold the answer key in memory). No-op where prctl is unavailable."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def untrusted_command(
    argv: Sequence[str], *, hide: Sequence[Path], scratch: Path, cwd: Path | None = None
) -> Untrusted:
    """How to start ``argv`` so that it cannot read ``hide`` nor write anywhere but ``scratch``.

    ``scratch`` is created; it must not be inside a hidden folder. The caller passes
    ``Untrusted.env`` as the child's environment (TMPDIR points at ``scratch``).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    _not_dumpable()
    env = {**os.environ, "TMPDIR": str(scratch)}
    exe = _nested_bwrap()
    if exe is None:
        return Untrusted(list(argv), env, hidden=False)
    cmd = [exe, *_BASE]
    for device in sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri/*")):
        cmd += ["--dev-bind", device, device]  # the GPUs the grader was given, if any
    if Path("/proc/self").exists():
        cmd += ["--ro-bind", "/proc", "/proc"]
    for path in hide:
        target = str(Path(path).resolve())
        cmd += ["--ro-bind", "/dev/null", target] if Path(path).is_file() else ["--tmpfs", target]
    cmd += ["--bind", str(scratch.resolve()), str(scratch.resolve())]
    if cwd is not None:
        cmd += ["--chdir", str(Path(cwd).resolve())]
    return Untrusted([*cmd, "--", *argv], env, hidden=True)
