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
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


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


@dataclass(frozen=True)
class Captured:
    """How a child ended and the start of what it printed."""

    returncode: int | None  # None: still running at the timeout, and killed
    stdout: str
    stderr: str
    overflow: bool  # it printed more than was kept (on either stream)


def _drain(stream: IO[bytes], kept: bytearray, max_bytes: int, overflow: list[bool]) -> None:
    """Read `stream` to its end, keeping its first `max_bytes` bytes in `kept`."""
    while chunk := stream.read1(1 << 16):
        room = max_bytes - len(kept)
        kept += chunk[: max(room, 0)]
        if len(chunk) > room:
            overflow[0] = True
    stream.close()


def run_captured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout_s: float,
    max_bytes: int = 1 << 20,
) -> Captured:
    """Run the child ``argv`` to its end, or kill it after ``timeout_s``; keep what it prints.

    At most ``max_bytes`` of each of stdout and stderr are kept (their beginning); the rest is
    read and dropped, and ``overflow`` says so: a child that prints without end cannot exhaust
    the grader's memory (``subprocess.run(capture_output=True)`` keeps everything). Stdin is
    empty. A grader that judges the output (a compiler's errors) must treat ``overflow`` as a
    failure: the part that was dropped is the part it did not read.
    """
    child = subprocess.Popen(
        list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    kept = (bytearray(), bytearray())
    overflow = [False]
    readers = [
        threading.Thread(target=_drain, args=(stream, buffer, max_bytes, overflow), daemon=True)
        for stream, buffer in zip((child.stdout, child.stderr), kept, strict=True)
    ]
    for reader in readers:
        reader.start()
    try:
        returncode: int | None = child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        returncode = None
    for reader in readers:
        reader.join(timeout=5)  # a helper outside a PID namespace may hold a pipe open
    out, err = (bytes(buffer).decode("utf-8", "replace") for buffer in kept)
    return Captured(returncode, out, err, overflow[0])
